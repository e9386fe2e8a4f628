"""NEP training speed: neppo (interforge's default backend) against torchnep, same run.

One fixed dataset (tests/data/nep/teacher_set.extxyz: 60 CHGNet-labelled Li–Zr–Cl–O cells,
hash split 80/20), one architecture (the ``small`` preset: nep4_zbl, 5/4 Å, n_max 4 4,
basis 6 6, l_max 4 2 0, 20 neurons), batch 8, AdamW, the same number of epochs, one CPU thread
(CUDA when present). neppo trains with the preset's learning rates, as interforge does; torchnep with
its own default schedule (lr 0.01 on a plateau scheduler; ``BENCH_NEP_TORCHNEP_LR`` sets another start).
Reported per backend: seconds per epoch, wall time to a test force RMSE = (first epoch whose test RMSE is
below it) x (seconds per epoch, evaluation included), for two targets: half the zero-force baseline, and
the equal-RMSE target (the higher of the two backends' final test RMSEs, which both reach). Ratios are
torchnep / neppo.

torchnep is GPL-3.0 and is not an interforge dependency. Install it only for this benchmark, e.g.
``pip install --target /tmp/torchnep-env torchnep==1.0.7`` and run with
``PYTHONPATH=/tmp/torchnep-env .venv/bin/python -m bench nep``.
"""

from __future__ import annotations

import contextlib
import os
import tempfile
import time
import warnings
from pathlib import Path

import numpy as np

DATA = Path(__file__).resolve().parents[1] / "tests" / "data" / "nep" / "teacher_set.extxyz"
EPOCHS = int(os.environ.get("BENCH_NEP_EPOCHS", "150"))
TORCHNEP_LR = float(os.environ.get("BENCH_NEP_TORCHNEP_LR", "0.01"))  # torchnep's own default
BATCH = 8


def _dataset():
    from ase.io import read

    from interforge.nep.committee import split_train_test

    frames = read(DATA, ":")
    train, test = split_train_test(frames, 0.2)
    f = np.concatenate([a.get_forces().ravel() for a in test])
    return train, test, float(np.sqrt(np.mean(f**2)))


def _first_epoch_below(rmse_per_epoch: list[float], target: float) -> int | None:
    for k, r in enumerate(rmse_per_epoch, 1):
        if r <= target:
            return k
    return None


def run_neppo(train, test, device):
    import torch

    from interforge.config.nep import NepSection, resolve_preset
    from interforge.nep.backends import NeppoBackend

    torch.manual_seed(1)
    s = resolve_preset(NepSection(preset="small"))
    b = NeppoBackend()
    from neppo import StructureContainer, Trainer

    from interforge.nep.backends import species_of

    model = b.build_model(s, species_of(train + test))
    trc, tec = StructureContainer(model, train), StructureContainer(model, test)
    trainer = Trainer(model, b.loss(s), trc, tec, batch_size=BATCH, learning_rate=tuple(s.learning_rate),
                      device=device, seed=1)
    n_batches = len(trainer._batches)  # steps per epoch
    t0 = time.perf_counter()
    trainer.train(steps=EPOCHS * n_batches, report_interval=n_batches)
    wall = time.perf_counter() - t0
    rmse = [float(r) for r in trainer.history["rmse_forces_test"]]
    return wall / EPOCHS, rmse


def run_torchnep(train, test, device, workdir: Path):
    import torch
    import torchnep

    from interforge.config.nep import NepSection, resolve_preset
    from interforge.data import write_gpumd_xyz
    from interforge.nep.backends import species_of

    s = resolve_preset(NepSection(preset="small"))
    types = species_of(train + test)
    frames = (lambda st: [(a, a.get_potential_energy(), a.get_forces(), a.get_stress()) for a in st])
    write_gpumd_xyz(frames(train), workdir / "train.xyz")
    write_gpumd_xyz(frames(test), workdir / "test.xyz")
    (workdir / "nep.in").write_text("\n".join([
        f"type {len(types)} {' '.join(types)}", f"zbl {s.zbl:g}", f"cutoff {s.cutoff[0]:g} {s.cutoff[1]:g}",
        f"n_max {s.n_max[0]} {s.n_max[1]}", f"basis_size {s.basis_size[0]} {s.basis_size[1]}",
        f"l_max {' '.join(map(str, s.l_max))}", f"neuron {s.neuron}", f"epoch {EPOCHS}", f"batch {BATCH}",
        f"lr {TORCHNEP_LR:g}", f"stop_lr {s.learning_rate[1]:g}",
        f"lambda_e {s.lambda_e:g}", f"lambda_f {s.lambda_f:g}", f"lambda_v {s.lambda_v:g}"]) + "\n")
    torch.manual_seed(1)
    t0 = time.perf_counter()
    # torchnep prints its progress; keep it in a log file, not on the benchmark's output.
    with open(workdir / "torchnep.log", "w") as logf, contextlib.redirect_stdout(logf):
        torchnep.train_nep(str(workdir / "nep.in"), str(workdir / "train.xyz"), output_dir=str(workdir / "out"),
                           device=device, valid_file=str(workdir / "test.xyz"), run_seed=1,
                           prediction_interval=0, print_interval=10**6)
    wall = time.perf_counter() - t0
    rows = np.loadtxt(workdir / "out" / "loss.out", comments="#", ndmin=2)
    # columns: epoch loss rmse_e rmse_f rmse_v rmse_stress rmse_e_test rmse_f_test ...
    return wall / EPOCHS, [float(r) for r in rows[:, 7]]


def main() -> None:
    import torch

    torch.set_num_threads(1)
    warnings.simplefilter("ignore")
    device = "cuda" if torch.cuda.is_available() else "cpu"
    train, test, baseline = _dataset()
    target = 0.5 * baseline
    from interforge.config.nep import NepSection, resolve_preset

    lr = resolve_preset(NepSection(preset="small")).learning_rate
    print(f"dataset: {len(train)} train / {len(test)} test structures; device {device}; {EPOCHS} epochs, batch {BATCH}")
    print(f"learning rate: neppo {lr[0]:g} → {lr[1]:g} (cosine, the small preset's); torchnep {TORCHNEP_LR:g} → "
          f"{lr[1]:g} (its plateau scheduler)")
    print(f"target test force RMSE: {target * 1000:.0f} meV/Å (half the zero-force baseline {baseline * 1000:.0f})")
    results = {}
    spe, rmse = run_neppo(train, test, device)
    results["neppo"] = (spe, rmse)
    try:
        import torchnep  # noqa: F401
    except ImportError:
        print("torchnep is not installed: `pip install torchnep==1.0.7` (GPL-3.0, benchmark only; e.g. "
              "--target /tmp/torchnep-env and PYTHONPATH=/tmp/torchnep-env). Showing neppo alone.")
    else:
        with tempfile.TemporaryDirectory() as tmp:
            results["torchnep"] = run_torchnep(train, test, device, Path(tmp))
    finals = [rmse[-1] for _, rmse in results.values()]
    equal = max(finals)
    print(f"equal-RMSE target: {equal * 1000:.0f} meV/Å (the higher final test force RMSE)")
    print(f"{'backend':10s} {'s/epoch':>9s} {'epochs→target':>14s} {'s→target':>9s} {'epochs→equal':>13s} "
          f"{'s→equal':>8s} {'final F_test meV/Å':>19s}")
    to_target, to_equal = {}, {}
    for name, (spe, rmse) in results.items():
        k, q = _first_epoch_below(rmse, target), _first_epoch_below(rmse, equal)
        to_target[name] = k * spe if k else float("nan")
        to_equal[name] = q * spe if q else float("nan")
        print(f"{name:10s} {spe:9.3f} {str(k) if k else 'not reached':>14s} {to_target[name]:9.2f} "
              f"{str(q) if q else 'not reached':>13s} {to_equal[name]:8.2f} {rmse[-1] * 1000:19.0f}")
    if "torchnep" in results:
        r_epoch = results["torchnep"][0] / results["neppo"][0]
        ratio = (lambda d: f"{d['torchnep'] / d['neppo']:.2f}x" if np.isfinite(d["torchnep"] / d["neppo"]) else "n/a")
        print(f"ratio torchnep/neppo: time per epoch {r_epoch:.2f}x, wall time to target {ratio(to_target)}, "
              f"to equal RMSE {ratio(to_equal)} (>1 means neppo is faster)")


if __name__ == "__main__":
    main()
