"""Benchmark of the analysis area.

1. MSD + D (Einstein fit with error bar) of 2,000 mobile atoms (plus 2,000 fixed ones where a tool
   wants the whole system) × 2,000 frames: interforge against MDAnalysis (EinsteinMSD, FFT), freud
   (MSD, window mode) and pymatgen-analysis-diffusion (DiffusionAnalyzer from a displacement array),
   each in its own process on the same synthetic lattice random walk, in the same run. Wall time of
   the MSD + D step (data already in memory, best of 3 after a warm-up) and peak RSS of the process;
   printed as peer/interforge ratios together with each tool's D and error bar (true D known).
2. The full analysis (readers + items 2–8) of a 12,000-atom × 2,000-frame H5MD trajectory, in its
   own process: wall time and peak RSS (goal: < 4 GB).

Peers are not dependencies of interforge; install them for this benchmark only:
    .venv/bin/pip install mdanalysis==2.11.0 tidynamics==1.1.2 freud-analysis==3.4.0 \\
        pymatgen-analysis-diffusion==2026.9.23
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
                "pymatgen-diffusion": "pymatgen-analysis-diffusion==2026.9.23"}


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


def main() -> None:
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


if __name__ == "__main__":
    if len(sys.argv) > 2 and sys.argv[1] == "--child":
        print(json.dumps(_child(sys.argv[2], sys.argv[3]), default=float))
    elif len(sys.argv) > 2 and sys.argv[1] == "--memory":
        print(json.dumps(_child_memory(sys.argv[2]), default=float))
    else:
        main()
