"""Labelling throughput: labels per minute for 64-atom cells with the embedded teacher (CHGNet + D3(BJ)).

Peer: the teacher called directly in a plain loop (no executor, no store). Then the full labelling path
(store writes, checks) in-process (one worker), and with two workers as Parsl threads and as Parsl
processes. Ratios are against the direct loop and against one worker, measured in the same run. Worker
start-up and model loading are excluded (warm-up tasks) and reported separately.
"""

from __future__ import annotations

import os
import tempfile
import time
from pathlib import Path

os.environ.setdefault("OMP_NUM_THREADS", "1")

N_CELLS = int(os.environ.get("BENCH_LABEL_CELLS", "12"))


def cells_64(n: int):
    """n rattled 64-atom rock-salt cells with Li, Zr, Cl and O (2x2x2 conventional LiCl, substituted)."""
    from ase.build import bulk

    base = bulk("LiCl", "rocksalt", a=5.14, cubic=True).repeat((2, 2, 2))
    symbols = base.get_chemical_symbols()
    li = [i for i, s in enumerate(symbols) if s == "Li"]
    cl = [i for i, s in enumerate(symbols) if s == "Cl"]
    for i in li[:4]:
        symbols[i] = "Zr"
    for i in cl[:4]:
        symbols[i] = "O"
    base.set_chemical_symbols(symbols)
    out = []
    for k in range(n):
        a = base.copy()
        a.rattle(0.05, seed=k)
        out.append(a)
    return out


def _direct(structs) -> float:
    from interforge.teacher import make_calculator

    calc = make_calculator("default")
    warm = structs[0].copy()
    warm.calc = calc
    warm.get_forces()
    t0 = time.perf_counter()
    for a in structs:
        w = a.copy()
        w.calc = calc
        w.get_potential_energy(), w.get_forces(), w.get_stress()
    return 60.0 * len(structs) / (time.perf_counter() - t0)


def _through(structs, section, workers: int) -> tuple[float, float]:
    from interforge.data import LabelStore
    from interforge.teacher import label_one, label_structures
    from interforge.workflow import make_executor

    with tempfile.TemporaryDirectory() as tmp:
        t_start = time.perf_counter()
        with make_executor(section, run_dir=Path(tmp) / "runinfo") as ex:
            warm = [ex.submit(label_one, structs[0], "default") for _ in range(workers)]
            for f in warm:
                f.result()
            startup = time.perf_counter() - t_start
            store = LabelStore(Path(tmp) / "bench.db")
            report = label_structures(structs, store, "default", executor=ex, progress=False)
            assert report.n_labelled == len(structs), report.failures
        return report.labels_per_minute, startup


def main() -> None:
    import torch

    from interforge.config.workflow import WorkflowSection

    torch.set_num_threads(1)
    structs = cells_64(N_CELLS)
    print(f"{N_CELLS} cells of {len(structs[0])} atoms, teacher = default (CHGNet 0.3.0 + D3(BJ)), "
          f"{os.cpu_count()} CPUs (shared)")
    peer = _direct(structs)
    print(f"{'direct loop (peer)':<28} {peer:8.1f} labels/min")
    one, s1 = _through(structs, WorkflowSection(executor="local"), 1)
    print(f"{'label, 1 worker (local)':<28} {one:8.1f} labels/min  x{one / peer:.2f} vs peer   start-up {s1:.1f} s")
    for kind in ("threads", "processes"):
        rate, s = _through(structs, WorkflowSection(executor=kind, max_workers=2), 2)
        print(f"{'label, 2 workers (' + kind + ')':<28} {rate:8.1f} labels/min  x{rate / peer:.2f} vs peer  "
              f"x{rate / one:.2f} vs 1 worker   start-up {s:.1f} s")
