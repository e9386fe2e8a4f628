"""The labelled-data store: an ASE database (SQLite file by default, PostgreSQL by URL).

Each row is one structure with its labels (energy eV, forces eV/Å, stress eV/Å³) and provenance
keys: ``source`` (where the structure came from), ``stage`` (seed, active, import, ...),
``iteration``, ``teacher`` and ``teacher_hash`` (a hash of the teacher's settings), ``status``
(``ok`` or ``failed``) with ``reason``, and ``struct_hash`` (duplicate detection).

Writes are transactions: a batch lands whole or not at all. A structure already stored with
the same teacher settings is not stored twice; a failed label is replaced by a later success.
"""

from __future__ import annotations

import logging
import math
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Iterable, Iterator

import numpy as np
from ase import Atoms
from ase.calculators.singlepoint import SinglePointCalculator

from interforge.data.gpumd_xyz import read_labelled_xyz, write_gpumd_xyz
from interforge.data.hashing import split_fraction, structure_hash
from interforge.errors import DataStoreError
from interforge.fileio import atomic_path

log = logging.getLogger(__name__)

PROVENANCE_KEYS = ("source", "stage", "iteration", "teacher", "teacher_hash", "status", "reason", "struct_hash")
STATUS_OK, STATUS_FAILED = "ok", "failed"


@dataclass
class Record:
    """One structure to store. Labels are required when ``status`` is ``ok``."""

    atoms: Atoms
    energy: float | None = None
    forces: np.ndarray | None = None
    stress: np.ndarray | None = None
    source: str = ""
    stage: str = ""
    iteration: int = 0
    teacher: str = ""
    teacher_hash: str = ""
    status: str = STATUS_OK
    reason: str = ""
    extra: dict[str, Any] = field(default_factory=dict)

    @classmethod
    def from_labelled(cls, atoms: Atoms, **provenance) -> "Record":
        """A record from Atoms whose calculator holds energy/forces (and optionally stress)."""
        if atoms.calc is None or "energy" not in atoms.calc.results:
            raise DataStoreError("structure has no energy; it cannot be stored as labelled")
        res = atoms.calc.results
        return cls(atoms=atoms, energy=res.get("energy"), forces=res.get("forces"), stress=res.get("stress"), **provenance)

    def validate(self) -> None:
        if self.status not in (STATUS_OK, STATUS_FAILED):
            raise DataStoreError(f"status must be 'ok' or 'failed', not '{self.status}'")
        if self.status == STATUS_FAILED:
            if not self.reason:
                raise DataStoreError("a failed record needs a reason")
            return
        n = len(self.atoms)
        if self.energy is None or not math.isfinite(float(self.energy)):
            raise DataStoreError(f"structure ({self.atoms.get_chemical_formula()}) has no finite energy")
        if self.forces is None:
            raise DataStoreError(f"structure ({self.atoms.get_chemical_formula()}) has no forces")
        f = np.asarray(self.forces, dtype=float)
        if f.shape != (n, 3) or not np.all(np.isfinite(f)):
            raise DataStoreError(f"forces must be a finite ({n}, 3) array, got shape {f.shape}")
        if self.stress is not None:
            s = np.asarray(self.stress, dtype=float)
            if s.shape not in ((6,), (3, 3)) or not np.all(np.isfinite(s)):
                raise DataStoreError(f"stress must be finite Voigt-6 or 3x3, got shape {s.shape}")


@dataclass
class AddResult:
    id: int
    added: bool
    struct_hash: str


@dataclass
class ExportResult:
    train: int
    test: int
    failed_skipped: int
    train_path: str
    test_path: str


def _connect(url: str | Path):
    import ase.db

    url = str(url)
    if url.startswith(("postgresql://", "postgres://")):
        try:
            return ase.db.connect(url, type="postgresql")
        except ImportError as err:
            raise DataStoreError(f"PostgreSQL store needs psycopg2 (pip install 'interforge[postgres]'): {err}") from None
    path = Path(url)
    if path.suffix not in (".db", ".sqlite"):
        raise DataStoreError(f"store '{url}' must be an SQLite file ending in .db or a postgresql:// URL")
    path.parent.mkdir(parents=True, exist_ok=True)
    _ensure_sqlite_schema(path)
    return ase.db.connect(path, type="db")


def _sqlite_tables(path: Path) -> set[str]:
    import sqlite3

    with sqlite3.connect(path) as con:
        return {row[0] for row in con.execute("SELECT name FROM sqlite_master WHERE type='table'")}


def _ensure_sqlite_schema(path: Path) -> None:
    """Create the SQLite schema atomically (in a temporary file, then renamed into place).

    ASE creates its tables lazily, statement by statement; a process killed during that leaves a
    file that ASE can no longer open. Creating the schema beforehand in a side file closes that
    window. A half-initialised file without any stored row is rebuilt; one with rows is reported.
    """
    import ase.db

    if path.exists():
        tables = _sqlite_tables(path)
        if {"systems", "information"} <= tables:
            return
        if "systems" in tables:
            import sqlite3

            with sqlite3.connect(path) as con:
                n = con.execute("SELECT COUNT(*) FROM systems").fetchone()[0]
            if n:
                raise DataStoreError(f"store {path} has {n} rows but an incomplete schema; repair or restore it")
        log.warning("store %s was left half-created by an interrupted run; recreating it (it held no rows)", path)
    with atomic_path(path) as tmp:
        tmp.unlink()  # ase.db must create the file itself
        db = ase.db.connect(tmp, type="db")
        db.count()  # the first connection creates every table
        db.metadata = {"created_by": "interforge"}


class LabelStore:
    """Labelled structures with provenance in an ASE database."""

    def __init__(self, url: str | Path):
        self.url = str(url)
        self.db = _connect(url)

    # -- writing -------------------------------------------------------------------------
    def add(self, record: Record) -> AddResult:
        """Store one record (a transaction of its own)."""
        return self.add_many([record])[0]

    def add_many(self, records: Iterable[Record]) -> list[AddResult]:
        """Store records in one transaction; any invalid record aborts the whole batch."""
        records = list(records)
        for rec in records:
            rec.validate()
        results = []
        with self.db as db:
            for rec in records:
                results.append(self._write(db, rec))
        return results

    def _write(self, db, rec: Record) -> AddResult:
        h = structure_hash(rec.atoms)
        teacher_hash = rec.teacher_hash or "none"
        existing = list(db.select(struct_hash=h, teacher_hash=teacher_hash))
        ok_rows = [r for r in existing if r.get("status") == STATUS_OK]
        if ok_rows or (existing and rec.status == STATUS_FAILED):
            return AddResult(existing[0].id, False, h)
        if existing:  # only failed rows: a success replaces them
            db.delete([r.id for r in existing])
        atoms = rec.atoms.copy()
        if rec.status == STATUS_OK:
            kwargs = {"energy": float(rec.energy), "forces": np.asarray(rec.forces, dtype=float)}
            if rec.stress is not None:
                kwargs["stress"] = np.asarray(rec.stress, dtype=float)
            atoms.calc = SinglePointCalculator(atoms, **kwargs)
        kvp = {
            "source": rec.source or "unknown", "stage": rec.stage or "unknown", "iteration": int(rec.iteration),
            "teacher": rec.teacher or "unknown", "teacher_hash": teacher_hash,
            "status": rec.status, "reason": rec.reason or "", "struct_hash": h,
        }
        kvp.update(rec.extra)
        row_id = db.write(atoms, key_value_pairs=kvp)
        return AddResult(row_id, True, h)

    # -- reading -------------------------------------------------------------------------
    def count(self, **selection) -> int:
        return self.db.count(**selection)

    def rows(self, *query, **selection) -> Iterator:
        """ASE database rows matching an ASE query string and/or key=value selection."""
        yield from self.db.select(*query, **selection)

    def has(self, atoms: Atoms, teacher_hash: str, ok_only: bool = True) -> bool:
        """True if this structure is stored for these teacher settings (successfully, by default)."""
        sel = {"struct_hash": structure_hash(atoms), "teacher_hash": teacher_hash or "none"}
        if ok_only:
            sel["status"] = STATUS_OK
        return self.db.count(**sel) > 0

    def labelled(self, *query, **selection) -> list[Atoms]:
        """Successfully labelled structures (Atoms with a SinglePointCalculator), in id order."""
        out = []
        for row in self.db.select(*query, status=STATUS_OK, **selection):
            atoms = row.toatoms(add_additional_information=False)
            atoms.info.update({k: row.get(k) for k in PROVENANCE_KEYS})
            atoms.info["id"] = row.id
            out.append(atoms)
        return out

    def stats(self) -> dict[str, Any]:
        """Counts by status, stage, source, teacher and composition, plus atom counts."""
        by = {k: Counter() for k in ("status", "stage", "source", "teacher", "formula")}
        n_atoms = []
        failures = Counter()
        for row in self.db.select():
            for k in ("status", "stage", "source", "teacher"):
                by[k][str(row.get(k))] += 1
            by["formula"][row.formula] += 1
            n_atoms.append(row.natoms)
            if row.get("status") == STATUS_FAILED:
                failures[str(row.get("reason"))[:80]] += 1
        return {
            "store": self.url,
            "n_structures": len(n_atoms),
            "n_ok": by["status"].get(STATUS_OK, 0),
            "n_failed": by["status"].get(STATUS_FAILED, 0),
            "n_atoms_total": int(sum(n_atoms)),
            "n_atoms_min": int(min(n_atoms)) if n_atoms else 0,
            "n_atoms_max": int(max(n_atoms)) if n_atoms else 0,
            **{f"by_{k}": dict(v) for k, v in by.items()},
            "failure_reasons": dict(failures),
        }

    # -- GPUMD exchange ------------------------------------------------------------------
    def export_gpumd(self, out_dir: str | Path, test_fraction: float = 0.1, salt: int | str = 0,
                     *query, **selection) -> ExportResult:
        """Write ``train.xyz`` and ``test.xyz`` (GPUMD units) from the successful rows.

        The split is fixed per structure by its hash and ``salt``: the same data give the same
        files, and adding data never moves an existing structure across the split.
        """
        if not 0 <= test_fraction < 1:
            raise DataStoreError(f"test fraction must be in [0, 1), got {test_fraction}")
        out_dir = Path(out_dir)
        train, test = [], []
        for row in self.db.select(*query, status=STATUS_OK, **selection):
            atoms = row.toatoms(add_additional_information=False)
            frame = (atoms, float(row.energy), np.asarray(row.forces), row.get("stress"))
            (test if split_fraction(row.struct_hash, salt) < test_fraction else train).append(frame)
        failed = self.db.count(*query, status=STATUS_FAILED, **selection)
        if not train:
            raise DataStoreError(f"no successfully labelled structures to export from {self.url}")
        train_path = out_dir / "train.xyz"
        test_path = out_dir / "test.xyz"
        write_gpumd_xyz(train, train_path)
        write_gpumd_xyz(test, test_path)
        log.info("exported %d train / %d test structures (%d failed skipped) to %s", len(train), len(test), failed, out_dir)
        return ExportResult(len(train), len(test), failed, str(train_path), str(test_path))

    def import_xyz(self, path: str | Path, source: str = "", stage: str = "import", teacher: str = "import",
                   teacher_hash: str = "", iteration: int = 0) -> dict[str, int]:
        """Import labelled frames (GPUMD train.xyz or ASE extxyz) in one transaction."""
        frames = read_labelled_xyz(path)
        records = [
            Record.from_labelled(a, source=source or Path(path).name, stage=stage, iteration=iteration,
                                 teacher=teacher, teacher_hash=teacher_hash)
            for a in frames
        ]
        results = self.add_many(records)
        added = sum(r.added for r in results)
        return {"read": len(frames), "added": added, "duplicates": len(frames) - added}
