"""Fault-tolerant labelling: failures stored with reasons, never exported; re-runs label only what is missing."""

import os
import signal
import subprocess
import sys
import time

import ase.io
import numpy as np
import pytest
from ase import Atoms
from ase.calculators.calculator import Calculator, all_changes
from ase.calculators.emt import EMT

from interforge.config.teacher import TeacherSection
from interforge.data import LabelStore, structure_hash
from interforge.teacher import label_structures, register_teacher, teacher_identity
from interforge.teacher.labelling import check_labels


def _harmonic(atoms: Atoms) -> tuple[float, np.ndarray]:
    """A pair potential with an analytic answer: E = sum_i k |r_i - r0_i|^2 about a lattice."""
    k = 0.5
    d = atoms.positions - np.round(atoms.positions / 2.0) * 2.0
    return float(k * np.sum(d**2)), -2 * k * d


class FlakyCalculator(Calculator):
    """Analytic teacher that misbehaves for chosen structures (tagged through atoms.info-free geometry)."""

    implemented_properties = ["energy", "forces", "stress"]
    calls: dict[int, int] = {}

    def calculate(self, atoms=None, properties=("energy",), system_changes=all_changes):
        super().calculate(atoms, properties, system_changes)
        kind = int(round(self.atoms.cell[0, 0] * 10)) % 10  # the cell length's first decimal says what to do
        key = int(round(self.atoms.cell[0, 0] * 1000))
        FlakyCalculator.calls[key] = FlakyCalculator.calls.get(key, 0) + 1
        e, f = _harmonic(self.atoms)
        if kind == 1:
            raise RuntimeError("SCF exploded")
        if kind == 2:
            e = float("nan")
        if kind == 3:
            f = f.copy()
            f[0, 0] = np.inf
        if kind == 4:
            f = f + 500.0
        if kind == 5 and FlakyCalculator.calls[key] == 1:
            raise OSError("node lost")  # transient: the retry succeeds
        if kind == 6:
            time.sleep(30)  # hangs: the timeout must stop it
        self.results = {"energy": e, "forces": f, "stress": np.zeros(6)}


register_teacher("flaky", lambda section, directory: FlakyCalculator())


def cells(kinds: list[int]) -> list[Atoms]:
    out = []
    for i, kind in enumerate(kinds):
        a = 8.0 + 0.1 * kind + 0.001 * (i + 1)
        rng = np.random.default_rng(i)
        pos = np.array([[0, 0, 0], [2, 2, 2], [4, 0, 2], [0, 4, 4.0]]) + rng.normal(0, 0.1, (4, 3))
        out.append(Atoms("Li2ClO", positions=pos, cell=[a, 8.0, 8.0], pbc=True))
    return out


def test_check_labels_reasons():
    f = np.zeros((2, 3))
    assert check_labels(2, -1.0, f, np.zeros(6), 50) == ""
    assert "non-finite energy" in check_labels(2, float("nan"), f, None, 50)
    assert "non-finite forces" in check_labels(2, 1.0, np.full((2, 3), np.inf), None, 50)
    assert "sanity bound" in check_labels(2, 1.0, np.full((2, 3), 60.0), None, 50)
    assert "wrong shape" in check_labels(2, 1.0, np.zeros((3, 3)), None, 50)


def test_failures_are_stored_with_reasons_and_never_exported(tmp_path):
    kinds = [0, 1, 0, 2, 3, 0, 4, 5]
    structs = cells(kinds)
    store = LabelStore(tmp_path / "labels.db")
    section = TeacherSection(name="flaky", retries=1, max_force=50.0)
    FlakyCalculator.calls.clear()
    report = label_structures(structs, store, section, progress=False)
    assert (report.n_labelled, report.n_failed) == (4, 4)

    rows = {r.struct_hash: r for r in store.rows()}
    assert len(rows) == len(structs)
    reasons = {kinds[i]: rows[structure_hash(a)].get("reason") for i, a in enumerate(structs)}
    assert "RuntimeError: SCF exploded" in reasons[1]
    assert "non-finite energy" in reasons[2]
    assert "non-finite forces" in reasons[3]
    assert "sanity bound" in reasons[4]
    ok = [r for r in rows.values() if r.get("status") == "ok"]
    for r in ok:  # the stored labels are the analytic teacher's
        e, f = _harmonic(r.toatoms())
        assert r.energy == pytest.approx(e) and np.allclose(r.forces, f)
    # The transient failure was retried once and then succeeded; the raising one was tried twice.
    transient = rows[structure_hash(structs[7])]
    assert transient.get("status") == "ok" and transient.get("attempts") == 2
    assert rows[structure_hash(structs[1])].get("attempts") == 2
    # NaN from a deterministic teacher is not retried.
    assert rows[structure_hash(structs[3])].get("attempts") == 1

    res = store.export_gpumd(tmp_path / "nep", 0.0)
    assert res.train == 4 and res.failed_skipped == 4
    n_frames = len(ase.io.read(tmp_path / "nep" / "train.xyz", index=":"))
    assert n_frames == 4

    # A re-run leaves finished and failed structures alone; --retry-failed tries the failed again.
    again = label_structures(structs, store, section, progress=False)
    assert (again.n_skipped, again.n_labelled, again.n_failed) == (8, 0, 0)
    retried = label_structures(structs, store, section, retry_failed=True, progress=False)
    assert retried.n_skipped == 4 and retried.n_failed == 4
    assert store.count() == 8


def test_a_hanging_teacher_times_out(tmp_path):
    store = LabelStore(tmp_path / "labels.db")
    section = TeacherSection(name="flaky", retries=0, timeout_s=0.3)
    t0 = time.perf_counter()
    report = label_structures(cells([6, 0]), store, section, progress=False)
    assert time.perf_counter() - t0 < 20
    assert (report.n_labelled, report.n_failed) == (1, 1)
    assert "timeout" in report.failures[0]["reason"]


def test_cli_label_with_parsl_threads_and_a_flaky_teacher(tmp_path, capsys):
    from interforge.cli.main import main

    ase.io.write(tmp_path / "in.xyz", cells([0, 1, 0, 2, 0, 0]))
    db = tmp_path / "labels.db"
    rc = main(["label", str(tmp_path / "in.xyz"), "--db", str(db), "--teacher", "flaky", "--executor", "threads",
               "--workers", "2", "--no-progress", "--workdir", str(tmp_path), "--json", str(tmp_path / "r.json")])
    assert rc == 5  # some labels failed: scripts can tell
    store = LabelStore(db)
    assert store.count(status="ok") == 4 and store.count(status="failed") == 2
    assert "labelled 4, failed 2" in capsys.readouterr().out
    rc = main(["label", str(tmp_path / "in.xyz"), "--db", str(db), "--teacher", "flaky", "--no-progress",
               "--workdir", str(tmp_path)])
    assert rc == 0 and store.count() == 6


def test_cli_label_bad_input_is_a_one_line_error(tmp_path, capsys):
    from interforge.cli.main import main

    assert main(["label", str(tmp_path / "missing.xyz"), "--db", str(tmp_path / "l.db"), "--workdir", str(tmp_path)]) == 2
    err = capsys.readouterr().err
    assert "missing.xyz" in err and "not found" in err


def _li_zr_cl_cells(n: int) -> list[Atoms]:
    """n distinct small cells of a Li-Zr-Cl-O mixture (rattled copies of one arrangement)."""
    base = Atoms("Li2ZrCl2O", positions=[[0, 0, 0], [2.6, 2.6, 0], [2.6, 0, 2.6], [0, 2.6, 2.6], [2.6, 2.6, 2.6],
                                         [0, 0, 2.6]], cell=[5.2, 5.2, 5.2], pbc=True)
    out = []
    for i in range(n):
        a = base.copy()
        a.rattle(0.05, seed=i)
        out.append(a)
    return out


@pytest.mark.slow
def test_sigkill_halfway_then_rerun_labels_each_structure_once(tmp_path):
    """Acceptance: 16 structures, default teacher, SIGKILL halfway, run again: each labelled exactly once."""
    structs = _li_zr_cl_cells(16)
    ase.io.write(tmp_path / "in.xyz", structs)
    db = tmp_path / "labels.db"
    cmd = [sys.executable, "-m", "interforge.cli.main", "label", str(tmp_path / "in.xyz"), "--db", str(db),
           "--no-progress", "--workdir", str(tmp_path)]
    env = dict(os.environ, OMP_NUM_THREADS="1", MKL_NUM_THREADS="1")
    proc = subprocess.Popen(cmd + ["--teacher", "default"], env=env, stdout=subprocess.DEVNULL,
                            stderr=subprocess.DEVNULL)
    import sqlite3

    def n_rows() -> int:
        if not db.exists():
            return 0
        try:
            with sqlite3.connect(db, timeout=5) as con:
                return con.execute("select count(*) from systems").fetchone()[0]
        except sqlite3.OperationalError:  # the schema is not there yet
            return 0

    deadline = time.time() + 240
    while n_rows() < 5 and proc.poll() is None and time.time() < deadline:
        time.sleep(0.05)
    proc.send_signal(signal.SIGKILL)
    proc.wait()
    at_kill = n_rows()
    assert 0 < at_kill < 16, f"the kill should land halfway, found {at_kill} rows"

    # Run again without --teacher: the default must be recognised as the same teacher.
    out = subprocess.run(cmd + ["--json", str(tmp_path / "r.json")], env=env, capture_output=True, text=True)
    assert out.returncode == 0, out.stderr
    import json

    report = json.loads((tmp_path / "r.json").read_text())
    assert report["n_skipped"] == at_kill and report["n_labelled"] == 16 - at_kill and report["n_failed"] == 0

    store = LabelStore(db)
    rows = list(store.rows())
    hashes = [r.struct_hash for r in rows]
    assert len(rows) == 16 and len(set(hashes)) == 16
    assert set(hashes) == {structure_hash(a) for a in structs}
    ident = teacher_identity("default")
    assert all(r.get("teacher_hash") == ident.hash and r.get("status") == "ok" for r in rows)


def test_a_broken_teacher_stops_the_run_before_anything_is_stored(tmp_path, monkeypatch):
    from interforge.teacher import TeacherError

    store = LabelStore(tmp_path / "labels.db")
    with pytest.raises(TeacherError, match="unknown teacher"):
        label_structures(cells([0, 0]), store, "psi4", progress=False)
    monkeypatch.delenv("VASP_PP_PATH", raising=False)
    with pytest.raises(TeacherError, match="VASP_PP_PATH"):
        label_structures(cells([0, 0]), store, TeacherSection(name="vasp"), scratch_root=tmp_path, progress=False)
    assert store.count() == 0


def test_cli_label_reads_an_ase_database_with_a_query(tmp_path):
    import ase.db

    from interforge.cli.main import main

    src = ase.db.connect(tmp_path / "candidates.db")
    for i, a in enumerate(cells([0, 0, 0, 0])):
        src.write(a, picked=int(i % 2 == 0))
    db = tmp_path / "labels.db"
    rc = main(["label", str(tmp_path / "candidates.db"), "--query", "picked=1", "--db", str(db), "--teacher", "flaky",
               "--no-progress", "--workdir", str(tmp_path)])
    assert rc == 0
    rows = list(LabelStore(db).rows())
    assert len(rows) == 2 and {r.get("source") for r in rows} == {"candidates.db:1", "candidates.db:3"}


# -- concurrent workers: claims with leases ---------------------------------------------------------
def test_a_live_claim_is_left_to_its_worker_and_an_expired_one_is_taken_over(store_url):
    store = LabelStore(store_url("claims"))
    section = TeacherSection(name="flaky")
    ident = teacher_identity(section)
    structs = cells([0, 0, 0, 0])
    hashes = [structure_hash(a) for a in structs]
    # Another worker is labelling structure 0 (its lease runs), and one that was killed held structure 1.
    assert store.claim(hashes[0], ident.hash, "worker-alive", lease_s=600) == "claimed"
    assert store.claim(hashes[1], ident.hash, "worker-killed", lease_s=0.2) == "claimed"
    time.sleep(0.4)
    FlakyCalculator.calls.clear()
    report = label_structures(structs, store, section, progress=False)
    assert (report.n_labelled, report.n_claimed_elsewhere, report.n_skipped) == (3, 1, 0)
    computed = set(FlakyCalculator.calls)
    assert computed == {int(round(a.cell[0, 0] * 1000)) for a in structs[1:]}  # never structure 0
    assert {r.struct_hash for r in store.rows()} == set(hashes[1:])
    # Our claims ended with the labels; the live worker's claim is untouched.
    assert [(c["struct_hash"], c["claimed_by"]) for c in store.claims()] == [(hashes[0], "worker-alive")]


def test_leases_are_renewed_while_a_label_computes(store_url):
    """A label that takes longer than the lease keeps its claim: the lease keeper renews it."""
    store = LabelStore(store_url("renew"))
    section = TeacherSection(name="slow-probe")
    seen = []

    class Probe(Calculator):
        implemented_properties = ["energy", "forces", "stress"]

        def calculate(self, atoms=None, properties=("energy",), system_changes=all_changes):
            super().calculate(atoms, properties, system_changes)
            time.sleep(1.0)  # four leases of 0.25 s
            seen.append([(c["claimed_by"], c["lease_left_s"]) for c in store.claims()])
            e, f = _harmonic(self.atoms)
            self.results = {"energy": e, "forces": f, "stress": np.zeros(6)}

    register_teacher("slow-probe", lambda section, directory: Probe())
    from interforge.teacher import labelling

    labelling._CALCS.clear()  # this run's Probe, not a cached one of the other store kind
    report = label_structures(cells([0]), store, section, progress=False, lease_s=0.25)
    assert report.n_labelled == 1
    [[(owner, left)]] = seen
    assert left > 0, "the lease expired while the label was computing"
    assert store.claims() == []


def _stub_label(tmp_path, db: str, inp, tag: str, env) -> subprocess.Popen:
    stub = os.path.join(os.path.dirname(__file__), "label_stub.py")
    cmd = [sys.executable, stub, "label", str(inp), "--db", db, "--teacher", "counting-emt", "--no-progress",
           "--workdir", str(tmp_path / tag), "--json", str(tmp_path / f"{tag}.json")]
    return subprocess.Popen(cmd, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)


def test_two_label_processes_on_one_store_label_each_structure_once(tmp_path, store_url):
    """Acceptance (issues 14, 16): two `interforge label` processes, same input, same store, at once."""
    import json

    from ase.build import bulk

    structs = []
    for i in range(24):
        a = bulk("Cu", "fcc", a=3.6, cubic=True)
        a.rattle(0.05, seed=i)
        structs.append(a)
    inp = tmp_path / "in.xyz"
    ase.io.write(inp, structs)
    db = store_url("shared")
    LabelStore(db)  # both processes open an existing store (creating it at once is tested elsewhere)
    calls = tmp_path / "calls.log"
    barrier = tmp_path / "barrier"
    barrier.mkdir()
    env = dict(os.environ, OMP_NUM_THREADS="1", IF_TEST_CALL_LOG=str(calls), IF_TEST_SLEEP="0.05",
               IF_TEST_BARRIER=str(barrier), IF_TEST_PARTIES="2")
    procs = [_stub_label(tmp_path, db, inp, tag, env) for tag in ("a", "b")]
    outs = [p.communicate(timeout=300) for p in procs]
    for p, (out, err) in zip(procs, outs):
        assert p.returncode == 0, err
    reports = [json.loads((tmp_path / f"{tag}.json").read_text()) for tag in ("a", "b")]

    # Who computed what, from the teacher's own record of its calls.
    by_hash: dict[str, set[str]] = {}
    for line in calls.read_text().splitlines():
        pid, h = line.split()
        by_hash.setdefault(h, set()).add(pid)
    expected = {structure_hash(a) for a in structs}
    assert set(by_hash) == expected
    assert all(len(pids) == 1 for pids in by_hash.values()), "a structure was computed by both processes"
    per_pid = {str(p.pid): sum(str(p.pid) in pids for pids in by_hash.values()) for p in procs}
    assert all(n > 0 for n in per_pid.values()), f"one process did all the work: {per_pid}"
    for p, rep in zip(procs, reports):
        assert rep["n_labelled"] == per_pid[str(p.pid)]
        assert rep["n_labelled"] + rep["n_skipped"] + rep["n_claimed_elsewhere"] == len(structs)
    store = LabelStore(db)
    rows = list(store.rows())
    assert len(rows) == len(structs) and {r.struct_hash for r in rows} == expected
    assert all(r.get("status") == "ok" for r in rows)
    assert store.claims() == []
    # The stored labels are EMT's for each structure.
    for r in rows:
        atoms = r.toatoms()
        atoms.calc = EMT()
        assert r.energy == pytest.approx(atoms.get_potential_energy(), abs=1e-9)


def test_a_claim_of_a_dead_local_worker_is_taken_over_at_once(store_url):
    import socket

    store = LabelStore(store_url("dead"))
    section = TeacherSection(name="flaky")
    ident = teacher_identity(section)
    structs = cells([0, 0])
    gone = subprocess.Popen([sys.executable, "-c", "pass"])
    gone.wait()  # its pid now names no process
    dead = f"{socket.gethostname()}:{gone.pid}:0"
    assert store.claim(structure_hash(structs[0]), ident.hash, dead, lease_s=600) == "claimed"
    report = label_structures(structs, store, section, progress=False)
    assert (report.n_labelled, report.n_claimed_elsewhere) == (2, 0)
    assert store.claims() == []


def test_kill_9_then_the_same_command_labels_each_structure_once(tmp_path, store_url):
    """A label process killed mid-run holds a claim; the re-run takes it over at once and labels the rest."""
    import json

    from ase.build import bulk

    structs = []
    for i in range(16):
        a = bulk("Cu", "fcc", a=3.6, cubic=True)
        a.rattle(0.05, seed=100 + i)
        structs.append(a)
    inp = tmp_path / "in.xyz"
    ase.io.write(inp, structs)
    db = store_url("killed")
    store = LabelStore(db)
    calls = tmp_path / "calls.log"
    env = dict(os.environ, OMP_NUM_THREADS="1", IF_TEST_CALL_LOG=str(calls), IF_TEST_SLEEP="0.15")
    proc = _stub_label(tmp_path, db, inp, "first", env)
    deadline = time.time() + 120
    while store.count() < 4 and proc.poll() is None and time.time() < deadline:
        time.sleep(0.02)
    proc.send_signal(signal.SIGKILL)
    proc.communicate()
    at_kill = store.count()
    assert 0 < at_kill < 16
    held = store.claims()  # the structure in flight, claimed by the dead process (none if killed between two)
    assert len(held) <= 1 and all(c["claimed_by"].split(":")[1] == str(proc.pid) for c in held)

    again = _stub_label(tmp_path, db, inp, "second", dict(env, IF_TEST_SLEEP="0"))
    out, err = again.communicate(timeout=120)
    assert again.returncode == 0, err
    report = json.loads((tmp_path / "second.json").read_text())
    assert (report["n_skipped"], report["n_labelled"], report["n_claimed_elsewhere"]) == (at_kill, 16 - at_kill, 0)
    rows = list(store.rows())
    assert len(rows) == 16 and {r.struct_hash for r in rows} == {structure_hash(a) for a in structs}
    assert store.claims() == []
