"""Fidelity: Li diffusion in alpha-Li2ZrCl6 with the teacher and with a learned NEP, side by side.

Same cell, same temperatures, same thermostat and seeds; NVT in the library's cell (DFT-relaxed, its 0 K
volume) for both, so the comparison isolates the force fields' dynamics from their volumes. Prints D(NEP)/D(teacher) per temperature with its error
(per-ion error bars of both, propagated) and Ea(NEP) - Ea(teacher). A benchmark, not a test: at the
default 3 temperatures x 20 ps on a 27-atom cell the teacher part takes about an hour on one core
(``--workers 2`` runs two at once).

    python -m bench fidelity -- MODEL/nep.txt [--ps 20] [--temperatures 600 700 800] [--workers 2]
        [--phases alpha-Li2ZrCl6 ideal-Li2ZrCl6]

The model's run-time dispersion (its ``nep.dispersion.json``) is applied, as everywhere.
"""

from __future__ import annotations

import argparse
import tempfile
import time
from pathlib import Path

import numpy as np


def _calculator(name: str, model: str):
    from interforge.config import InterforgeConfig
    from interforge.nep import NEPCalculator
    from interforge.teacher import make_calculator

    return NEPCalculator(model) if name == "nep" else make_calculator(InterforgeConfig().teacher)


def _job(name: str, model: str, atoms, T: float, steps: int, seed: int, out: str):
    """One run in a worker process (single-threaded, so two workers share two cores fairly)."""
    import os

    os.environ.setdefault("OMP_NUM_THREADS", "1")
    try:
        import torch

        torch.set_num_threads(1)
    except ImportError:
        pass
    return _run(atoms, _calculator(name, model), T, steps, seed, out)


def _run(atoms, calc, T, steps, seed, out):
    from interforge.analysis.diffusion import diffusion_coefficient
    from interforge.md import run_md
    from interforge.trajectory import TrajectoryReader

    t = time.perf_counter()
    run_md(atoms.copy(), calc, "nvt", T, steps, out, timestep_fs=1.0, dump_interval=20, thermo_interval=100, seed=seed)
    wall = time.perf_counter() - t
    rd = TrajectoryReader(Path(out) / "trajectory.h5")
    li = [i for i, s in enumerate(rd.symbols) if s == "Li"]
    skip = rd.n_frames // 10  # the first 10 % equilibrates
    d = diffusion_coefficient(rd.positions(slice(skip, None), li), dt_ps=0.02, species="Li").total
    return d.D_cm2_s, d.D_err_cm2_s, wall


def _table(phase: str, n_atoms: int, ps: float, model: str, rows: dict) -> dict:
    """Print one phase's D(NEP)/D(teacher) table and Ea difference; returns the Arrhenius fits by name."""
    from interforge.analysis.diffusion import arrhenius_fit

    print(f"\n{phase}, {n_atoms} atoms, NVT {ps:g} ps per run, model {model}")
    print(f"{'T (K)':>6}  {'D teacher':>10}  {'D NEP':>10}  {'NEP/teacher':>14}")
    for (T, dt, et), (_, dn, en) in zip(rows["teacher"], rows["nep"]):
        r = dn / dt if dt else np.nan
        rerr = abs(r) * np.hypot(en / dn if dn else np.inf, et / dt if dt else np.inf)
        print(f"{T:6.0f}  {dt:10.3g}  {dn:10.3g}  {r:7.2f} ± {rerr:4.2f}")
    fits = {}
    for name, r in rows.items():
        ok = [x for x in r if x[1] > 0]
        if len(ok) >= 2:
            fits[name] = arrhenius_fit(*zip(*ok))
    if len(fits) == 2:
        dE = fits["nep"].Ea_eV - fits["teacher"].Ea_eV
        print(f"Ea teacher {fits['teacher'].Ea_eV:.3f} ± {fits['teacher'].Ea_err_eV:.3f} eV, NEP {fits['nep'].Ea_eV:.3f} ± "
              f"{fits['nep'].Ea_err_eV:.3f} eV, difference {dE:+.3f} ± {np.hypot(fits['nep'].Ea_err_eV, fits['teacher'].Ea_err_eV):.3f} eV")
    return fits


def main(argv: list[str] | None = None) -> None:
    from concurrent.futures import ProcessPoolExecutor

    from interforge.active.project import bulk_cell
    from interforge.config import InterforgeConfig

    p = argparse.ArgumentParser(prog="bench fidelity")
    p.add_argument("model", nargs="?", help="nep.txt (default: demo-output's final model)")
    p.add_argument("--ps", type=float, default=20.0)
    p.add_argument("--temperatures", type=float, nargs="+", default=[600.0, 700.0, 800.0])
    p.add_argument("--phases", nargs="+", default=["alpha-Li2ZrCl6"],
                   help="library phases, each in its own cell (e.g. alpha-Li2ZrCl6 ideal-Li2ZrCl6)")
    p.add_argument("--workers", type=int, default=1, help="runs at once, each in a single-threaded process")
    args = p.parse_args(argv or [])
    model = args.model
    if model is None:
        import json

        model = json.loads(Path("demo-output/manifest.json").read_text())["learn"]["final_models"][0]
    cfg = InterforgeConfig()
    cells = {ph: bulk_cell(ph, cfg) for ph in args.phases}
    steps = int(args.ps * 1000)
    # teacher runs first: they are the long ones, so two workers finish together
    jobs = [(name, ph, T, 100 + k) for name in ("teacher", "nep") for ph in args.phases
            for k, T in enumerate(args.temperatures)]
    results = {}
    t0 = time.perf_counter()

    def report(job, res):
        results[job] = res
        D, err, wall = res
        el = time.perf_counter() - t0
        print(f"[{len(results)}/{len(jobs)}, {el / 60:.0f} min] {job[0]:8s} {job[1]} {job[2]:6.0f} K  "
              f"D = {D:.3g} ± {err:.2g} cm²/s  ({wall:.0f} s)", flush=True)

    with tempfile.TemporaryDirectory() as tmp:
        out = lambda j: str(Path(tmp) / f"{j[0]}_{j[1]}_{j[2]:g}")  # noqa: E731
        if args.workers > 1:
            from concurrent.futures import as_completed

            with ProcessPoolExecutor(args.workers) as pool:
                futures = {pool.submit(_job, j[0], model, cells[j[1]], j[2], steps, j[3], out(j)): j for j in jobs}
                for f in as_completed(futures):
                    report(futures[f], f.result())
        else:
            for j in jobs:
                report(j, _run(cells[j[1]], _calculator(j[0], model), j[2], steps, j[3], out(j)))
    by_phase = {ph: {name: [(j[2], *results[j][:2]) for j in jobs if j[0] == name and j[1] == ph]
                     for name in ("teacher", "nep")} for ph in args.phases}
    for ph, rows in by_phase.items():
        _table(ph, len(cells[ph]), args.ps, model, rows)
    if len(args.phases) == 2:
        a, b = args.phases
        print(f"\nD({b}) / D({a}) at each T: does each force field order the phases as the other does?")
        for i, T in enumerate(args.temperatures):
            ratios = []
            for name in ("teacher", "nep"):
                da, db = by_phase[a][name][i][1], by_phase[b][name][i][1]
                ratios.append(f"{name} {db / da:8.2g}" if da > 0 else f"{name}      n/a")
            print(f"{T:6.0f} K  " + "  ".join(ratios))


if __name__ == "__main__":
    import sys

    main(sys.argv[1:])
