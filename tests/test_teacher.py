"""Teachers: identities, the embedded CHGNet + D3(BJ) default against its parts, model files, DFT set-up."""

import os
import shutil
import subprocess
from pathlib import Path

import numpy as np
import pytest
from ase import Atoms

from interforge.config.teacher import TeacherSection
from interforge.teacher import TeacherError, make_calculator, teacher_identity


def mixed_cell(seed: int = 0) -> Atoms:
    """A small periodic cell with Li, Zr, Cl and O, no two atoms closer than 2.2 Å."""
    rng = np.random.default_rng(seed)
    symbols = ["Li", "Li", "Zr", "Cl", "Cl", "Cl", "O", "O"]
    cell = np.diag([6.5, 6.0, 6.2])
    pos: list[np.ndarray] = []
    while len(pos) < len(symbols):
        p = rng.random(3) @ cell
        probe = Atoms("H" * (len(pos) + 1), positions=pos + [p], cell=cell, pbc=True)
        if len(pos) == 0 or probe.get_distances(len(pos), range(len(pos)), mic=True).min() > 2.2:
            pos.append(p)
    return Atoms(symbols, positions=pos, cell=cell, pbc=True)


# -- identities -------------------------------------------------------------------------------

def test_default_and_chgnet_share_an_identity_and_dft_settings_change_it():
    assert teacher_identity("default") == teacher_identity("chgnet")
    assert teacher_identity(None).hash == teacher_identity("chgnet").hash
    assert teacher_identity("sevenn").hash != teacher_identity("chgnet").hash
    assert teacher_identity(TeacherSection(dispersion=False)).hash != teacher_identity("default").hash
    # Settings that do not change a label leave the identity alone.
    assert teacher_identity(TeacherSection(timeout_s=5, retries=3, max_force=9)).hash == teacher_identity("chgnet").hash
    vasp = TeacherSection(name="vasp")
    assert teacher_identity(vasp).hash != teacher_identity(TeacherSection.model_validate(
        {"name": "vasp", "vasp": {"encut": 520}})).hash
    assert teacher_identity(vasp).settings["encut"] == 550.0


def test_unknown_teacher_is_a_one_line_error():
    with pytest.raises(TeacherError, match="unknown teacher 'psi4'"):
        make_calculator("psi4")


# -- embedded default: CHGNet 0.3.0 + D3(BJ) -----------------------------------------------------

@pytest.fixture(scope="module")
def chgnet_model():
    from interforge.teacher.embedded import chgnet_model

    return chgnet_model("cpu")


def test_default_teacher_is_chgnet_plus_d3bj(chgnet_model):
    """The default teacher equals CHGNet's own predictor plus dftd3's D3(BJ), for E, F and stress."""
    from dftd3.ase import DFTD3
    from pymatgen.io.ase import AseAtomsAdaptor

    atoms = mixed_cell()
    work = atoms.copy()
    work.calc = make_calculator()  # no argument = the default
    e, f, s = work.get_potential_energy(), work.get_forces(), work.get_stress()

    pred = chgnet_model.predict_structure(AseAtomsAdaptor.get_structure(atoms))  # CHGNet's own API
    d3 = atoms.copy()
    d3.calc = DFTD3(method="PBE", damping="d3bj")
    e_ref = float(pred["e"]) * len(atoms) + d3.get_potential_energy()
    f_ref = pred["f"] + d3.get_forces()
    # CHGNet reports stress in GPa; ASE wants eV/Å³ (1 eV/Å³ = 160.2177 GPa).
    s_ref = np.array(pred["s"]).reshape(3, 3) / 160.21766208 + d3.get_stress(voigt=False)
    assert e == pytest.approx(e_ref, abs=1e-3)
    np.testing.assert_allclose(f, f_ref, atol=2e-3)
    np.testing.assert_allclose(work.get_stress(voigt=False), s_ref, atol=2e-4)
    assert np.isfinite(s).all()
    assert abs(d3.get_potential_energy()) > 0.05  # the dispersion term is really there


def test_dispersion_forces_match_finite_differences():
    """The D3(BJ) part of every embedded teacher: forces are minus the energy gradient."""
    from interforge.teacher.embedded import dispersion_calculator

    atoms = mixed_cell(1)
    atoms.calc = dispersion_calculator(TeacherSection())
    f = atoms.get_forces()
    h = 1e-4
    for i, k in [(0, 0), (3, 1), (6, 2)]:
        plus, minus = atoms.copy(), atoms.copy()
        plus.positions[i, k] += h
        minus.positions[i, k] -= h
        plus.calc = dispersion_calculator(TeacherSection())
        minus.calc = dispersion_calculator(TeacherSection())
        fd = -(plus.get_potential_energy() - minus.get_potential_energy()) / (2 * h)
        assert f[i, k] == pytest.approx(fd, abs=1e-5)


def test_model_file_teacher_with_a_local_chgnet_checkpoint_matches_the_embedded_one(chgnet_model):
    import chgnet

    ckpt = next((Path(chgnet.__file__).parent / "pretrained" / "0.3.0").glob("*.pth.tar"))
    atoms = mixed_cell(2)
    a, b = atoms.copy(), atoms.copy()
    a.calc = make_calculator(TeacherSection(name="model-file", model_path=str(ckpt)))
    b.calc = make_calculator("chgnet")
    assert a.get_potential_energy() == pytest.approx(b.get_potential_energy(), abs=1e-4)
    ident = teacher_identity(TeacherSection(name="model-file", model_path=str(ckpt)))
    assert "model_sha256" in ident.settings  # identified by content, not by path


def test_model_file_teacher_never_downloads():
    with pytest.raises(TeacherError, match="model file not found"):
        make_calculator(TeacherSection(name="model-file", model_path="/nonexistent/mace-mpa-0.model"))
    with pytest.raises(TeacherError, match="model_path"):
        make_calculator(TeacherSection(name="model-file"))


@pytest.mark.slow
def test_sevenn_teacher_covers_li_zr_cl_o():
    from sevenn.calculator import SevenNetCalculator

    atoms = mixed_cell(3)
    a = atoms.copy()
    a.calc = make_calculator(TeacherSection(name="sevenn", dispersion=False))
    ref = atoms.copy()
    ref.calc = SevenNetCalculator("7net-0", device="cpu")
    assert a.get_potential_energy() == pytest.approx(ref.get_potential_energy(), abs=1e-5)
    assert np.isfinite(a.get_forces()).all() and np.isfinite(a.get_stress()).all()


# -- NEP teacher --------------------------------------------------------------------------------

def test_nep_teacher_matches_calorine(nep_fixture_dir):
    pytest.importorskip("interforge.nep")
    from calorine.calculators import CPUNEP

    models = sorted(m for m in nep_fixture_dir.glob("*.txt") if m.name.startswith("C_"))
    if not models:
        pytest.skip("no nep.txt fixture")
    model = models[0]
    calc_ref = CPUNEP(str(model))
    atoms = Atoms("C2", positions=[[0, 0, 0], [1.4, 1.3, 1.2]], cell=[6, 6, 6], pbc=True)
    a = atoms.copy()
    a.calc = make_calculator(TeacherSection(name="nep", model_path=str(model)))
    atoms.calc = calc_ref
    assert a.get_potential_energy() == pytest.approx(atoms.get_potential_energy(), abs=1e-5)


# -- VASP ---------------------------------------------------------------------------------------

@pytest.fixture
def fake_potcars(tmp_path, monkeypatch):
    root = tmp_path / "pp"
    for el, setup in (("Li", "_sv"), ("Zr", "_sv"), ("Cl", ""), ("O", "")):
        d = root / "potpaw_PBE" / f"{el}{setup}"
        d.mkdir(parents=True)
        (d / "POTCAR").write_text(f"  PAW_PBE {el} 06Sep2000\n   1.00000000000000000\n parameters from PSCTR are:\n"
                                  f"   VRHFIN ={el}: s p\n   TITEL  = PAW_PBE {el} 06Sep2000\n   ZVAL   =    1.000\n"
                                  " End of Dataset\n")
    monkeypatch.setenv("VASP_PP_PATH", str(root))
    return root


def _incar(path: Path) -> dict[str, str]:
    out = {}
    for line in path.read_text().splitlines():
        if "=" in line:
            k, v = line.split("=", 1)
            out[k.strip().upper()] = v.strip()
    return out


def test_vasp_inputs_carry_the_papers_settings_without_vasp(tmp_path, fake_potcars):
    from interforge.teacher.vasp import write_vasp_inputs

    folder = write_vasp_inputs(mixed_cell(), TeacherSection(name="vasp"), tmp_path / "run")
    incar = _incar(folder / "INCAR")
    assert float(incar["ENCUT"]) == 550
    assert float(incar["KSPACING"]) == pytest.approx(0.3)
    assert float(incar["EDIFF"]) == pytest.approx(1e-6)
    assert int(incar["IVDW"]) == 12
    assert incar["GGA"].upper() == "PE"
    assert int(incar["NSW"]) == 0 and int(incar["IBRION"]) == -1
    potcar = (folder / "POTCAR").read_text()
    # POTCARs follow the species order of the POSCAR.
    order = [line.split()[1] for line in potcar.splitlines() if line.strip().startswith("PAW_PBE")]
    poscar_species = (folder / "POSCAR").read_text().splitlines()[5].split()
    assert order == poscar_species


def test_vasp_needs_potcars(tmp_path, monkeypatch):
    from interforge.teacher.vasp import write_vasp_inputs

    monkeypatch.delenv("VASP_PP_PATH", raising=False)
    with pytest.raises(TeacherError, match="VASP_PP_PATH"):
        write_vasp_inputs(mixed_cell(), TeacherSection(name="vasp"), tmp_path / "run")


def _oszicar(n_steps: int) -> str:
    lines = ["       N       E                     dE             d eps       ncg     rms          rms(c)"]
    for i in range(1, n_steps + 1):
        lines.append(f"DAV: {i:3d}    -0.123456789012E+03   -0.12345E-03   -0.12345E-04   224   0.123E-01    0.1E-02")
    lines.append("   1 F= -.12345678E+03 E0= -.12345678E+03  d E =-.123457E+03")
    return "\n".join(lines) + "\n"


def test_vasp_output_checks_detect_unconverged_and_crashed_runs(tmp_path):
    from interforge.teacher.vasp import check_vasp_outputs

    good = tmp_path / "good"
    good.mkdir()
    (good / "INCAR").write_text("NELM = 40\n")
    (good / "OSZICAR").write_text(_oszicar(12))
    (good / "vasp.out").write_text("running on 4 nodes\n reached required accuracy\n")
    assert check_vasp_outputs(good) == []

    unconv = tmp_path / "unconverged"
    unconv.mkdir()
    (unconv / "INCAR").write_text("NELM = 40\n")
    (unconv / "OSZICAR").write_text(_oszicar(40))
    assert any("unconverged SCF" in r for r in check_vasp_outputs(unconv))

    crashed = tmp_path / "crashed"
    crashed.mkdir()
    (crashed / "INCAR").write_text("NELM = 40\n")
    (crashed / "OSZICAR").write_text(_oszicar(3))
    (crashed / "vasp.out").write_text(" ZBRENT: fatal error in bracketing\n please rerun with smaller EDIFF\n")
    reasons = check_vasp_outputs(crashed)
    assert any(r.startswith("VASP error") and "zbrent" in r for r in reasons)  # custodian's error key

    assert check_vasp_outputs(tmp_path / "empty_does_not_exist") != []


def test_a_vasp_run_that_hits_nelm_is_a_failed_label(tmp_path, fake_potcars):
    """A stand-in 'VASP' writes outputs of an unconverged single point: the label must fail, not succeed."""
    from interforge.teacher import label_one

    fake = tmp_path / "fake_vasp.sh"
    fake.write_text("#!/bin/sh\nNELM=$(sed -n 's/^ *NELM *= *//p' INCAR)\n"
                    "i=1; while [ $i -le $NELM ]; do echo \"DAV: $i -0.1E+03 -0.1E-03 -0.1E-04 224 0.1E-01\" >> OSZICAR;"
                    " i=$((i+1)); done\necho 'F= -.1E+03 E0= -.1E+03' >> OSZICAR\n")
    fake.chmod(0o755)
    section = TeacherSection.model_validate({"name": "vasp", "retries": 0, "vasp": {"command": str(fake), "nelm": 7}})
    out = label_one(mixed_cell(), section, scratch_dir=tmp_path / "scratch")
    assert out.status == "failed"
    assert "unconverged SCF" in out.reason and "NELM = 7" in out.reason


# -- GPAW and QE --------------------------------------------------------------------------------

def _gpaw_python() -> str | None:
    for py in (os.environ.get("INTERFORGE_GPAW_PYTHON"), shutil.which("python3"), "/usr/bin/python3"):
        if py and Path(py).exists():
            if subprocess.run([py, "-c", "import gpaw"], capture_output=True).returncode == 0:
                return py
    return None


def test_gpaw_missing_gives_install_instructions(tmp_path):
    section = TeacherSection.model_validate({"name": "gpaw", "gpaw": {"python": str(tmp_path / "no-python")}})
    with pytest.raises(TeacherError, match="apt-get install -y gpaw gpaw-data"):
        make_calculator(section)


def test_gpaw_cutoff_below_600_ev_is_rejected():
    from pydantic import ValidationError

    with pytest.raises(ValidationError):
        TeacherSection.model_validate({"name": "gpaw", "gpaw": {"ecut": 400}})


@pytest.mark.slow
def test_gpaw_three_atom_cell(tmp_path):
    """Real PAW DFT on a 3-atom cell: forces sum to zero (translation invariance); too few SCF steps fail."""
    py = _gpaw_python()
    if py is None:
        pytest.skip("gpaw is not installed (apt-get install -y gpaw gpaw-data)")
    from interforge.teacher import label_one

    atoms = Atoms("LiCl2", positions=[[0, 0, 0], [2.3, 0.2, 0.1], [-0.1, 2.4, 0.3]], cell=[5.0, 5.0, 5.0], pbc=True)
    section = TeacherSection.model_validate({"name": "gpaw", "retries": 0, "gpaw": {"python": py, "kspacing": 2.0}})
    out = label_one(atoms, section, scratch_dir=tmp_path / "ok")
    assert out.status == "ok", out.reason
    assert np.abs(out.forces.sum(axis=0)).max() < 0.05
    assert np.abs(out.forces).max() > 0.1  # a distorted cell feels real forces
    assert out.stress.shape == (6,) and np.isfinite(out.stress).all()

    bad = TeacherSection.model_validate({"name": "gpaw", "retries": 0, "gpaw": {"python": py, "kspacing": 2.0,
                                                                                 "maxiter": 2}})
    failed = label_one(atoms, bad, scratch_dir=tmp_path / "bad")
    assert failed.status == "failed" and "unconverged SCF" in failed.reason


def test_qe_needs_user_pseudopotentials(tmp_path):
    with pytest.raises(TeacherError, match="pseudopotentials"):
        make_calculator(TeacherSection(name="qe"), tmp_path)
    section = TeacherSection.model_validate({"name": "qe", "qe": {"pseudo_dir": str(tmp_path),
                                                                  "pseudopotentials": {"Li": "li.UPF"}}})
    with pytest.raises(TeacherError, match="li.UPF"):
        make_calculator(section, tmp_path)
