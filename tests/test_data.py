"""The labelled-data store and GPUMD train.xyz exchange."""

import numpy as np
import pytest
from ase import Atoms
from ase.build import bulk
from ase.calculators.emt import EMT
from ase.io import read

from interforge.data import LabelStore, Record, read_labelled_xyz, split_fraction, structure_hash
from interforge.errors import DataStoreError


def labelled(seed: int, n_rattle: float = 0.05) -> Atoms:
    atoms = bulk("Cu", "fcc", a=3.6, cubic=True).repeat((2, 1, 1))
    atoms.rattle(n_rattle, seed=seed)
    atoms.cell *= 1 + 0.01 * (seed % 3)
    atoms.calc = EMT()
    atoms.get_potential_energy(), atoms.get_forces(), atoms.get_stress()
    return atoms


def record(seed: int, **kw) -> Record:
    return Record.from_labelled(labelled(seed), source="test", stage="seed", teacher="emt", teacher_hash="h1", **kw)


def test_structure_hash_ignores_lattice_translations_and_sees_real_changes():
    a = labelled(0)
    b = a.copy()
    b.positions += a.cell[0]  # one whole lattice vector
    assert structure_hash(a) == structure_hash(b)
    c = a.copy()
    c.positions[0, 0] += 0.01
    assert structure_hash(a) != structure_hash(c)


def test_duplicates_are_stored_once_and_failed_rows_are_replaced(tmp_path, store_url):
    store = LabelStore(store_url("s"))
    first = store.add(record(1))
    again = store.add(record(1))
    assert first.added and not again.added and first.id == again.id
    # same structure, other teacher settings: a separate label
    other = Record.from_labelled(labelled(1), teacher="emt", teacher_hash="h2")
    assert store.add(other).added
    # a failure, then a success for the same structure: the success replaces the failure
    failed = Record(atoms=labelled(2), status="failed", reason="SCF not converged", teacher_hash="h1")
    assert store.add(failed).added
    assert store.count(status="failed") == 1
    assert store.add(record(2)).added
    assert store.count(status="failed") == 0 and store.count() == 3


def test_a_batch_with_a_bad_record_writes_nothing(tmp_path, store_url):
    store = LabelStore(store_url("s"))
    bad = Record(atoms=labelled(5), energy=float("nan"), forces=np.zeros((8, 3)))
    with pytest.raises(DataStoreError, match="finite energy"):
        store.add_many([record(3), record(4), bad])
    assert store.count() == 0


def test_a_crash_inside_the_transaction_rolls_back(tmp_path, store_url, monkeypatch):
    url = store_url("s")
    store = LabelStore(url)
    store.add(record(0))
    calls = {"n": 0}
    original = store._write

    def flaky(db, rec):
        calls["n"] += 1
        if calls["n"] == 2:
            raise RuntimeError("disk full")
        return original(db, rec)

    monkeypatch.setattr(store, "_write", flaky)
    with pytest.raises(RuntimeError):
        store.add_many([record(1), record(2), record(3)])
    assert LabelStore(url).count() == 1


def test_records_without_labels_are_rejected(tmp_path):
    atoms = bulk("Cu", cubic=True)
    with pytest.raises(DataStoreError, match="no energy"):
        Record.from_labelled(atoms)
    with pytest.raises(DataStoreError, match="no forces"):
        Record(atoms=atoms, energy=-1.0).validate()
    with pytest.raises(DataStoreError, match="reason"):
        Record(atoms=atoms, status="failed").validate()


def _parse_gpumd_xyz(path):
    """An independent reader written from GPUMD's documented train.xyz syntax (not from our writer)."""
    frames = []
    lines = open(path).read().splitlines()
    k = 0
    while k < len(lines):
        n = int(lines[k])
        header = lines[k + 1]
        fields = {}
        for token in __import__("shlex").split(header):
            key, _, value = token.partition("=")
            fields[key.lower()] = value
        props = fields["properties"].split(":")
        assert props[:2] == ["species", "S"] and "pos" in props and ("force" in props or "forces" in props)
        rows = [lines[k + 2 + i].split() for i in range(n)]
        frames.append({
            "lattice": np.array(fields["lattice"].split(), float).reshape(3, 3),
            "energy": float(fields["energy"]),
            "virial": np.array(fields["virial"].split(), float).reshape(3, 3) if "virial" in fields else None,
            "species": [r[0] for r in rows],
            "pos": np.array([r[1:4] for r in rows], float),
            "force": np.array([r[4:7] for r in rows], float),
        })
        k += n + 2
    return frames


def test_export_is_read_back_identically_by_ase_and_an_independent_reader(tmp_path, store_url):
    store = LabelStore(store_url("s"))
    originals = {structure_hash(a): a for a in (labelled(i) for i in range(12))}
    store.add_many([Record.from_labelled(a, teacher_hash="h") for a in originals.values()])
    store.add(Record(atoms=labelled(99), status="failed", reason="NaN forces", teacher_hash="h"))
    res = store.export_gpumd(tmp_path / "out", test_fraction=0.25, salt=7)
    assert res.train + res.test == 12 and res.failed_skipped == 1
    for name in ("train.xyz", "test.xyz"):
        path = tmp_path / "out" / name
        ours = _parse_gpumd_xyz(path) if path.stat().st_size else []
        by_ase = read(path, ":") if ours else []
        for frame, ase_atoms in zip(ours, by_ase):
            ref = originals[structure_hash(ase_atoms)]
            np.testing.assert_allclose(frame["lattice"], ref.cell[:], atol=1e-9)
            np.testing.assert_allclose(frame["pos"], ref.positions, atol=1e-9)
            np.testing.assert_allclose(frame["force"], ref.get_forces(), atol=1e-9)
            assert frame["species"] == ref.get_chemical_symbols()
            # GPUMD units: total energy in eV, total virial in eV = -stress * volume
            assert frame["energy"] == pytest.approx(ref.get_potential_energy(), abs=1e-9)
            np.testing.assert_allclose(frame["virial"], -ref.get_stress(voigt=False) * ref.get_volume(), atol=1e-8)
            assert ase_atoms.get_potential_energy() == pytest.approx(frame["energy"], abs=1e-9)
            np.testing.assert_allclose(ase_atoms.arrays["force"], frame["force"], atol=1e-9)  # GPUMD name


def test_split_is_reproducible_and_stable_when_data_grow(tmp_path, store_url):
    hashes = [structure_hash(labelled(i)) for i in range(40)]
    side = {h: split_fraction(h, 3) < 0.2 for h in hashes}
    store = LabelStore(store_url("s"))
    store.add_many([record(i) for i in range(20)])
    first = store.export_gpumd(tmp_path / "a", 0.2, salt=3)
    store.add_many([record(i) for i in range(20, 40)])
    store.export_gpumd(tmp_path / "b", 0.2, salt=3)
    test_a = {structure_hash(a) for a in read(tmp_path / "a" / "test.xyz", ":")} if first.test else set()
    test_b = {structure_hash(a) for a in read(tmp_path / "b" / "test.xyz", ":")}
    assert test_a <= test_b
    assert test_b == {h for h, t in side.items() if t}


def test_import_round_trip_and_bad_files(tmp_path, store_url):
    store = LabelStore(store_url("s"))
    store.add_many([record(i) for i in range(5)])
    store.export_gpumd(tmp_path / "x", 0.0)
    other = LabelStore(store_url("t"))
    assert other.import_xyz(tmp_path / "x" / "train.xyz") == {"read": 5, "added": 5, "duplicates": 0}
    assert other.import_xyz(tmp_path / "x" / "train.xyz")["duplicates"] == 5
    back = {structure_hash(a): a for a in other.labelled()}
    for a in (labelled(i) for i in range(5)):
        b = back[structure_hash(a)]
        np.testing.assert_allclose(b.get_stress(), a.get_stress(), atol=1e-9)
        assert b.info["status"] == "ok" and b.info["teacher"] == "import"

    bad = tmp_path / "bad.xyz"
    bad.write_text("3\nlattice=\"1 0 0 0 1 0 0 0 1\"\nCu 0 0\n")
    with pytest.raises(DataStoreError, match="cannot read"):
        other.import_xyz(bad)
    noenergy = tmp_path / "noenergy.xyz"
    bulk("Cu", cubic=True).write(noenergy, format="extxyz")
    with pytest.raises(DataStoreError, match="frame 0 has no energy"):
        read_labelled_xyz(noenergy)
    with pytest.raises(DataStoreError, match="not found"):
        read_labelled_xyz(tmp_path / "missing.xyz")


def test_stats_and_bad_urls(tmp_path, store_url):
    store = LabelStore(store_url("s"))
    store.add_many([record(i) for i in range(3)])
    store.add(Record(atoms=labelled(9), status="failed", reason="timeout", teacher_hash="h1"))
    stats = store.stats()
    assert (stats["n_structures"], stats["n_ok"], stats["n_failed"]) == (4, 3, 1)
    assert stats["by_stage"] == {"seed": 3, "unknown": 1}
    assert stats["failure_reasons"] == {"timeout": 1}
    with pytest.raises(DataStoreError, match="must be an SQLite file"):
        LabelStore(tmp_path / "store.txt")


def test_a_new_store_has_its_schema_and_marker_before_the_first_write(tmp_path):
    import sqlite3

    LabelStore(tmp_path / "new.db")
    with sqlite3.connect(tmp_path / "new.db") as con:
        tables = {r[0] for r in con.execute("SELECT name FROM sqlite_master WHERE type='table'")}
        marker = dict(con.execute("SELECT name, value FROM interforge_store"))
    assert {"systems", "information", "interforge_store", "interforge_claims"} <= tables
    assert marker == {"schema_version": "1", "created_by": "interforge"}
