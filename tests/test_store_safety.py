"""The label store never modifies a file it did not create; claims keep concurrent workers apart.

Foreign databases (a user's own table, a plain ASE database, a text file, a corrupt file) are refused
with a one-line error and left byte-identical; read-only verbs never create a store; a store written
before the schema marker existed is recognised and keeps its data.
"""

import hashlib
import sqlite3
import time

import ase.db
import ase.io
import numpy as np
import pytest
from ase.build import bulk
from ase.calculators.emt import EMT

from interforge.cli.main import main
from interforge.data import LabelStore, Record, structure_hash
from interforge.errors import DataStoreError


@pytest.fixture(autouse=True)
def _log_to_this_tests_stderr():
    """main() binds the interforge logger to the stderr of its time; start each test on the current one."""
    from interforge.logs import configure_logging

    configure_logging()


def labelled(seed: int):
    atoms = bulk("Cu", "fcc", a=3.6, cubic=True)
    atoms.rattle(0.05, seed=seed)
    atoms.calc = EMT()
    atoms.get_potential_energy(), atoms.get_forces(), atoms.get_stress()
    return atoms


def digest(path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def run_cli(args, capsys):
    rc = main(args)
    cap = capsys.readouterr()
    return rc, cap.out, cap.err


def user_sqlite(path):
    """A user's own SQLite file: one table with rows."""
    with sqlite3.connect(path) as con:
        con.execute("CREATE TABLE experiments (id INTEGER PRIMARY KEY, sample TEXT, yield REAL)")
        con.executemany("INSERT INTO experiments (sample, yield) VALUES (?, ?)", [("a", 0.5), ("b", 0.7)])
    return path


def plain_ase_db(path):
    """A user's ASE database (not written by interforge): the same tables as a store, other rows."""
    db = ase.db.connect(path)
    db.write(bulk("Cu"), picked=1)
    return path


def corrupt_sqlite(path):
    """An SQLite header followed by garbage."""
    path.write_bytes(b"SQLite format 3\x00" + bytes(range(256)) * 40)
    return path


def truncated_store(path, tmp_path):
    """A real store with rows, cut short."""
    good = tmp_path / "good.db"
    store = LabelStore(good)
    store.add_many([Record.from_labelled(labelled(i), teacher_hash="h") for i in range(40)])
    data = good.read_bytes()
    path.write_bytes(data[: len(data) // 3])
    return path


FOREIGN = {
    "user-table": lambda p, t: user_sqlite(p),
    "plain-ase-db": lambda p, t: plain_ase_db(p),
    "text-file": lambda p, t: p.write_text("this is my lab notebook, not a database\n") and p,
    "corrupt": lambda p, t: corrupt_sqlite(p),
    "empty-sqlite": lambda p, t: sqlite3.connect(p).execute("PRAGMA user_version = 7") and p,
}


@pytest.mark.parametrize("kind", sorted(FOREIGN))
def test_a_foreign_file_is_refused_and_left_byte_identical(tmp_path, kind):
    path = tmp_path / "mine.db"
    FOREIGN[kind](path, tmp_path)
    before = digest(path)
    for create in (True, False):
        with pytest.raises(DataStoreError) as err:
            LabelStore(path, create=create)
        message = str(err.value)
        assert "\n" not in message and str(path) in message
        assert "refusing to touch it" in message
    assert digest(path) == before
    assert sorted(p.name for p in tmp_path.iterdir()) == ["mine.db"]  # no side files left either


@pytest.mark.parametrize("kind", ["user-table", "plain-ase-db", "text-file", "corrupt", "truncated"])
def test_every_store_verb_refuses_a_foreign_or_broken_file(tmp_path, capsys, kind):
    path = tmp_path / "mine.db"
    if kind == "truncated":
        truncated_store(path, tmp_path)
    else:
        FOREIGN[kind](path, tmp_path)
    before = digest(path)
    frames = tmp_path / "frames.xyz"
    ase.io.write(frames, [labelled(i) for i in range(2)])
    structures = tmp_path / "in.xyz"
    ase.io.write(structures, [bulk("Cu", cubic=True)])
    common = ["--workdir", str(tmp_path)]
    verbs = [
        ["data", "stats", "--db", str(path)],
        ["data", "export", "--db", str(path), "--out", str(tmp_path / "out")],
        ["data", "import", str(frames), "--db", str(path)],
        ["label", str(structures), "--db", str(path), "--teacher", "bogus", "--no-progress"],
        ["label", str(structures), "--db", str(path), "--teacher", "default", "--no-progress"],
    ]
    for argv in verbs:
        rc, out, err = run_cli(argv + common, capsys)
        assert rc == 2, (argv, out, err)
        lines = err.strip().splitlines()
        assert len(lines) == 1 and lines[0].startswith("interforge: error:"), (argv, err)
        assert "Traceback" not in err
        assert digest(path) == before, argv
    assert not (tmp_path / "out").exists()


def test_read_only_verbs_never_create_a_store(tmp_path, capsys):
    missing = tmp_path / "typo" / "labels.db"
    for argv in (["data", "stats", "--db", str(missing)],
                 ["data", "export", "--db", str(missing), "--out", str(tmp_path / "out")]):
        rc, _, err = run_cli(argv + ["--workdir", str(tmp_path)], capsys)
        assert rc == 2 and "no such store" in err and len(err.strip().splitlines()) == 1
    assert not missing.exists() and not missing.parent.exists()
    # A write verb that fails on its input leaves no new store behind either.
    (tmp_path / "bad.xyz").write_text("2\nLattice=\"1 0 0 0 1 0 0 0 1\"\nCu 0 0 x\nCu\n")
    rc, _, err = run_cli(["data", "import", str(tmp_path / "bad.xyz"), "--db", str(missing),
                          "--workdir", str(tmp_path)], capsys)
    assert rc == 2 and "cannot read" in err and not missing.parent.exists()
    with pytest.raises(DataStoreError, match="no such store"):
        LabelStore(tmp_path / "nope.db", create=False)
    assert not (tmp_path / "nope.db").exists()


def test_label_creates_a_store_where_nothing_is_or_in_an_empty_file(tmp_path):
    fresh = tmp_path / "sub" / "new.db"
    empty = tmp_path / "empty.db"
    empty.touch()
    for path in (fresh, empty):
        store = LabelStore(path)
        store.add(Record.from_labelled(labelled(1), teacher_hash="h"))
        assert LabelStore(path, create=False).count() == 1
    # A store is never created over another: the second open finds the first one's row.
    assert LabelStore(fresh).count() == 1


def _old_style_store(path, rows: int, metadata: bool):
    """A store as interforge wrote them before the schema marker: a plain ASE database whose rows
    carry the provenance keys, written here with ASE directly."""
    db = ase.db.connect(path)
    db.count()
    if metadata:
        db.metadata = {"created_by": "interforge"}
    originals = {}
    for i in range(rows):
        atoms = labelled(i)
        h = structure_hash(atoms)
        originals[h] = atoms
        db.write(atoms, key_value_pairs={"source": "old", "stage": "seed", "iteration": 0, "teacher": "emt",
                                         "teacher_hash": "h", "status": "ok", "reason": "", "struct_hash": h})
    return originals


@pytest.mark.parametrize("rows,metadata", [(3, True), (3, False), (0, True)])
def test_a_store_from_before_the_marker_is_recognised_and_keeps_its_data(tmp_path, rows, metadata):
    path = tmp_path / "old.db"
    originals = _old_style_store(path, rows, metadata)
    store = LabelStore(path, create=False)
    with sqlite3.connect(path) as con:
        marker = dict(con.execute("SELECT name, value FROM interforge_store"))
    assert marker["schema_version"] == "1"
    assert store.count() == rows
    for atoms in store.labelled():
        ref = originals[structure_hash(atoms)]
        assert atoms.get_potential_energy() == pytest.approx(ref.get_potential_energy(), abs=1e-12)
        np.testing.assert_allclose(atoms.get_forces(), ref.get_forces(), atol=1e-12)
    # It works as a store afterwards: duplicates are recognised, new rows land, claims work.
    if rows:
        assert not store.add(Record.from_labelled(next(iter(originals.values())), teacher_hash="h")).added
    assert store.add(Record.from_labelled(labelled(100), teacher_hash="h")).added
    assert store.claim("x", "h", "me") == "claimed"


def test_newer_or_damaged_stores_are_refused(tmp_path):
    newer = tmp_path / "newer.db"
    LabelStore(newer)
    with sqlite3.connect(newer) as con:
        con.execute("UPDATE interforge_store SET value = '99' WHERE name = 'schema_version'")
    before = digest(newer)
    with pytest.raises(DataStoreError, match="schema version 99"):
        LabelStore(newer)
    damaged = tmp_path / "damaged.db"
    LabelStore(damaged)
    with sqlite3.connect(damaged) as con:
        con.execute("DROP TABLE systems")
    with pytest.raises(DataStoreError, match="damaged interforge store.*systems"):
        LabelStore(damaged)
    assert digest(newer) == before


# -- PostgreSQL ------------------------------------------------------------------------------------
def _pg_tables(url):
    import psycopg2

    con = psycopg2.connect(url)
    try:
        cur = con.cursor()
        cur.execute("SELECT table_name FROM information_schema.tables WHERE table_schema = current_schema()")
        return sorted(r[0] for r in cur.fetchall())
    finally:
        con.close()


@pytest.mark.postgres
def test_postgres_foreign_database_is_refused_untouched(postgres_db, tmp_path, capsys):
    import psycopg2

    url = postgres_db()
    con = psycopg2.connect(url)
    with con, con.cursor() as cur:
        cur.execute("CREATE TABLE experiments (id SERIAL PRIMARY KEY, sample TEXT)")
        cur.execute("INSERT INTO experiments (sample) VALUES ('a'), ('b')")
    con.close()
    with pytest.raises(DataStoreError, match="not an interforge label store.*experiments"):
        LabelStore(url)
    rc, _, err = run_cli(["data", "stats", "--db", url, "--workdir", str(tmp_path)], capsys)
    assert rc == 2 and len(err.strip().splitlines()) == 1
    assert _pg_tables(url) == ["experiments"]
    con = psycopg2.connect(url)
    with con, con.cursor() as cur:
        cur.execute("SELECT sample FROM experiments ORDER BY id")
        assert [r[0] for r in cur.fetchall()] == ["a", "b"]
    con.close()


@pytest.mark.postgres
def test_postgres_empty_database_is_no_store_for_readers_and_a_new_store_for_writers(postgres_db):
    url = postgres_db()
    with pytest.raises(DataStoreError, match="no such store"):
        LabelStore(url, create=False)
    assert _pg_tables(url) == []
    LabelStore(url).add(Record.from_labelled(labelled(0), teacher_hash="h"))
    assert LabelStore(url, create=False).count() == 1
    assert {"interforge_store", "interforge_claims", "systems"} <= set(_pg_tables(url))


@pytest.mark.postgres
def test_postgres_store_from_before_the_marker_is_migrated(postgres_db):
    url = postgres_db()
    originals = _old_style_store(url, 2, metadata=False)
    assert "interforge_store" not in _pg_tables(url)
    store = LabelStore(url)
    assert "interforge_store" in _pg_tables(url)
    assert {structure_hash(a) for a in store.labelled()} == set(originals)


# -- claims ----------------------------------------------------------------------------------------
def test_claims_lease_and_take_over(store_url):
    store = LabelStore(store_url("claims"))
    a, b = store.new_owner(), store.new_owner()
    assert a != b
    assert store.claim("s1", "t", a, lease_s=60) == "claimed"
    assert store.claim("s1", "t", b, lease_s=60) == "busy"
    assert store.claim("s1", "t", a, lease_s=60) == "claimed"  # the owner may claim again
    assert store.claim("s1", "t2", b, lease_s=60) == "claimed"  # other teacher settings: another label
    [c1, c2] = store.claims()
    assert c1["claimed_by"] == a and 0 < c1["lease_left_s"] <= 60
    # A lease that is not renewed expires and another worker takes the structure over.
    assert store.claim("s2", "t", a, lease_s=0.3) == "claimed"
    assert store.claim("s2", "t", b) == "busy"
    time.sleep(0.5)
    assert store.claim("s2", "t", b) == "claimed"
    # Renewing keeps a lease alive.
    assert store.claim("s3", "t", a, lease_s=0.5) == "claimed"
    for _ in range(3):
        time.sleep(0.25)
        assert store.renew_claims(a, lease_s=0.5) == 2  # s1 and s3 (s2 went to b)
        assert store.claim("s3", "t", b) == "busy"
    # A stored label ends the game: claiming it says "done"; writing it drops the writer's claim.
    atoms = labelled(3)
    h = structure_hash(atoms)
    assert store.claim(h, "h", a) == "claimed"
    store.add_many([Record.from_labelled(atoms, teacher_hash="h")], release_claims_of=a)
    assert all(c["struct_hash"] != h for c in store.claims())
    assert store.claim(h, "h", b) == "done"
    assert all(c["struct_hash"] != h for c in store.claims())
    assert store.release(a) == 2 and store.release(b) == 2
    assert store.claims() == []


def test_processes_creating_one_store_at_once_never_replace_each_others(tmp_path):
    """Four processes open a missing store at the same moment and each writes a row: all four rows stay."""
    import subprocess
    import sys

    path = tmp_path / "new.db"
    go = tmp_path / "go"
    script = (
        "import sys, time, os\n"
        "from ase.build import bulk\n"
        "from ase.calculators.singlepoint import SinglePointCalculator\n"
        "from interforge.data import LabelStore, Record\n"
        "seed = int(sys.argv[1])\n"
        "a = bulk('Cu', cubic=True); a.rattle(0.05, seed=seed)\n"
        "a.calc = SinglePointCalculator(a, energy=-1.0 * seed, forces=[[0, 0, 0]] * 4)\n"
        f"while not os.path.exists({str(go)!r}): time.sleep(0.005)\n"
        f"LabelStore({str(path)!r}).add(Record.from_labelled(a, teacher_hash='h'))\n"
    )
    procs = [subprocess.Popen([sys.executable, "-c", script, str(i + 1)]) for i in range(4)]
    time.sleep(2.0)  # let every process import and wait at the line
    go.touch()
    assert [p.wait(timeout=120) for p in procs] == [0, 0, 0, 0]
    store = LabelStore(path, create=False)
    assert sorted(a.get_potential_energy() for a in store.labelled()) == [-4.0, -3.0, -2.0, -1.0]
    assert sorted(p.name for p in tmp_path.iterdir()) == ["go", "new.db"]
