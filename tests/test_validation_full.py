"""The whole Validator with one known potential as both teacher and student.

GPUMD's published Si NEP (Fan et al. 2022) labels the hold-out frames *and* is the model under test,
so every comparison gate must read no error at all — force slope 1 and RMSE 0, no pressure difference,
the teacher's volume estimate equal to the NEP's own, identical relaxed phase energies — and the
physics gates (volume drift, Lindemann index) must find diamond Si a solid at 500–700 K. A student that
differs from its teacher (the same file with its descriptor scaling changed) must fail."""

import shutil

import pytest
from ase.build import bulk

from interforge.config import config_from_dict

pytestmark = pytest.mark.slow


def _cfg():
    return config_from_dict({
        "sampling": {"temperatures_K": [300.0]},
        "active": {"nvt_temperatures_K": [400.0], "npt_temperatures_K": [], "npt_pressures_bar": [], "gate_rounds": 0},
        "production": {"bulk_phases": ["Si-diamond"]},
        "md": {"timestep_fs": 1.0},
        "validation": {"phases": ["Si-diamond"], "temperatures_K": [500.0, 700.0], "teacher_md_ps": 0.15,
                       "teacher_equilibration_ps": 0.05, "frame_interval_ps": 0.02, "npt_ps": 1.5,
                       "stability_npt_ps": 2.0, "npt_equilibration_ps": 0.3, "stability_equilibration_ps": 0.5,
                       "npt_target_atoms": 64, "n_teacher_frames_npt": 2,
                       "neb_phases": 0, "relax_steps": 60, "solid_species": "Si"},
    })


def _phases():
    return {"Si-diamond": bulk("Si", "diamond", a=5.43, cubic=True).repeat(2),
            "Si-sc": bulk("Si", "sc", a=2.55)}


def _validate(student, teacher, out, executor=None):
    from interforge.nep import NEPCalculator
    from interforge.validation.runner import Validator

    return Validator(student, _cfg(), _phases(), NEPCalculator(str(teacher)), out, executor).run()


@pytest.fixture
def si_nep(nep_fixture_dir, tmp_path):
    d = tmp_path
    teacher, student = d / "teacher" / "nep.txt", d / "student" / "nep.txt"
    for p in (teacher, student):
        p.parent.mkdir()
        shutil.copy(nep_fixture_dir / "Si_2022_NEP4_5body.txt", p)
    return teacher, student


def test_a_model_validated_against_itself_reads_zero_error_and_passes(si_nep, tmp_path):
    teacher, student = si_nep
    rec = _validate(student, teacher, tmp_path / "val")
    g = {x.name: x for x in rec.gates}
    assert set(g) == {"forces", "pressure", "density", "solid", "phase_order"}
    assert g["forces"].value == pytest.approx(1.0, abs=1e-6)
    assert g["forces"].detail["rmse_meV_A"] < 1e-3
    assert g["pressure"].value < 1e-6
    for run in g["density"].detail.values():
        assert run["deviation"] == pytest.approx(0.0, abs=1e-9)  # no pressure difference, no volume correction
        assert run["teacher_minus_nep_GPa"] == pytest.approx(0.0, abs=1e-9)
        assert abs(run["volume_drift"]) < 0.02
        # the NEP's own volume: diamond Si near its 20.0 Å^3/atom, expanded a little by temperature
        assert 19.5 < run["volume_A3_atom"] < 21.0
    assert g["solid"].value < 0.1
    assert g["phase_order"].value == pytest.approx(0.0, abs=1e-9)
    # simple cubic Si lies well above diamond (about 0.3 eV/atom in DFT)
    assert g["phase_order"].detail["teacher_meV_atom"]["Si-sc"] > 150
    assert rec.passed, rec.to_dict()["failed"]


def test_a_softer_student_fails_with_the_slope_it_was_given(si_nep, tmp_path):
    """The student is the teacher with its output-layer weights times 0.9: every energy difference,
    force and virial is exactly 0.9 of the teacher's (a NEP's energy is linear in those weights)."""
    teacher, _ = si_nep
    lines = teacher.read_text().splitlines()
    # nep4, one type, 50 neurons, 77 descriptors: after 6 header lines come w0 (50 x 77), b0 (50), w1 (50)
    assert lines[5].split() == ["ANN", "50", "0"]
    start = 6 + 50 * 77 + 50
    lines[start:start + 50] = [repr(float(x) * 0.9) for x in lines[start:start + 50]]
    soft = tmp_path / "soft" / "nep.txt"
    soft.parent.mkdir()
    soft.write_text("\n".join(lines) + "\n")
    from interforge.config.workflow import WorkflowSection
    from interforge.workflow import make_executor

    with make_executor(WorkflowSection(executor="pool", max_workers=2)) as pool:  # the NPT runs in two workers
        rec = _validate(soft, teacher, tmp_path / "val", pool)
    assert (tmp_path / "val" / "nep_npt").is_dir() and any((tmp_path / "val" / "nep_npt").glob("*/*/ledger_window"))
    g = {x.name: x for x in rec.gates}
    assert g["forces"].value == pytest.approx(0.9, abs=1e-4) and not g["forces"].passed
    # simple cubic's energy above diamond shrinks by a tenth too: far beyond 3 meV/atom
    d = g["phase_order"].detail
    assert d["nep_meV_atom"]["Si-sc"] == pytest.approx(0.9 * d["teacher_meV_atom"]["Si-sc"], rel=0.05)
    assert not g["phase_order"].passed and not rec.passed


class _PressureShifted:
    """A teacher that is the student with its pressure raised by ``dp_GPa`` everywhere (stress minus dp·I)."""

    def __new__(cls, model, dp_GPa):
        import numpy as np
        from ase import units
        from ase.calculators.calculator import Calculator, all_changes

        from interforge.nep import NEPCalculator

        class Shifted(Calculator):
            implemented_properties = ["energy", "free_energy", "forces", "stress"]

            def __init__(self):
                super().__init__()
                self.inner = NEPCalculator(model)

            def calculate(self, atoms=None, properties=("energy",), system_changes=all_changes):
                super().calculate(atoms, properties, system_changes)
                a = self.atoms.copy()
                a.calc = self.inner
                shift = dp_GPa * units.GPa * np.array([1.0, 1.0, 1.0, 0.0, 0.0, 0.0])
                self.results = {"energy": a.get_potential_energy(), "free_energy": a.get_potential_energy(),
                                "forces": a.get_forces(), "stress": a.get_stress() - shift}

        return Shifted()


def test_the_density_gates_teacher_volume_is_the_teachers_own_npt_volume(si_nep, tmp_path):
    """Against the definition: the teacher's volume at T is the mean volume of the teacher's own NPT. A teacher
    whose pressure is the student's + 4 GPa (diamond Si, B ~ 98 GPa: ~4 % larger) run directly must give the
    volume the gate infers from the student's runs and the teacher's pressure on their frames."""
    import numpy as np

    from interforge.config.md import MdSection
    from interforge.trajectory import TrajectoryReader
    from interforge.validation.runner import Validator, bulk_npt

    _, student = si_nep
    teacher = _PressureShifted(str(student), 4.0)
    cfg = _cfg()
    val = Validator(student, cfg, _phases(), teacher, tmp_path / "val")
    runs = val.npt_runs({"Si-diamond": 98.0})
    for key, run in runs.items():
        assert run["teacher_minus_nep_GPa"] == pytest.approx(4.0, abs=1e-6)
        assert run["teacher_volume_method"].startswith("NEP NPT")
        phase, T = key.split("@")
        args = val._npt_job(phase, float(T.rstrip("K")), list(runs).index(key))
        _, cell, _, T_K, steps, every, seed, md, eq, tau = args
        direct = bulk_npt(cell.copy(), teacher, MdSection(**md), T_K, steps, tmp_path / "direct" / key, every, seed, eq,
                          tau)
        rd = TrajectoryReader(direct.trajectory_path)
        v_direct = float(np.abs(np.linalg.det(rd.cells())).mean()) / len(rd.symbols)
        assert run["teacher_volume_A3_atom"] == pytest.approx(v_direct, rel=0.01)
        assert run["teacher_volume_A3_atom"] / run["volume_A3_atom"] - 1 > 0.025  # the teacher's is larger
        assert run["deviation"] < -0.025


def test_the_pressure_gate_reads_the_teachers_known_offset_on_the_npt_frames(si_nep, tmp_path):
    """A teacher whose pressure is the student's + 0.3 GPa everywhere: the gate, on the teacher's labels of the
    student's own NPT frames, reads exactly that offset and fails the 0.2 GPa limit. On diamond Si (B ~ 98 GPa)
    0.3 GPa moves the volume by 0.3 %, below a third of the density gate's 3 %: no NPT at the teacher's pressure
    is run, and the row says the linear estimate stands."""
    from interforge.validation.runner import Validator

    _, student = si_nep
    val = Validator(student, _cfg(), _phases(), _PressureShifted(str(student), 0.3), tmp_path / "val")
    runs = val.npt_runs({"Si-diamond": 98.0})
    gate = val._pressure_gate(runs, {}, {})
    assert gate.value == pytest.approx(0.3, abs=1e-6) and not gate.passed
    for key, case in gate.detail["nep_npt_frames"].items():
        assert case["mean_signed_GPa"] == pytest.approx(-0.3, abs=1e-6) and case["n"] == 2
    for key, run in runs.items():
        assert "no NPT at the teacher's pressure" in run["teacher_volume_method"]
        assert run["deviation"] == pytest.approx(-0.3 / 98.0, rel=0.02)  # V_NEP / (V_NEP (1 + dP/B)) - 1
        phase, T = key.split("@")
        assert not (val._npt_dir(phase, float(T.rstrip("K"))) / "at_teacher_pressure").exists()


def test_the_density_and_solid_gates_also_run_longer_at_a_margin_above_the_top_temperature(si_nep, tmp_path):
    """[validation] stability_margin_K (default 50 K) over the top gate temperature (700 K): one more NEP NPT per
    phase at 750 K, stability_npt_ps long (2 ps against npt_ps 1.5) after its own stability_equilibration_ps (0.5
    ps against 0.3), read by the density and solid gates like the others; the hold-out teacher runs stay at the
    gate temperatures."""
    from interforge.nep import NEPCalculator
    from interforge.trajectory import TrajectoryReader
    from interforge.validation import gates as G
    from interforge.validation.runner import Validator

    teacher, student = si_nep
    val = Validator(str(student), _cfg(), _phases(), NEPCalculator(str(teacher)), tmp_path / "val")
    runs = val.npt_runs({"Si-diamond": 98.0})
    assert list(runs) == ["Si-diamond@500K", "Si-diamond@700K", "Si-diamond@750K"]
    span = {k: TrajectoryReader(r["trajectory"]).times() for k, r in runs.items()}
    # each trajectory holds the read window only: (run - equilibration) ps
    assert span["Si-diamond@700K"][-1] - span["Si-diamond@700K"][0] == pytest.approx(1.5 - 0.3, abs=0.03)
    assert span["Si-diamond@750K"][-1] - span["Si-diamond@750K"][0] == pytest.approx(2.0 - 0.5, abs=0.03)
    assert runs["Si-diamond@750K"]["mean_temperature_K"] == pytest.approx(750.0, rel=0.1)
    assert set(G.density_gate(runs, 0.02, 0.03).detail) == set(runs)
    assert val.temps == [500.0, 700.0]


def test_a_case_past_the_drift_limit_is_repeated_with_another_seed_and_judged_on_the_mean(si_nep, tmp_path):
    """With a drift limit no run can meet, every case runs once more with an independent seed; the gate
    reads the mean of the two drifts, each recomputed here from the H5MD box edges with h5py."""
    import h5py
    import numpy as np

    from interforge.nep import NEPCalculator
    from interforge.validation.runner import Validator

    teacher, student = si_nep
    cfg = _cfg()
    cfg.validation.density_drift_max = 1e-12
    cfg.validation.density_repeats = 1
    val = Validator(str(student), cfg, _phases(), NEPCalculator(str(teacher)), tmp_path / "val")
    runs = val.npt_runs({"Si-diamond": 98.0})

    def drift(path):
        with h5py.File(path, "r") as f:
            edges = f["particles/all/box/edges/value"][()]
        v = np.abs(np.linalg.det(edges))
        return v[len(v) // 2:].mean() / v[: len(v) // 2].mean() - 1.0

    for key, row in runs.items():
        phase, T = key.split("@")
        first = drift(row["trajectory"])
        again = drift(val._npt_dir(phase, float(T[:-1])) / "repeat_1" / "trajectory.h5")
        assert row["volume_drift_runs"] == pytest.approx([first, again], rel=1e-9, abs=1e-12)
        assert again != pytest.approx(first, rel=1e-6, abs=1e-9)  # another seed, another trajectory
        assert row["volume_drift"] == pytest.approx((first + again) / 2, abs=1e-12)
        assert row["volume_drift_first_run"] == pytest.approx(first, abs=1e-12)
