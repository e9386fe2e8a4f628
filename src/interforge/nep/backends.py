"""Training backends behind one interface: neppo (default; CPU, CUDA when present) and GPUMD's
``nep`` executable (when on PATH).

Each backend trains one model in ``out_dir`` and returns a :class:`BackendResult`: the written
``out_dir/nep.txt``, the loss history (RMSE in eV/atom, eV/Å, eV/atom per report) and the
trainer's own predictions on the test structures (per-atom energy eV/atom, forces eV/Å), which
the acceptance tests compare against calorine's evaluation of the written file.
Raw trainer outputs (loss.out, ``*_train.out``, ``*_test.out``) stay in ``out_dir/run/``.
"""

from __future__ import annotations

import copy
import logging
import os
import shutil
import subprocess
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Protocol, Sequence

import numpy as np
from ase import Atoms

from interforge.config.nep import NepSection
from interforge.errors import InterforgeError
from interforge.fileio import atomic_path, atomic_write_text
from interforge.nep.modelfile import validate_nep_file, write_nep

log = logging.getLogger(__name__)

HISTORY_KEYS = ("rmse_energy_train", "rmse_forces_train", "rmse_virial_train",
                "rmse_energy_test", "rmse_forces_test", "rmse_virial_test")


class TrainingError(InterforgeError):
    """A training backend failed or is unavailable."""


@dataclass
class BackendResult:
    """What a backend hands back. RMSE values in the history: eV/atom, eV/Å, eV/atom."""

    nep_path: str
    backend: str
    steps: int
    wall_s: float
    history: list[dict[str, float]] = field(default_factory=list)
    test_energy_per_atom: np.ndarray | None = None  # trainer's own predictions, eV/atom
    test_forces: list[np.ndarray] | None = None  # eV/Å, one (N_s,3) array per test structure


class Backend(Protocol):
    name: str

    def available(self) -> bool: ...

    def train(self, train: Sequence[Atoms], test: Sequence[Atoms], settings: NepSection, out_dir: Path,
              seed: int, init_model: str | os.PathLike | None = None) -> BackendResult: ...


def species_of(structures: Sequence[Atoms]) -> list[str]:
    """Species in order of first appearance (the type order written to nep.txt)."""
    seen: dict[str, None] = {}
    for a in structures:
        for s in a.get_chemical_symbols():
            seen.setdefault(s, None)
    return list(seen)


# --------------------------------------------------------------------------------- neppo
class NeppoBackend:
    """neppo: gradient-descent (AdamW) NEP4 training in PyTorch, CPU or CUDA.

    ``generation`` is the number of optimiser steps (one batch each); ``batch = 0`` is the
    full batch (then one step = one epoch). Restart/fine-tune: the initial model is read from
    ``init_model`` (its architecture and q_scaler are kept; the data's species must be in it).
    """

    name = "neppo"

    def available(self) -> bool:
        try:
            import neppo  # noqa: F401
        except ImportError:
            return False
        return True

    def build_model(self, settings: NepSection, types: list[str], init_model=None):
        import torch
        from neppo import read_model
        from neppo.models import NEP, ZBL, Descriptor

        dtype = torch.float64 if settings.precision == "float64" else torch.float32
        if init_model is not None:
            validate_nep_file(init_model)
            model = read_model(str(init_model), dtype=dtype)
            missing = sorted(set(types) - set(model.types))
            if missing:
                raise TrainingError(f"{init_model}: cannot fine-tune, the data hold species {missing} "
                                    f"that the model lacks (it has {' '.join(model.types)})")
            return model
        l3, l4, l5 = settings.l_max
        desc = Descriptor(
            types, radial_cutoff=settings.cutoff[0], angular_cutoff=settings.cutoff[1],
            n_max_radial=settings.n_max[0], n_max_angular=settings.n_max[1],
            n_basis_radial=settings.basis_size[0], n_basis_angular=settings.basis_size[1],
            l_max_3b=l3, l_max_4b=l4, l_max_5b=l5,
        )
        zbl = ZBL(outer_cutoff=settings.zbl) if settings.zbl > 0 else None
        return NEP(desc, neurons=(settings.neuron,), zbl=zbl).to(dtype)

    def loss(self, settings: NepSection):
        from neppo.losses import EnergyLoss, ForceLoss, VirialLoss

        # GPUMD's loss: lambda_e RMSE_E + lambda_f RMSE_F + lambda_v RMSE_V (eV/atom, eV/Å, eV/atom).
        # neppo's 'rmse' term is sqrt(MSE)/sigma, so sigma * term is exactly that. Its default 'mse'
        # form learned forces markedly slower on the Li-Zr-Cl-O test set (0.47 vs 0.27 eV/Å test
        # RMSE after 420 steps of the small preset).
        e, f, v = EnergyLoss(form="rmse"), ForceLoss(form="rmse"), VirialLoss(form="rmse")
        return settings.lambda_e * e.sigma * e + settings.lambda_f * f.sigma * f + settings.lambda_v * v.sigma * v

    def train(self, train, test, settings, out_dir, seed, init_model=None) -> BackendResult:
        import torch
        from neppo import StructureContainer, Trainer, predict

        out_dir = Path(out_dir)
        run_dir = out_dir / "run"
        run_dir.mkdir(parents=True, exist_ok=True)
        torch.manual_seed(seed)
        types = species_of(list(train) + list(test))
        model = self.build_model(settings, types, init_model)
        try:
            train_c = StructureContainer(model, list(train))
            test_c = StructureContainer(model, list(test)) if len(test) else None
        except ValueError as err:
            raise TrainingError(f"training data rejected by neppo: {err}") from None
        device = None if settings.device == "auto" else settings.device
        if device == "cuda" and not torch.cuda.is_available():
            raise TrainingError("nep.device = 'cuda' but no CUDA device is available")
        batch = settings.batch or len(train)
        lr = tuple(settings.learning_rate)
        trainer = _resumable_trainer(Trainer)(
            model, self.loss(settings), train_c, test_c, batch_size=batch, learning_rate=lr,
            weight_decay=settings.weight_decay, device=device, seed=seed, output_directory=run_dir)
        from interforge.nep import resume

        key = resume.inputs_hash(train=resume.labels_hash(train), test=resume.labels_hash(test), seed=seed,
                                 settings=settings.model_dump(), init=resume.file_hash(init_model))
        report = min(settings.output_interval, settings.generation)
        t0 = time.perf_counter()
        trainer.train_resumable(settings.generation, report, run_dir / CHECKPOINT_NAME, key)
        wall = time.perf_counter() - t0
        nep_path = write_nep(trainer.model.cpu(), out_dir / "nep.txt")
        (run_dir / CHECKPOINT_NAME).unlink(missing_ok=True)  # the member's done marker takes over
        history = [{"step": int(r["step"]), **{k: float(r[k]) for k in HISTORY_KEYS if k in r}}
                   for r in trainer.history.to_dict("records")]
        # The trainer's own predictions on the held-out structures, in float64 so the comparison
        # with calorine measures the file round trip, not float32 rounding.
        e_test, f_test = None, None
        if len(test):
            m64 = copy.deepcopy(trainer.model).cpu().double()
            pred = predict(m64, list(test))
            e_test = np.array([float(np.ravel(p.info["energy_predicted"])[0]) for p in pred])
            f_test = [np.asarray(p.arrays["force_predicted"], dtype=float) for p in pred]
        log.info("neppo: %d steps in %.1f s (%.3f s/step)", settings.generation, wall, wall / settings.generation)
        return BackendResult(str(nep_path), self.name, settings.generation, wall, history, e_test, f_test)


CHECKPOINT_NAME = "checkpoint.pt"


def _resumable_trainer(base):
    """neppo's ``Trainer`` trained in report-sized pieces with a checkpoint after each (model, AdamW moments,
    batch-order generator, torch RNG, history, best loss, loss.out length).

    neppo's ``train(steps)`` restarts AdamW and the cosine learning-rate schedule at every call; here each
    piece keeps the moments (after the first) and places its rates on the schedule of the whole run, so the
    pieces are one run of ``steps`` (reports fall on the same steps), and a run resumed from a checkpoint
    continues it exactly. Relies on neppo 1.0's ``_get_learning_rate``/``_reset_optimizer_state`` hooks and
    trainer attributes (neppo is pinned)."""

    class ResumableTrainer(base):
        _offset = 0
        _total = 0

        def _get_learning_rate(self, step, steps):
            from neppo.trainer import get_cosine_learning_rate

            return get_cosine_learning_rate(self.learning_rate, self._offset + step, self._total)

        def _reset_optimizer_state(self):
            if self._offset == 0:
                super()._reset_optimizer_state()

        def train_resumable(self, steps: int, report_interval: int, checkpoint: Path, key: str) -> int:
            """Train to ``steps`` steps in all, resuming ``checkpoint`` when it was written for ``key``;
            returns the step it resumed from (0 for a fresh start)."""
            import torch

            self._total = steps
            loss_out = Path(self.output_directory) / "loss.out"
            start = self._restore(checkpoint, key, loss_out)
            if start == 0:
                loss_out.unlink(missing_ok=True)
            while self._offset < steps:
                n = min(report_interval, steps - self._offset)
                self.train(steps=n, report_interval=n)
                self._offset += n
                if self._offset < steps:
                    state = {
                        "key": key, "offset": self._offset, "model": self.model.state_dict(),
                        "optimizer": self.optimizer.state_dict(), "rng": self._rng.bit_generator.state,
                        "order": [int(i) for i in self._order], "step": self._step,
                        "history": self.history.to_dict("records"), "best_loss": self._best_loss,
                        "best_row": self._best_row, "previous_report_step": self._previous_report_step,
                        "torch_rng": torch.get_rng_state(), "loss_bytes": loss_out.stat().st_size,
                    }
                    with atomic_path(checkpoint, suffix=".pt") as tmp:
                        torch.save(state, tmp)
            return start

        def _restore(self, checkpoint: Path, key: str, loss_out: Path) -> int:
            import pandas as pd
            import torch

            if not checkpoint.is_file():
                return 0
            try:
                state = torch.load(checkpoint, weights_only=False)
            except Exception as err:  # noqa: BLE001 - written atomically: not ours, or another version's
                log.warning("%s unreadable (%s); training this member from the start", checkpoint, err)
                return 0
            if state.get("key") != key or state["offset"] >= self._total:
                log.info("%s was written for other inputs; training this member from the start", checkpoint)
                return 0
            self.model.load_state_dict(state["model"])
            self.optimizer.load_state_dict(state["optimizer"])
            self._rng.bit_generator.state = state["rng"]
            self._order = list(state["order"])
            self._step = state["step"]
            self.history = pd.DataFrame(state["history"])
            self._best_loss, self._best_row = state["best_loss"], state["best_row"]
            self._previous_report_step = state["previous_report_step"]
            self._loss_settings = self._get_loss_settings()  # so the first piece keeps the best loss
            torch.set_rng_state(state["torch_rng"])
            if loss_out.is_file() and loss_out.stat().st_size >= state["loss_bytes"]:
                os.truncate(loss_out, state["loss_bytes"])
            self._offset = state["offset"]
            log.info("neppo: resuming from step %d of %d (%s)", self._offset, self._total, checkpoint)
            return self._offset

    return ResumableTrainer


# --------------------------------------------------------------------------------- GPUMD nep
def write_nep_in(settings: NepSection, types: list[str], path: Path, n_train: int) -> Path:
    """GPUMD ``nep.in`` for these settings (v4.x keywords; ``l_max`` in the classic form)."""
    lines = [f"type {len(types)} {' '.join(types)}", f"version {settings.version}"]
    if settings.zbl > 0:
        lines.append(f"zbl {settings.zbl:g}")
    lines += [
        f"cutoff {settings.cutoff[0]:g} {settings.cutoff[1]:g}",
        f"n_max {settings.n_max[0]} {settings.n_max[1]}",
        f"basis_size {settings.basis_size[0]} {settings.basis_size[1]}",
        f"l_max {' '.join(str(v) for v in settings.l_max)}",
        f"neuron {settings.neuron}",
        f"lambda_e {settings.lambda_e:g}", f"lambda_f {settings.lambda_f:g}", f"lambda_v {settings.lambda_v:g}",
        f"batch {settings.batch or max(n_train, 1)}",
        f"population {settings.population}",
        f"generation {settings.generation}",
    ]
    if settings.output_interval != 100:
        # GPUMD HEAD keyword; v4.x reports every 100 generations and has no such keyword.
        lines.append(f"output_interval {settings.output_interval}")
    return atomic_write_text(path, "\n".join(lines) + "\n")


def parse_loss_out(path: str | os.PathLike) -> list[dict[str, float]]:
    """Rows of a ``loss.out``. GPUMD: ``gen total L1 L2 E_tr F_tr V_tr E_te F_te V_te`` (no header);
    a ``#`` header naming the columns (neppo's dialect) takes precedence."""
    path = Path(path)
    if not path.is_file():
        raise TrainingError(f"{path}: no loss.out was written")
    names = None
    rows = []
    for lineno, line in enumerate(path.read_text().splitlines(), 1):
        s = line.strip()
        if not s:
            continue
        if s.startswith("#"):
            toks = s.lstrip("#").split()
            if toks and toks[0] == "columns":
                toks = toks[1:]
            if toks and toks[0] == "generation":
                names = toks
            continue
        try:
            vals = [float(x) for x in s.split()]
        except ValueError:
            raise TrainingError(f"{path}: line {lineno}: not numeric: {s[:60]!r}") from None
        if names is not None and len(names) == len(vals):
            d = dict(zip(names, vals))
            row = {"step": int(d["generation"])}
            for q, key in (("energy", "energy"), ("force", "forces"), ("virial", "virial")):
                for lab in ("train", "test"):
                    if f"rmse_{q}_{lab}" in d:
                        row[f"rmse_{key}_{lab}"] = d[f"rmse_{q}_{lab}"]
        elif len(vals) >= 7:
            row = {"step": int(vals[0]), "rmse_energy_train": vals[4], "rmse_forces_train": vals[5],
                   "rmse_virial_train": vals[6]}
            if len(vals) >= 10:
                row.update(rmse_energy_test=vals[7], rmse_forces_test=vals[8], rmse_virial_test=vals[9])
        else:
            raise TrainingError(f"{path}: line {lineno}: expected at least 7 columns, got {len(vals)}")
        rows.append(row)
    return rows


def read_prediction_out(run_dir: Path, label: str, n_atoms: Sequence[int]) -> tuple[np.ndarray, list[np.ndarray]]:
    """Trainer predictions from ``energy_<label>.out`` (eV/atom, col 0) and ``force_<label>.out``
    (fx fy fz, cols 0-2, eV/Å), split per structure."""
    e = np.loadtxt(run_dir / f"energy_{label}.out", ndmin=2, comments="#")[:, 0]
    f = np.loadtxt(run_dir / f"force_{label}.out", ndmin=2, comments="#")[:, :3]
    if len(e) != len(n_atoms) or len(f) != sum(n_atoms):
        raise TrainingError(f"{run_dir}: {label} prediction files do not match the {len(n_atoms)} structures")
    bounds = np.cumsum([0, *n_atoms])
    return e, [f[a:b] for a, b in zip(bounds[:-1], bounds[1:])]


class GpumdBackend:
    """GPUMD's ``nep`` executable (SNES on a GPU): writes nep.in/train.xyz/test.xyz, runs it,
    parses loss.out and the energy/force/virial outputs. Restart: ``init_model``'s directory
    must hold the matching ``nep.restart``, which is copied into the run directory."""

    name = "gpumd"

    def __init__(self, executable: str = "nep"):
        self.executable = executable

    def available(self) -> bool:
        return shutil.which(self.executable) is not None

    def train(self, train, test, settings, out_dir, seed, init_model=None) -> BackendResult:
        from interforge.data.gpumd_xyz import write_gpumd_xyz

        exe = shutil.which(self.executable)
        if exe is None:
            raise TrainingError(f"GPUMD '{self.executable}' executable is not on PATH (use nep.backend = 'neppo')")
        out_dir = Path(out_dir)
        run_dir = out_dir / "run"
        run_dir.mkdir(parents=True, exist_ok=True)
        types = species_of(list(train) + list(test))

        def frames(structs):
            for a in structs:
                r = a.calc.results
                yield a, float(r["energy"]), np.asarray(r["forces"]), r.get("stress")

        write_gpumd_xyz(frames(train), run_dir / "train.xyz")
        if len(test):
            write_gpumd_xyz(frames(test), run_dir / "test.xyz")
        if init_model is not None:
            header = validate_nep_file(init_model)
            types = list(header.types)
            restart = Path(init_model).with_name("nep.restart")
            if not restart.is_file():
                raise TrainingError(f"{init_model}: GPUMD restarts from nep.restart, none found beside it")
            shutil.copyfile(restart, run_dir / "nep.restart")
        write_nep_in(settings, types, run_dir / "nep.in", len(train))
        (run_dir / "loss.out").unlink(missing_ok=True)
        t0 = time.perf_counter()
        with open(run_dir / "nep.log", "w") as logf:
            proc = subprocess.run([exe], cwd=run_dir, stdout=logf, stderr=subprocess.STDOUT)
        wall = time.perf_counter() - t0
        if proc.returncode != 0:
            tail = (run_dir / "nep.log").read_text().strip().splitlines()[-1:] or [""]
            raise TrainingError(f"{exe} failed with exit code {proc.returncode} in {run_dir}: {tail[0][:120]}")
        history = parse_loss_out(run_dir / "loss.out")
        src = run_dir / "nep.txt"
        validate_nep_file(src)
        with atomic_path(out_dir / "nep.txt") as tmp:
            shutil.copyfile(src, tmp)
        e_test = f_test = None
        if len(test) and (run_dir / "energy_test.out").is_file():
            e_test, f_test = read_prediction_out(run_dir, "test", [len(a) for a in test])
        steps = history[-1]["step"] if history else settings.generation
        log.info("gpumd nep: %d generations in %.1f s", steps, wall)
        return BackendResult(str(out_dir / "nep.txt"), self.name, steps, wall, history, e_test, f_test)


def get_backend(name: str) -> Backend:
    """The backend called ``name`` ('neppo' or 'gpumd'); raises if it is unavailable."""
    backends = {"neppo": NeppoBackend, "gpumd": GpumdBackend}
    if name not in backends:
        raise TrainingError(f"unknown NEP backend {name!r} (choose from {', '.join(backends)})")
    b = backends[name]()
    if not b.available():
        raise TrainingError(f"NEP backend {name!r} is not available here "
                            + ("(the GPUMD 'nep' executable is not on PATH)" if name == "gpumd" else "(import neppo failed)"))
    return b


