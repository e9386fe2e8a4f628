"""`interforge teacher calibrate`: the calibrated teacher's identity, GPAW's energy-and-force labels, and a real
CHGNet fine-tune that moves the force slope toward 1 on structures it did not see."""

import json
import shutil

import numpy as np
import pytest
from ase import Atoms
from ase.build import bulk
from ase.calculators.calculator import Calculator, all_changes

from interforge.config.teacher import TeacherSection
from interforge.teacher import make_calculator, teacher_identity

SCALE = 1.25  # the stand-in "DFT" is CHGNet made 25 % stiffer: the foundation's force slope against it is < 1


def _licl() -> Atoms:
    a = bulk("LiCl", "rocksalt", a=5.13, cubic=True)
    a.rattle(0.05, seed=1)
    return a


@pytest.fixture(scope="module")
def base_model():
    from interforge.teacher.embedded import chgnet_model

    return chgnet_model("cpu")


# -- (c) identity ------------------------------------------------------------------------------------------

def test_calibrated_teacher_has_an_identity_of_its_own(tmp_path, base_model):
    """The calibrated teacher is CHGNet + the same D3(BJ); its identity holds the weights' content, so its
    labels are stored apart from the foundation teacher's, and new weights give a new identity."""
    import torch
    from chgnet.model import CHGNet

    from interforge.data import LabelStore
    from interforge.teacher import label_structures
    from interforge.teacher.calibrate import save_weights

    w1 = save_weights(base_model, tmp_path / "a.pth.tar", {"note": "the foundation's own weights"})
    sec = TeacherSection(name="calibrated", model_path=str(w1))
    ident = teacher_identity(sec)
    assert ident.name == "calibrated" and ident.hash != teacher_identity("default").hash
    assert ident.settings["dispersion"] == "d3" and "model_sha256" in ident.settings
    shutil.copy(w1, tmp_path / "moved.pth.tar")  # the content, not the path, is the identity
    assert teacher_identity(TeacherSection(name="calibrated", model_path=str(tmp_path / "moved.pth.tar"))) == ident
    other = CHGNet.from_dict(base_model.as_dict())
    with torch.no_grad():
        next(other.mlp.parameters()).add_(1e-3)
    w2 = save_weights(other, tmp_path / "b.pth.tar", {})
    assert teacher_identity(TeacherSection(name="calibrated", model_path=str(w2))).hash != ident.hash

    # Same weights as the foundation: the same numbers (CHGNet + D3 in both), stored under two identities.
    cell = _licl()
    e = []
    for s in ("default", sec):
        a = cell.copy()
        a.calc = make_calculator(s)
        e.append(a.get_potential_energy())
    assert e[0] == pytest.approx(e[1], abs=1e-6)
    store = LabelStore(tmp_path / "labels.db")
    for s in ("default", sec):
        label_structures([cell], store, s, progress=False)
    rows = list(store.rows())
    assert sorted(r.teacher for r in rows) == ["calibrated", "chgnet"]
    assert len({r.teacher_hash for r in rows}) == 2


def test_calibrated_teacher_needs_its_weights(tmp_path):
    from interforge.teacher import TeacherError

    with pytest.raises(TeacherError, match="model_path"):
        make_calculator(TeacherSection(name="calibrated"))
    with pytest.raises(TeacherError, match="not found"):
        make_calculator(TeacherSection(name="calibrated", model_path=str(tmp_path / "none.pth.tar")))


def test_calibration_settings_and_gpaw_stress_switch():
    from pydantic import ValidationError

    cal = TeacherSection().calibration
    assert (cal.dft, cal.gpaw.ecut, cal.gpaw.kspacing, cal.gpaw.stress) == ("gpaw", 550.0, 0.3, False)
    with pytest.raises(ValidationError):  # stress below 600 eV stays refused
        TeacherSection.model_validate({"gpaw": {"ecut": 350}})
    low = TeacherSection.model_validate({"name": "gpaw", "gpaw": {"ecut": 350, "stress": False}})
    assert teacher_identity(low).hash != teacher_identity("gpaw").hash
    assert "stress" not in teacher_identity("gpaw").settings  # the default keeps the identity it always had


def test_split_holds_out_a_share_of_each_group():
    from interforge.teacher.calibrate import force_slope, split

    groups = ["md:a"] * 4 + ["md:b"] * 3 + ["hop"] * 5 + ["md:c"]
    held = split(groups, 0.34, seed=1)
    by = {g: sum(h for h, x in zip(held, groups) if x == g) for g in set(groups)}
    assert by == {"md:a": 1, "md:b": 1, "hop": 2, "md:c": 0}
    assert held == split(groups, 0.34, seed=1)
    f = np.random.default_rng(0).normal(size=(10, 3))
    assert force_slope(0.8 * f, f) == pytest.approx(0.8)


class _Picky(Calculator):
    """A cheap stand-in DFT that fails (an unconverged SCF) on cells of three atoms; counts its calls."""

    implemented_properties = ["energy", "free_energy", "forces"]
    calls = 0

    def calculate(self, atoms=None, properties=("energy",), system_changes=tuple(all_changes)):
        from interforge.teacher import LabelFailure

        super().calculate(atoms, properties, system_changes)
        type(self).calls += 1
        if len(self.atoms) == 3:
            raise LabelFailure("unconverged SCF (test)", retry=False)
        self.results = {"energy": -1.0 * len(self.atoms), "free_energy": -1.0 * len(self.atoms),
                        "forces": np.zeros((len(self.atoms), 3))}


def test_dft_failures_are_recorded_not_used_and_not_recomputed(tmp_path):
    from interforge.data import LabelStore
    from interforge.teacher import register_teacher
    from interforge.teacher.calibrate import label_with_dft
    from interforge.workflow import InProcessExecutor

    try:
        register_teacher("picky-dft-test", lambda section, directory: _Picky())
    except Exception:  # registered by an earlier run in this process
        pass
    section = TeacherSection(name="picky-dft-test", dispersion=False, retries=0)
    cells = [_licl(), Atoms("LiCl2", positions=[[0, 0, 0], [2.4, 0, 0], [0, 2.4, 0]], cell=[6, 6, 6], pbc=True),
             _licl()[:4]]
    store = LabelStore(tmp_path / "dft.db")
    _Picky.calls = 0
    labels = label_with_dft(cells, ["a", "b", "c"], section, store, InProcessExecutor(), 1, tmp_path / "s")
    assert "failed" in labels[1] and "unconverged SCF" in labels[1]["failed"]
    assert "energy" in labels[0] and "energy" in labels[2]
    assert store.count(status="failed") == 1 and store.count(status="ok") == 2
    n = _Picky.calls
    again = label_with_dft(cells, ["a", "b", "c"], section, store, InProcessExecutor(), 1, tmp_path / "s")
    assert _Picky.calls == n and "failed" in again[1]  # resumed from the store: nothing computed again


@pytest.mark.parametrize("toml, needle", [
    ("[teacher]\nname = 'sevenn'\n", "fine-tunes CHGNet"),
    ("[teacher.calibration]\ndft = 'psi4'\n", "unknown teacher 'psi4'"),
    ("[teacher.calibration.gpaw]\npython = '/nonexistent/python'\n", "apt-get install -y gpaw gpaw-data"),
])
def test_bad_calibration_setups_are_one_line_errors_before_any_work(tmp_path, capsys, toml, needle):
    from interforge.cli.main import main

    cfg = tmp_path / "p.toml"
    cfg.write_text(toml)
    assert main(["teacher", "calibrate", "--config", str(cfg), "--workdir", str(tmp_path / "w")]) == 2
    err = capsys.readouterr().err
    assert needle in err and len(err.strip().splitlines()) == 1
    assert not (tmp_path / "w" / "calibration").exists()


# -- (a) GPAW: the calibration's energy-and-force labels on a real small cell ------------------------------

@pytest.mark.slow
def test_gpaw_labels_a_small_cell_without_stress_at_a_low_cutoff(tmp_path):
    """The laptop setting's kind of label: PW 300 eV, no stress, D3(BJ) added; forces balance."""
    from test_teacher import _gpaw_python

    from interforge.teacher import label_one

    py = _gpaw_python()
    if py is None:
        pytest.skip("gpaw is not installed (apt-get install -y gpaw gpaw-data)")
    atoms = Atoms("LiCl", positions=[[0, 0, 0], [2.45, 0.15, 0.1]], cell=[[0, 2.6, 2.6], [2.6, 0, 2.6], [2.6, 2.6, 0]],
                  pbc=True)
    section = TeacherSection.model_validate({"name": "gpaw", "retries": 0, "gpaw": {
        "python": py, "ecut": 300, "kspacing": 0.6, "stress": False}})
    out = label_one(atoms, section, scratch_dir=tmp_path / "ok")
    assert out.status == "ok", out.reason
    assert out.stress is None
    assert np.abs(out.forces.sum(axis=0)).max() < 0.05 and np.abs(out.forces).max() > 0.05


# -- (b) a real fine-tune on a tiny set moves the slope toward 1 on held-out structures --------------------

class _Stiffer(Calculator):
    """CHGNet without dispersion, times SCALE: a known, learnable stand-in for DFT (tests only)."""

    implemented_properties = ["energy", "free_energy", "forces", "stress"]

    def __init__(self):
        super().__init__()
        self.inner = make_calculator(TeacherSection(dispersion=False))

    def calculate(self, atoms=None, properties=("energy",), system_changes=tuple(all_changes)):
        super().calculate(atoms, properties, system_changes)
        a = self.atoms.copy()
        a.calc = self.inner
        e = SCALE * a.get_potential_energy()
        self.results = {"energy": e, "free_energy": e, "forces": SCALE * a.get_forces(),
                        "stress": SCALE * a.get_stress()}


@pytest.mark.slow
def test_fine_tune_moves_the_force_slope_toward_one_on_unseen_structures(tmp_path):
    from interforge.cli.main import main
    from interforge.config import load_config
    from interforge.teacher import register_teacher
    from interforge.teacher.calibrate import calibrate
    from interforge.teacher.embedded import with_dispersion

    # The stand-in is labelled like DFT: its own energies plus D3(BJ), which calibrate removes before training.
    try:
        register_teacher("stiffer-chgnet-test", lambda section, directory: with_dispersion(_Stiffer(), section))
    except Exception:  # registered by an earlier run in this process
        pass
    toml = tmp_path / "calibrate.toml"
    toml.write_text("""
[project]
seed = 5
workdir = "work"
[structures]
phases = ["ideal-Li2ZrCl6"]
[teacher.calibration]
dft = "stiffer-chgnet-test"
n_structures = 9
md_ps = 0.06
md_temperature_K = 900.0
hop_images = 1
minima = true
heldout_fraction = 0.34
epochs = 15
learning_rate = 1e-3
batch_size = 2
relax_steps = 15
neb_steps = 10
""")
    out = tmp_path / "calibration.json"
    assert main(["teacher", "calibrate", "--config", str(toml), "--json", str(out)]) == 0
    res = json.loads(out.read_text())
    assert {"dft", "n_train", "n_heldout", "before", "after"} <= set(res)
    for side in ("before", "after"):
        assert {"force_slope", "force_rmse_meV_A", "energy_rmse_meV_atom", "barrier_eV", "barrier_dft_eV",
                "phase_energies_meV_atom"} <= set(res[side])
    assert res["dft"]["name"] == "stiffer-chgnet-test"
    assert (tmp_path / "work" / "calibration" / "force_parity.png").is_file()
    b, a = res["before"], res["after"]
    assert res["n_failed"] == 0 and res["n_train"] + res["n_heldout"] == 10 and res["n_heldout"] >= 2
    assert res["groups"]["min:ideal-Li2ZrCl6"] == 1  # the relaxed cell, always trained on
    assert res["dft_phase_energies_meV_atom"] == {"ideal-Li2ZrCl6": 0.0}
    assert res["calibrated"]["hash"] != res["foundation"]["hash"]
    assert b["force_slope"] < 0.9  # the foundation is soft against the stand-in
    # Frames the fine-tune never saw: the slope moved at least a third of the way to 1, the error fell.
    assert abs(1 - a["force_slope"]) < abs(1 - b["force_slope"]) - (1 - b["force_slope"]) / 3, (b, a)
    assert a["force_rmse_meV_A"] < 0.8 * b["force_rmse_meV_A"], (b, a)
    assert {"barrier_eV", "barrier_dft_eV", "phase_energies_meV_atom", "energy_rmse_meV_atom"} <= set(a)
    assert b["barrier_dft_eV"] is not None and b["barrier_dft_eV"] == a["barrier_dft_eV"]
    # A re-run resumes: the stand-in labels and the weights are found, nothing is labelled or trained again.
    again = calibrate(load_config(toml), tmp_path / "work")
    assert again["after"]["force_slope"] == pytest.approx(a["force_slope"], abs=1e-6)
    assert again["calibrated"]["hash"] == res["calibrated"]["hash"]
