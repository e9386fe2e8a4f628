"""Benchmark of the analysis area.

1. MSD + D (Einstein fit with error bar) of 2,000 mobile atoms (plus 2,000 fixed ones where a tool
   wants the whole system) × 2,000 frames: interforge against MDAnalysis (EinsteinMSD, FFT), freud
   (MSD, window mode) and pymatgen-analysis-diffusion (DiffusionAnalyzer from a displacement array),
   each in its own process on the same synthetic lattice random walk, in the same run. Wall time of
   the MSD + D step (data already in memory, best of 3 after a warm-up) and peak RSS of the process;
   printed as peer/interforge ratios together with each tool's D and error bar (true D known).
2. The full analysis (readers + items 2–8) of a 12,000-atom × 2,000-frame H5MD trajectory, in its
   own process: wall time and peak RSS (goal: < 4 GB).
3. Collective transport: sigma from the charge-displacement MSD (block error bars) and the measured Haven
   ratio, interforge against kinisi (ConductivityAnalyzer and DiffusionAnalyzer, Bayesian regression on
   the same trajectory) on two cases with analytic answers: independent Li walkers (Haven ratio 1) and
   Li that hop in pairs, both ions of a pair making the same move (Haven ratio 1/2). Printed side by side
   with the truth and each tool's wall time.

Peers are not dependencies of interforge; install them for this benchmark only:
    .venv/bin/pip install mdanalysis==2.11.0 tidynamics==1.1.2 freud-analysis==3.4.0 \\
        pymatgen-analysis-diffusion==2026.9.23
    .venv/bin/pip install -e '.[bench]'      # kinisi (MIT), for part 3
"""

from __future__ import annotations

import json
import os
import resource
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

N_MOBILE, N_FRAMES, DT_PS, A_HOP, P_HOP = 2000, 2000, 1.0, 1.0, 0.3
D_TRUE = P_HOP * A_HOP ** 2 / (6 * DT_PS) * 1e-4  # cm²/s
PEER_INSTALL = {"mdanalysis": "mdanalysis==2.11.0 tidynamics==1.1.2", "freud": "freud-analysis==3.4.0",
                "pymatgen-diffusion": "pymatgen-analysis-diffusion==2026.9.23", "kinisi": "-e '.[bench]' (kinisi==2.1.0)"}
# part 3: Li walkers in a static, vibrating Cl framework (kinisi subtracts the framework's drift)
COLL_N, COLL_FRAMES, COLL_BOX, COLL_T_K, COLL_START_PS, COLL_SEEDS = 64, 800, 16.0, 600.0, 40.0, 10


def _peak_rss_mb() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024.0


def _best_of(fn, repeats=3):
    fn()  # warm-up: imports, FFT plans
    best, out = np.inf, None
    for _ in range(repeats):
        t = time.perf_counter()
        out = fn()
        best = min(best, time.perf_counter() - t)
    return best, out


def _fit(lag_ps, msd, lo, hi, dim=3):
    slope = np.polyfit(lag_ps[lo:hi], msd[lo:hi], 1)[0]
    return slope / (2 * dim) * 1e-4


def _child(tool: str, npy: str) -> dict:
    pos = np.load(npy)  # (T, N, 3) unwrapped Å, mobile atoms only
    from interforge.analysis.diffusion import fit_window

    lo, hi = fit_window(pos.shape[0])
    lag = np.arange(pos.shape[0]) * DT_PS
    if tool == "interforge":
        from interforge.analysis import compute_msd, diffusion_from_msd

        def run():
            r = diffusion_from_msd(compute_msd(pos, DT_PS, (lo, hi))).total
            return r.D_cm2_s, r.D_err_cm2_s
    elif tool == "mdanalysis":
        import MDAnalysis as mda
        from MDAnalysis.analysis.msd import EinsteinMSD
        from MDAnalysis.coordinates.memory import MemoryReader

        u = mda.Universe.empty(pos.shape[1], trajectory=True)
        u.load_new(pos.astype(np.float32), format=MemoryReader, dt=DT_PS)

        def run():
            m = EinsteinMSD(u, select="all", msd_type="xyz", fft=True).run()
            return _fit(lag, m.results.timeseries, lo, hi), None
    elif tool == "freud":
        import freud

        def run():
            m = freud.msd.MSD(mode="window").compute(pos)
            return _fit(lag, m.msd, lo, hi), None
    elif tool == "pymatgen-diffusion":
        from pymatgen.analysis.diffusion.analyzer import DiffusionAnalyzer
        from pymatgen.core import Lattice, Structure

        n = pos.shape[1]
        rng = np.random.default_rng(0)
        struct = Structure(Lattice.cubic(60.0), ["Li"] * n + ["Cl"] * n, rng.random((2 * n, 3)))
        disp = np.concatenate([(pos - pos[:1]).transpose(1, 0, 2), np.zeros((n, pos.shape[0], 3))])

        def run():
            da = DiffusionAnalyzer(struct, disp, "Li", 600, int(DT_PS * 1000), 1)
            return da.diffusivity, da.diffusivity_std_dev
    else:
        raise SystemExit(f"unknown tool {tool}")
    wall, (d, err) = _best_of(run)
    return {"tool": tool, "wall_s": wall, "peak_rss_MB": _peak_rss_mb(), "D": d, "D_err": err}


def _child_memory(h5: str) -> dict:
    from interforge.analysis.pipeline import analyze
    from interforge.analysis.readers import load_trajectory

    t = time.perf_counter()
    traj = load_trajectory(h5, cache=False)
    t_read = time.perf_counter() - t
    t = time.perf_counter()
    res = analyze(traj, temperature_K=600.0)
    wall = time.perf_counter() - t
    return {"read_s": t_read, "analyze_s": wall, "peak_rss_MB": _peak_rss_mb(), "timings_s": res.timings_s,
            "n_polyhedra": len(res.polyhedra), "n_atoms": traj.n_atoms, "n_frames": traj.n_frames}


def _collective_case(case: str, seed: int = 0) -> np.ndarray:
    """Unwrapped Li positions (T, N, 3) Å: independent walkers ('independent', Haven ratio 1) or pairs
    whose two ions make identical moves from their own sites ('pairs', Haven ratio 1/2)."""
    from interforge.analysis.synthetic import lattice_random_walk

    rng = np.random.default_rng(seed)
    if case == "independent":
        return lattice_random_walk(rng, COLL_N, COLL_FRAMES, A_HOP, 0.5, box=COLL_BOX)
    walk = lattice_random_walk(rng, COLL_N // 2, COLL_FRAMES, A_HOP, 0.5, box=COLL_BOX)
    partner = walk + (rng.random((1, COLL_N // 2, 3)) * COLL_BOX - walk[:1])
    return np.concatenate([walk, partner], axis=1)


def _child_collective(tool: str, case: str, seed: int = 0) -> dict:
    from interforge.analysis.diffusion import NE_PREFACTOR

    li = _collective_case(case, seed)
    n, vol = li.shape[1], COLL_BOX ** 3
    ne = NE_PREFACTOR * n / vol / COLL_T_K  # sigma (mS/cm) per unit D (cm²/s)
    t = time.perf_counter()
    if tool == "interforge":
        from interforge.analysis.collective import collective_transport

        r = collective_transport(li, DT_PS, n_blocks=5, volume_A3=vol, T_K=COLL_T_K)
        out = {"sigma": r.sigma_mS_cm, "sigma_err": r.sigma_err_mS_cm, "H": r.haven_ratio, "H_err": r.haven_ratio_err,
               "D_tracer": r.D_tracer_cm2_s}
    else:
        import scipp as sc
        from ase import Atoms
        from kinisi.analyze import ConductivityAnalyzer, DiffusionAnalyzer

        rng = np.random.default_rng(1)
        fw = rng.random((n, 3)) * COLL_BOX
        frames = [Atoms(["Li"] * n + ["Cl"] * n, positions=np.vstack([np.mod(li[k], COLL_BOX),
                                                                          fw + rng.normal(0, 0.05, (n, 3))]),
                        cell=[COLL_BOX] * 3, pbc=True) for k in range(len(li))]
        common = {"specie": "Li", "time_step": sc.scalar(DT_PS, unit="ps"), "progress": False,
                  "step_skip": sc.scalar(1, unit=sc.units.dimensionless),
                  "dt": sc.arange("time interval", 1.0, COLL_FRAMES // 2 + 1.0, 2.0, unit="ps")}
        ca = ConductivityAnalyzer.from_ase(frames, ionic_charge=1 * sc.Unit("e"), **common)
        ca.conductivity(start_dt=sc.scalar(COLL_START_PS, unit="ps"), temperature=sc.scalar(COLL_T_K, unit="K"),
                        progress=False, random_state=np.random.RandomState(0))
        da = DiffusionAnalyzer.from_ase(frames, **common)
        da.diffusion(start_dt=sc.scalar(COLL_START_PS, unit="ps"), progress=False,
                     random_state=np.random.RandomState(0))
        sig = sc.to_unit(ca.sigma, "mS/cm").values
        dtr = sc.to_unit(da.D, "cm^2/s").values
        d_sig = sig / ne  # D_sigma from sigma (same n, T): the Haven ratio is D_tracer / D_sigma
        h = float(np.mean(dtr) / np.mean(d_sig))
        h_err = h * float(np.hypot(np.std(dtr) / np.mean(dtr), np.std(d_sig) / np.mean(d_sig)))
        out = {"sigma": float(np.mean(sig)), "sigma_err": float(np.std(sig)), "H": h, "H_err": h_err,
               "D_tracer": float(np.mean(dtr))}
    out.update({"tool": tool, "case": case, "wall_s": time.perf_counter() - t,
                "sigma_true": NE_PREFACTOR * n / vol * (0.5 * A_HOP ** 2 / (6 * DT_PS) * 1e-4)
                / COLL_T_K / (1.0 if case == "independent" else 0.5),
                "H_true": 1.0 if case == "independent" else 0.5})
    return out


def _run_child(args: list[str]) -> dict | None:
    env = dict(os.environ, OMP_NUM_THREADS="1", OPENBLAS_NUM_THREADS="1", MKL_NUM_THREADS="1")
    proc = subprocess.run([sys.executable, "-m", "bench.bench_analysis", *args], capture_output=True, text=True,
                          env=env, cwd=Path(__file__).resolve().parents[1])
    if proc.returncode != 0:
        return {"error": (proc.stderr.strip().splitlines() or ["failed"])[-1]}
    return json.loads(proc.stdout.strip().splitlines()[-1])


def _write_big_h5md(path: Path, n_frames: int = 2000) -> int:
    """A ~12,000-atom two-phase slab (rock-salt O block | rock-salt LiCl block) with vibrating atoms and
    hopping Li, streamed frame block by frame block into the H5MD layout."""
    import h5py

    from interforge.analysis.synthetic import rocksalt_interface

    nums, pos0, cell, _ = rocksalt_interface(n_xy=5, n_z_each=30)
    n = len(nums)
    rng = np.random.default_rng(7)
    li = np.flatnonzero(nums == 3)
    drift = np.zeros((n, 3))
    with h5py.File(path, "w") as f:
        f.create_group("h5md").attrs["version"] = [1, 1]
        part = f.create_group("particles/all")
        part["species"] = nums.astype(np.int32)
        p = part.create_group("position")
        val = p.create_dataset("value", (n_frames, n, 3), dtype="f8", chunks=(16, n, 3))
        p["time"] = np.arange(n_frames) * DT_PS
        p["step"] = np.arange(n_frames) * 1000
        e = part.create_group("box/edges")
        e["value"] = np.broadcast_to(cell, (n_frames, 3, 3))
        e["time"] = np.arange(n_frames) * DT_PS
        block = 100
        for a in range(0, n_frames, block):
            b = min(a + block, n_frames)
            buf = np.empty((b - a, n, 3))
            for k in range(b - a):
                hop = li[rng.random(len(li)) < 0.01]
                drift[hop, rng.integers(0, 3, len(hop))] += rng.choice([-1.5, 1.5], len(hop))
                buf[k] = pos0 + drift + rng.normal(0, 0.1, (n, 3))
            val[a:b] = buf
    return n


def collective_benchmark() -> None:
    """Part 3: collective sigma and Haven ratio, interforge vs kinisi, on cases with analytic answers."""
    print(f"\ncollective transport, {COLL_N} Li x {COLL_FRAMES} frames at {COLL_T_K:g} K (kinisi fits from "
          f"{COLL_START_PS:g} ps, every 2nd lag to half the run; interforge: 5 blocks)")
    print("  one trajectory per row, both tools on the same one: a trajectory's own fluctuation moves both alike")
    print(f"  {'case':12s} {'seed':>4s} {'tool':10s} {'sigma mS/cm':>18s} {'true':>7s} {'Haven ratio':>13s} "
          f"{'true':>5s} {'wall_s':>7s}")
    summary = {}
    for case in ("independent", "pairs"):
        for seed in range(COLL_SEEDS):
            for tool in ("interforge", "kinisi"):
                r = _run_child(["--collective", tool, case, str(seed)])
                if "error" in r:
                    print(f"  {case:12s} {seed:4d} {tool:10s} unavailable: {r['error']}  (install: .venv/bin/pip "
                          f"install {PEER_INSTALL.get(tool, '')})")
                    continue
                summary.setdefault((case, tool), []).append(r)
                print(f"  {case:12s} {seed:4d} {tool:10s} {r['sigma']:9.1f} ± {r['sigma_err']:6.1f} "
                      f"{r['sigma_true']:7.1f} {r['H']:6.2f} ± {r['H_err']:4.2f} {r['H_true']:5.2f} {r['wall_s']:7.1f}")
    print(f"  over {COLL_SEEDS} trajectories: mean (scatter) | mean reported error | |mean - true| / (scatter/sqrt n)")
    for (case, tool), rows in summary.items():
        sig = np.array([r["sigma"] for r in rows])
        h = np.array([r["H"] for r in rows])
        k = np.sqrt(len(rows))
        sd_s, sd_h = sig.std(ddof=1) if len(rows) > 1 else np.nan, h.std(ddof=1) if len(rows) > 1 else np.nan
        print(f"  {case:12s} {tool:10s} sigma {sig.mean():7.1f} ({sd_s:6.1f}) | {np.mean([r['sigma_err'] for r in rows]):6.1f}"
              f" | {abs(sig.mean() - rows[0]['sigma_true']) / (sd_s / k):4.1f};   H {h.mean():5.2f} ({sd_h:4.2f}) | "
              f"{np.mean([r['H_err'] for r in rows]):4.2f} | {abs(h.mean() - rows[0]['H_true']) / (sd_h / k):4.1f}")


def main(argv: list[str] | None = None) -> None:
    if argv and argv[0] == "collective":  # python -m bench analysis -- collective: part 3 only
        collective_benchmark()
        return
    print(__doc__.split("\n\n")[0])
    with tempfile.TemporaryDirectory() as tmp:
        from interforge.analysis.synthetic import lattice_random_walk

        npy = Path(tmp) / "walk.npy"
        np.save(npy, lattice_random_walk(np.random.default_rng(0), N_MOBILE, N_FRAMES, A_HOP, P_HOP, box=30.0))
        print(f"\nMSD + D, {N_MOBILE} mobile atoms x {N_FRAMES} frames; true D = {D_TRUE:.4e} cm²/s")
        rows = {}
        for tool in ("interforge", "freud", "mdanalysis", "pymatgen-diffusion"):
            r = _run_child(["--child", tool, str(npy)])
            rows[tool] = r
            if "error" in r:
                hint = f"  (install: .venv/bin/pip install {PEER_INSTALL[tool]})" if tool in PEER_INSTALL else ""
                print(f"  {tool:20s} unavailable: {r['error']}{hint}")
        ours = rows["interforge"]
        print(f"  {'tool':20s} {'wall_s':>8s} {'x ours':>7s} {'RSS_MB':>8s} {'D cm2/s':>11s} {'D_err':>9s} "
              f"{'|D-Dtrue|/err':>13s}")
        for tool, r in rows.items():
            if "error" in r:
                continue
            err = r["D_err"]
            z = abs(r["D"] - D_TRUE) / err if err else float("nan")
            print(f"  {tool:20s} {r['wall_s']:8.3f} {r['wall_s'] / ours['wall_s']:7.2f} {r['peak_rss_MB']:8.0f} "
                  f"{r['D']:11.4e} {err if err else float('nan'):9.2e} {z:13.2f}")
        peers = [r["wall_s"] for t, r in rows.items() if t != "interforge" and "error" not in r]
        if peers:
            print(f"  fastest peer / interforge = {min(peers) / ours['wall_s']:.2f} (goal >= 2)")

        h5 = Path(tmp) / "big.h5"
        n = _write_big_h5md(h5)
        print(f"\nfull analysis (items 2-8) of {n} atoms x 2000 frames (H5MD, {h5.stat().st_size / 1e9:.2f} GB)")
        r = _run_child(["--memory", str(h5)])
        if "error" in r:
            print(f"  failed: {r['error']}")
        else:
            print(f"  read {r['read_s']:.1f} s, analyse {r['analyze_s']:.1f} s "
                  f"({', '.join(f'{k} {v:.1f}' for k, v in r['timings_s'].items())}), "
                  f"peak RSS {r['peak_rss_MB'] / 1024:.2f} GB (goal < 4 GB): "
                  f"{'PASS' if r['peak_rss_MB'] < 4096 else 'FAIL'}")
    collective_benchmark()


if __name__ == "__main__":
    if len(sys.argv) > 2 and sys.argv[1] == "--child":
        print(json.dumps(_child(sys.argv[2], sys.argv[3]), default=float))
    elif len(sys.argv) > 3 and sys.argv[1] == "--collective":
        print(json.dumps(_child_collective(sys.argv[2], sys.argv[3], int(sys.argv[4]) if len(sys.argv) > 4 else 0),
                         default=float))
    elif len(sys.argv) > 2 and sys.argv[1] == "--memory":
        print(json.dumps(_child_memory(sys.argv[2]), default=float))
    else:
        main()
