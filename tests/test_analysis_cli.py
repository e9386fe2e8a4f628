"""`interforge analyze` and `interforge arrhenius` end to end on synthetic interface trajectories."""

import json

import numpy as np
import pytest
from ase import Atoms
from ase.io import write

from interforge.analysis.diffusion import KB_EV
from interforge.analysis.synthetic import rocksalt_interface, vibrating_trajectory
from interforge.cli.main import main


def write_traj(path, p_hop, seed, n_frames=120, wrap=True):
    nums, pos, cell, _ = rocksalt_interface()
    tr = vibrating_trajectory(nums, pos, cell, n_frames, 1.0, np.random.default_rng(seed), p_hop=p_hop, hop=1.5,
                              wrap=wrap)
    write(path, [Atoms(numbers=nums, positions=p, cell=cell, pbc=True) for p in tr.positions], format="extxyz")
    return tr


@pytest.mark.slow
def test_analyze_writes_results_and_figures(tmp_path, capsys):
    traj = tmp_path / "run.xyz"
    write_traj(traj, 0.05, 0)
    out = tmp_path / "out"
    rc = main(["analyze", str(traj), "--out", str(out), "--dt-ps", "1.0", "--temperature-K", "600",
               "--species", "Li", "--species", "Cl",
               "--json", str(tmp_path / "r.json"), "--workdir", str(tmp_path)])
    assert rc == 0
    res = json.loads((out / "results.json").read_text())
    assert json.loads((tmp_path / "r.json").read_text())["diffusion"] == res["diffusion"]
    d = res["diffusion"]["Li"]
    # 1.5 Å hops along ±x/±y/±z with p = 0.05 per ps: D = p a²/(6 dt) = 0.01875 Å²/ps = 1.875e-6 cm²/s
    assert abs(d["D_cm2_s"] - 1.875e-6) < 3 * d["D_err_cm2_s"]
    assert res["conductivity"]["composite"]["sigma_mS_cm"] > 0
    assert res["conductivity"]["collective"]["sigma_err_mS_cm"] > 0
    # Cl only vibrates: its D is zero within its error bar, far below Li's
    assert abs(res["diffusion"]["Cl"]["D_cm2_s"]) < max(3 * res["diffusion"]["Cl"]["D_err_cm2_s"], 1e-3 * d["D_cm2_s"])
    assert len(res["interfaces"]["planes_A"]) == 2
    poly = res["polyhedra"]
    assert len(poly) == 108 and set(poly[0]) >= {"index", "species", "cn", "volume_A3", "csm", "shape", "region"}
    for name in ("msd", "rdf", "cn_profile", "density", "hops", "displacement", "csm_volume", "collective"):
        assert (out / res["figures"][name].split("/")[-1]).stat().st_size > 1000
    assert "D_cm2_s" in capsys.readouterr().out


def test_arrhenius_cli_recovers_activation_energy(tmp_path):
    Ea, temps = 0.3, [450.0, 550.0, 700.0]
    files = []
    for k, T in enumerate(temps):
        p_hop = 0.6 * np.exp(-Ea / KB_EV * (1 / T - 1 / 700.0))
        traj = tmp_path / f"t{k}.xyz"
        write_traj(traj, p_hop, k, n_frames=150, wrap=False)
        out = tmp_path / f"o{k}"
        assert main(["analyze", str(traj), "--out", str(out), "--dt-ps", "1", "--temperature-K", str(T),
                     "--no-figures", "--workdir", str(tmp_path)]) == 0
        files.append(str(out / "results.json"))
    rc = main(["arrhenius", *files, "--json", str(tmp_path / "arr.json"), "--figure", str(tmp_path / "arr.png"),
               "--workdir", str(tmp_path)])
    assert rc == 0
    arr = json.loads((tmp_path / "arr.json").read_text())
    assert abs(arr["Ea_eV"] - Ea) < 3 * arr["Ea_err_eV"] + 0.02
    lo, hi = arr["sigma_range_mS_cm"]
    assert lo < arr["sigma_mS_cm"] < hi
    assert (tmp_path / "arr.png").stat().st_size > 1000


def test_analyze_errors_are_one_line(tmp_path, capsys):
    assert main(["analyze", str(tmp_path / "missing.xyz"), "--out", str(tmp_path), "--workdir", str(tmp_path)]) == 2
    assert "not found" in capsys.readouterr().err
