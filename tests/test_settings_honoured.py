"""Documented settings are read: the Arrhenius temperature range, the production equilibration, the ordering
re-rank, and `demo --config`; settings that nothing read are gone (unknown keys are errors)."""

import json

import numpy as np
import pytest

from interforge.analysis.diffusion import KB_EV, diffusion_coefficient
from interforge.analysis.pipeline import analyze
from interforge.analysis.synthetic import site_hopping_trajectory
from interforge.cli.main import main
from interforge.config import InterforgeConfig, config_from_dict
from interforge.errors import ConfigError


def fake_results(path, T, D, err_rel=0.02):
    path.write_text(json.dumps({"species": "Li", "temperature_K": T,
                                "diffusion": {"Li": {"D_cm2_s": D, "D_err_cm2_s": err_rel * D}},
                                "conductivity": {"composite": {"n_per_A3": 0.02}}}))
    return str(path)


def test_arrhenius_fits_only_inside_the_configured_temperature_range(tmp_path):
    Ea, D0 = 0.3, 1e-3
    files = [fake_results(tmp_path / f"r{T:g}.json", T, D0 * np.exp(-Ea / (KB_EV * T))) for T in (500, 600, 700)]
    # off the Arrhenius line, and outside the default 450-700 K: must be left out
    files += [fake_results(tmp_path / "hot.json", 1000.0, 1e-3), fake_results(tmp_path / "cold.json", 400.0, 1e-3)]
    j = tmp_path / "arr.json"
    assert main(["arrhenius", *files, "--json", str(j), "--workdir", str(tmp_path)]) == 0
    arr = json.loads(j.read_text())
    assert arr["Ea_eV"] == pytest.approx(Ea, rel=1e-6)
    assert sorted(e["T_K"] for e in arr["excluded"]) == [400.0, 1000.0]
    # a config that widens the range takes the hot point in (and the fit is no longer exact)
    cfg = tmp_path / "p.toml"
    cfg.write_text("[analysis]\narrhenius_T_min = 450.0\narrhenius_T_max = 1100.0\n")
    assert main(["arrhenius", *files, "--json", str(j), "--config", str(cfg), "--workdir", str(tmp_path)]) == 0
    arr = json.loads(j.read_text())
    assert 1000.0 in arr["T_K"] and abs(arr["Ea_eV"] - Ea) > 0.01


def test_equilibration_is_discarded(tmp_path):
    rng = np.random.default_rng(0)
    traj, _ = site_hopping_trajectory(rng, n_ions=30, n_frames=400, dt_ps=0.1, rate_per_ps=0.2, sigma=0.1)
    res = analyze(traj, temperature_K=600, equilibration_ps=10.0)
    assert res.n_frames == 300 and res.equilibration_ps == 10.0
    ref = diffusion_coefficient(traj.positions[100:], 0.1, "Li")  # the same estimator on the kept frames
    assert res.diffusion["Li"].total.D_cm2_s == pytest.approx(ref.total.D_cm2_s, rel=1e-12)
    # the CLI takes the default from [production] equilibration_ps
    from ase import Atoms
    from ase.io import write

    xyz = tmp_path / "t.xyz"
    write(xyz, [Atoms(numbers=traj.numbers, positions=p, cell=traj.cells[0], pbc=True) for p in traj.positions],
          format="extxyz")
    cfg = tmp_path / "p.toml"
    cfg.write_text("[production]\nequilibration_ps = 10.0\n")
    out = tmp_path / "a"
    assert main(["analyze", str(xyz), "--dt-ps", "0.1", "--out", str(out), "--no-figures", "--config", str(cfg),
                 "--workdir", str(tmp_path)]) == 0
    r = json.loads((out / "results.json").read_text())
    assert r["n_frames"] == 300 and r["equilibration_ps"] == 10.0


@pytest.mark.parametrize("section,key", [("analysis", "haven_ratio"), ("workflow", "ledger_dir")])
def test_settings_nothing_read_are_removed(section, key):
    with pytest.raises(ConfigError):
        config_from_dict({section: {key: 1}})


def test_ordering_rerank_k_is_used_for_project_bulk_cells(monkeypatch):
    """With ordering_rerank_k = k the project's cell is the re-ranked winner, relaxed with the teacher."""
    import interforge.structures as structures
    import interforge.teacher as teacher
    from interforge.active.project import bulk_cell
    from interforge.structures import enumerate_orderings, get_phase

    calls = {}

    def fake_rerank(orderings, calculator, k, fmax=0.05, steps=200):
        calls.update(k=k, calculator=calculator, n=len(orderings), fmax=fmax)
        for e, o in enumerate(orderings[:k]):
            o.relaxed_energy_per_atom_eV = -float(e)
        return orderings[k - 1:k] + orderings[:k - 1] + orderings[k:]  # pretend the k-th relaxed lowest

    monkeypatch.setattr(structures, "rerank_by_relaxation", fake_rerank)
    monkeypatch.setattr(teacher, "make_calculator", lambda section: "teacher-calculator")
    cfg = config_from_dict({"structures": {"ordering_rerank_k": 3}})
    atoms = bulk_cell("alpha-Li2ZrCl6", cfg)
    assert calls == {"k": 3, "calculator": "teacher-calculator", "n": 3, "fmax": cfg.structures.relax_fmax}
    third = enumerate_orderings(get_phase("alpha-Li2ZrCl6").structure(), [1, 1, 1], max_results=3)[2]
    np.testing.assert_allclose(atoms.get_scaled_positions(), np.mod(third.structure.frac_coords, 1.0), atol=1e-8)
    # k = 0 (the default) keeps the lowest-Ewald ordering and needs no teacher
    calls.clear()
    bulk_cell("alpha-Li2ZrCl6", InterforgeConfig())
    assert calls == {}


def test_demo_config_goes_on_top_of_the_embedded_scale(tmp_path, monkeypatch):
    from interforge.cli.demo import demo_config_with
    from interforge.demo.pipeline import Demo, demo_config

    user = tmp_path / "mine.toml"
    user.write_text("[analysis]\ninterface_width_A = 6.0\n\n[production]\ninterface_ps = 3.0\n")
    cfg = demo_config_with("laptop", user)
    laptop = demo_config("laptop")
    assert cfg.analysis.interface_width_A == 6.0 and cfg.production.interface_ps == 3.0
    # everything the file does not set keeps the embedded laptop value
    assert cfg.production.bulk_ps == laptop.production.bulk_ps and cfg.analysis.hop_dt_ps == laptop.analysis.hop_dt_ps
    assert cfg.structures.interfaces == laptop.structures.interfaces
    seen = {}

    def fake_run(self):
        seen["cfg"] = self.cfg
        from interforge.errors import InterforgeError

        raise InterforgeError("stopped by the test")

    monkeypatch.setattr(Demo, "run", fake_run)
    assert main(["demo", "--scale", "tiny", "--out", str(tmp_path / "d"), "--config", str(user)]) == 2
    assert seen["cfg"].analysis.interface_width_A == 6.0
    assert seen["cfg"].production.bulk_ps == demo_config("tiny").production.bulk_ps
    bad = tmp_path / "bad.toml"
    bad.write_text("[analysis]\nnot_a_setting = 1\n")
    assert main(["demo", "--scale", "tiny", "--out", str(tmp_path / "d"), "--config", str(bad)]) == 2
