"""The labelled-data store: an ASE database (SQLite file by default, PostgreSQL by URL).

Each row is one structure with its labels (energy eV, forces eV/Å, stress eV/Å³) and provenance
keys: ``source`` (where the structure came from), ``stage`` (seed, active, import, ...),
``iteration``, ``teacher`` and ``teacher_hash`` (a hash of the teacher's settings), ``status``
(``ok`` or ``failed``) with ``reason``, and ``struct_hash`` (duplicate detection).

Writes are transactions: a batch lands whole or not at all. A structure already stored with
the same teacher settings is not stored twice; a failed label is replaced by a later success.
"""

from __future__ import annotations

import contextlib
import hashlib
import logging
import math
import os
import re
import socket
import uuid
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


#: The store's own schema version, kept in the marker table. 1: ASE's tables + marker + claims.
SCHEMA_VERSION = 1
MARKER_TABLE = "interforge_store"
CLAIMS_TABLE = "interforge_claims"
#: The tables of an ASE database (SQLite adds ``sqlite_sequence``); a store created before the marker
#: existed has exactly these.
ASE_TABLES = frozenset({"systems", "species", "keys", "text_key_values", "number_key_values", "information"})
SQLITE_MAGIC = b"SQLite format 3\x00"
#: Seconds a claim lasts unless renewed; a worker renews its claims while it computes.
DEFAULT_LEASE_S = 120.0

_SCHEMA_SQL = (
    f"CREATE TABLE {MARKER_TABLE} (name TEXT PRIMARY KEY, value TEXT NOT NULL)",
    f"INSERT INTO {MARKER_TABLE} (name, value) VALUES ('schema_version', '{SCHEMA_VERSION}')",
    f"INSERT INTO {MARKER_TABLE} (name, value) VALUES ('created_by', 'interforge')",
    f"CREATE TABLE {CLAIMS_TABLE} (struct_hash TEXT NOT NULL, teacher_hash TEXT NOT NULL, "
    "claimed_by TEXT NOT NULL, claimed_at DOUBLE PRECISION NOT NULL, lease_expires DOUBLE PRECISION NOT NULL, "
    "PRIMARY KEY (struct_hash, teacher_hash))",
    f"CREATE INDEX {CLAIMS_TABLE}_owner ON {CLAIMS_TABLE} (claimed_by)",
)


def _redact(url: str) -> str:
    """A URL fit for messages: the password replaced by ***."""
    return re.sub(r"(://[^:/@]+):[^@/]*@", r"\1:***@", url)


def _is_postgres(url: str) -> bool:
    return url.startswith(("postgresql://", "postgres://"))


def _sqlite_path(url: str) -> Path:
    """The file of an SQLite store: a path, or ``sqlite:///relative.db`` / ``sqlite:////absolute.db``."""
    if url.startswith("sqlite:///"):
        url = url[len("sqlite:///"):]
    elif "://" in url:
        raise DataStoreError(f"store '{_redact(url)}' must be an SQLite file (.db), sqlite:///FILE.db or a "
                             "postgresql:// URL")
    path = Path(url)
    if path.suffix not in (".db", ".sqlite"):
        raise DataStoreError(f"store '{url}' must be an SQLite file ending in .db or a postgresql:// URL")
    return path


def _classify(url: str, tables: set[str], marker: dict[str, str], legacy_ours: bool) -> str:
    """'store', 'legacy' (an interforge store from before the marker: migrate it) or raise for anything else."""
    tables = tables - {"sqlite_sequence"}
    if MARKER_TABLE in tables:
        if marker.get("created_by") != "interforge" or not marker.get("schema_version", "").isdigit():
            raise DataStoreError(f"{url} has a table '{MARKER_TABLE}' that interforge did not write; "
                                 "it is not an interforge label store, refusing to touch it")
        version = int(marker["schema_version"])
        if version > SCHEMA_VERSION:
            raise DataStoreError(f"{url} is an interforge store of schema version {version}; this interforge "
                                 f"reads versions up to {SCHEMA_VERSION} (upgrade interforge)")
        missing = (ASE_TABLES | {CLAIMS_TABLE}) - tables
        if missing:
            raise DataStoreError(f"{url} is a damaged interforge store (tables missing: {', '.join(sorted(missing))}); "
                                 "restore it from a backup")
        return "store"
    if tables == ASE_TABLES:
        if legacy_ours:
            return "legacy"
        raise DataStoreError(f"{url} is an ASE database but not an interforge label store (no interforge rows or "
                             "marker); refusing to touch it")
    if not tables:
        raise DataStoreError(f"{url} is a database without tables, not an interforge label store; refusing to "
                             "touch it (give a new path, or delete the file if it is yours)")
    shown = ", ".join(sorted(tables)[:6]) + (", ..." if len(tables) > 6 else "")
    raise DataStoreError(f"{url} is a database but not an interforge label store (tables: {shown}); "
                         "refusing to touch it")


_LEGACY_SQL = (
    # An ASE database is one of ours if interforge wrote its metadata, or if it holds rows and every row
    # carries the store's provenance keys.
    "SELECT value FROM information WHERE name = 'metadata'",
    "SELECT COUNT(*) FROM systems",
    "SELECT COUNT(*) FROM systems WHERE id IN (SELECT id FROM text_key_values WHERE key = 'struct_hash') "
    "AND id IN (SELECT id FROM text_key_values WHERE key = 'teacher_hash')",
)


def _legacy_ours(cur, param: str = "?") -> bool:
    import json

    cur.execute(_LEGACY_SQL[0])
    row = cur.fetchone()
    try:
        if row and json.loads(row[0]).get("created_by") == "interforge":
            return True
    except (ValueError, AttributeError):
        pass
    cur.execute(_LEGACY_SQL[1])
    n = cur.fetchone()[0]
    cur.execute(_LEGACY_SQL[2])
    return n > 0 and cur.fetchone()[0] == n


def _marker(cur, tables: set[str]) -> dict[str, str]:
    if MARKER_TABLE not in tables:
        return {}
    cur.execute(f"SELECT name, value FROM {MARKER_TABLE}")
    return {str(k): str(v) for k, v in cur.fetchall()}


# -- SQLite ------------------------------------------------------------------------------
def _sqlite_raw(path: Path, timeout: float = 60.0):
    """A connection to an existing SQLite file that never creates one."""
    import sqlite3

    return sqlite3.connect(f"{path.absolute().as_uri()}?mode=rw", uri=True, timeout=timeout)


def _open_sqlite(path: Path, create: bool) -> None:
    """Check (and if asked, create) the SQLite store at ``path``; raise for anything not ours."""
    if path.is_dir():
        raise DataStoreError(f"store {path} is a directory, not an SQLite file")
    if not path.exists() or path.stat().st_size == 0:
        if not create:
            raise DataStoreError(f"no such store: {path}")
        _create_sqlite(path)
    _check_sqlite(path)


def _check_sqlite(path: Path) -> None:
    import sqlite3

    try:
        with open(path, "rb") as fh:
            head = fh.read(len(SQLITE_MAGIC))
    except OSError as err:
        raise DataStoreError(f"cannot read store {path}: {err.strerror or err}") from None
    if head != SQLITE_MAGIC:
        raise DataStoreError(f"{path} is not an SQLite database, so not an interforge label store; "
                             "refusing to touch it")
    try:
        con = _sqlite_raw(path)
    except sqlite3.Error as err:
        raise DataStoreError(f"cannot open store {path}: {err}") from None
    try:
        cur = con.cursor()
        cur.execute("SELECT name FROM sqlite_master WHERE type = 'table'")
        tables = {r[0] for r in cur.fetchall()}
        kind = _classify(str(path), tables, _marker(cur, tables),
                         legacy_ours=(tables - {"sqlite_sequence"}) == ASE_TABLES and _legacy_ours(cur))
        if kind == "legacy":
            _migrate_sqlite(con, path)
    except sqlite3.DatabaseError as err:
        raise DataStoreError(f"{path} is not a readable SQLite database ({err}); refusing to touch it") from None
    finally:
        con.close()


def _migrate_sqlite(con, path: Path) -> None:
    """Add the marker and claims tables to a store written before they existed (one transaction)."""
    import sqlite3

    try:
        con.execute("BEGIN IMMEDIATE")
        if con.execute(f"SELECT COUNT(*) FROM sqlite_master WHERE name = '{MARKER_TABLE}'").fetchone()[0]:
            con.rollback()  # another process migrated it meanwhile
            return
        for stmt in _SCHEMA_SQL:
            con.execute(stmt)
        con.commit()
        log.info("store %s: added the interforge schema marker (version %d) to a store from an earlier version",
                 path, SCHEMA_VERSION)
    except sqlite3.OperationalError as err:
        con.rollback()
        if "readonly" in str(err) or "read-only" in str(err):
            log.warning("store %s predates the schema marker and is read-only; reading it as it is", path)
            return
        raise


def _create_sqlite(path: Path) -> None:
    """Create a new store at ``path``: built in a side folder, then linked into place.

    The link fails if something appeared at ``path`` meanwhile (another process created the store),
    so a store is never replaced; an empty 0-byte file is replaced.
    """
    import shutil
    import sqlite3
    import tempfile

    import ase.db

    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        side = Path(tempfile.mkdtemp(prefix=f".{path.name}.", dir=path.parent))
    except OSError as err:
        raise DataStoreError(f"cannot create store {path}: {err.strerror or err}") from None
    try:
        tmp = side / path.name
        db = ase.db.connect(tmp, type="db")
        db.count()  # the first connection creates ASE's tables
        db.metadata = {"created_by": "interforge"}
        with contextlib.closing(sqlite3.connect(tmp)) as con:
            for stmt in _SCHEMA_SQL:
                con.execute(stmt)
            con.commit()
        with open(tmp, "rb+") as fh:
            os.fsync(fh.fileno())
        if path.exists() and path.stat().st_size == 0:
            os.replace(tmp, path)
        else:
            try:
                os.link(tmp, path)
            except FileExistsError:
                return  # another process created it first: the caller checks what is there
            except OSError:  # a file system without hard links
                if path.exists():
                    return
                os.replace(tmp, path)
        with contextlib.suppress(OSError):
            fd = os.open(path.parent, os.O_RDONLY)
            try:
                os.fsync(fd)
            finally:
                os.close(fd)
        log.debug("created label store %s", path)
    except (OSError, sqlite3.Error) as err:
        raise DataStoreError(f"cannot create store {path}: {getattr(err, 'strerror', None) or err}") from None
    finally:
        shutil.rmtree(side, ignore_errors=True)


# -- PostgreSQL --------------------------------------------------------------------------
#: Key of the session advisory lock that serialises creating/migrating a PostgreSQL store.
_PG_SCHEMA_LOCK = 0x1F0E_57A8


def _pg_connect(url: str):
    try:
        import psycopg2
    except ImportError:
        raise DataStoreError("a PostgreSQL store needs the driver: pip install 'interforge[postgres]'") from None
    try:
        return psycopg2.connect(url)
    except psycopg2.Error as err:
        first = (str(err).strip().splitlines() or [type(err).__name__])[0]
        raise DataStoreError(f"cannot connect to store {_redact(url)}: {first}") from None


def _open_postgres(url: str, create: bool) -> None:
    import psycopg2

    con = _pg_connect(url)
    shown = _redact(url)
    try:
        cur = con.cursor()
        cur.execute("SELECT pg_advisory_xact_lock(%s)", (_PG_SCHEMA_LOCK,))
        cur.execute("SELECT table_name FROM information_schema.tables WHERE table_schema = current_schema()")
        tables = {r[0] for r in cur.fetchall()}
        if not tables:
            if not create:
                raise DataStoreError(f"no such store: {shown} holds no tables")
            _create_postgres(cur)
            con.commit()
            log.debug("created label store %s", shown)
            return
        legacy = tables == ASE_TABLES and _legacy_ours(cur)
        if _classify(shown, tables, _marker(cur, tables), legacy) == "legacy":
            for stmt in _SCHEMA_SQL:
                cur.execute(stmt)
            log.info("store %s: added the interforge schema marker (version %d)", shown, SCHEMA_VERSION)
        con.commit()
    except psycopg2.Error as err:
        con.rollback()
        first = (str(err).strip().splitlines() or [type(err).__name__])[0]
        raise DataStoreError(f"store {shown}: {first}") from None
    finally:
        con.close()


def _create_postgres(cur) -> None:
    """ASE's PostgreSQL schema, the metadata, the marker and the claims table in one transaction."""
    import json

    from ase_db_backends._sqlite import index_statements, init_statements
    from ase_db_backends.postgresql import jsonb_indices, schema_update

    cur.execute(schema_update(";\n".join(init_statements)))
    cur.execute(";\n".join(index_statements))
    cur.execute(";\n".join(jsonb_indices))
    cur.execute("INSERT INTO information VALUES (%s, %s)", ("metadata", json.dumps({"created_by": "interforge"})))
    for stmt in _SCHEMA_SQL:
        cur.execute(stmt)


def _postgres_database(url: str):
    """ASE's PostgreSQL database, safe for concurrent writers.

    ase-db-backends 0.11 reads a new row's id from the sequence's ``last_value``, which is global: with
    two writers at once a row's arrays land under the other writer's id (a foreign-key error, or a
    wrong row). ``currval`` is this session's own value."""
    try:
        from ase_db_backends.postgresql import PostgreSQLDatabase
    except ImportError as err:
        raise DataStoreError(f"a PostgreSQL store needs pip install 'interforge[postgres]': {err}") from None

    class _SessionSafePostgres(PostgreSQLDatabase):
        def get_last_id(self, cur):
            cur.execute("SELECT currval('systems_id_seq')")
            return int(cur.fetchone()[0])

    return _SessionSafePostgres(url)


def _connect(url: str | Path, create: bool = True):
    """The ASE database of a store, after checking that it is one (or creating it when ``create``)."""
    import ase.db

    url = str(url)
    if _is_postgres(url):
        _open_postgres(url, create)
        return _postgres_database(url)
    path = _sqlite_path(url)
    _open_sqlite(path, create)
    return ase.db.connect(path, type="db")


def _db_errors(url: str):
    """Turn a database driver's error into a one-line DataStoreError naming the store."""
    import sqlite3

    errors: tuple[type[BaseException], ...] = (sqlite3.Error,)
    with contextlib.suppress(ImportError):
        import psycopg2

        errors += (psycopg2.Error,)
    return _ErrorMap(errors, url)


class _ErrorMap(contextlib.AbstractContextManager):
    def __init__(self, errors, url):
        self.errors, self.url = errors, _redact(url)

    def __exit__(self, exc_type, exc, tb):
        if exc_type is not None and issubclass(exc_type, self.errors):
            first = (str(exc).strip().splitlines() or [exc_type.__name__])[0]
            raise DataStoreError(f"store {self.url}: {first}") from None
        return False


class LabelStore:
    """Labelled structures with provenance in an ASE database.

    ``create`` (default True) lets the store be created where nothing is yet (a missing file, an
    empty 0-byte file, a PostgreSQL database without tables); read-only callers pass False and get
    "no such store" instead. Anything else that is not an interforge store is refused, untouched.
    """

    def __init__(self, url: str | Path, create: bool = True):
        self.url = str(url)
        self.postgres = _is_postgres(self.url)
        self.path = None if self.postgres else _sqlite_path(self.url)
        self.db = _connect(url, create=create)

    def _errors(self):
        return _db_errors(self.url)

    @property
    def display_url(self) -> str:
        """The store's URL with any password replaced by ***, for messages and reports."""
        return _redact(self.url)

    # -- claims: which worker labels which structure -------------------------------------
    @staticmethod
    def new_owner() -> str:
        """A name for one worker's claims: host, process id and a random part."""
        return f"{socket.gethostname()}:{os.getpid()}:{uuid.uuid4().hex[:8]}"

    @contextlib.contextmanager
    def _raw(self):
        """(cursor, SQL for 'now' in seconds since the epoch) on a connection of its own; commits on success.

        Statements use ``?`` placeholders on both back-ends. The clock is the database's, so workers on
        different machines agree on when a lease expires.
        """
        with self._errors():
            if self.postgres:
                con = _pg_connect(self.url)
                now = "EXTRACT(EPOCH FROM clock_timestamp())::double precision"
            else:
                con = _sqlite_raw(self.path)
                now = "((julianday('now') - 2440587.5) * 86400.0)"
            try:
                cur = con.cursor()
                yield _Cursor(cur, self.postgres), now
                con.commit()
            except BaseException:
                con.rollback()
                raise
            finally:
                con.close()

    def claim(self, struct_hash: str, teacher_hash: str, owner: str, lease_s: float = DEFAULT_LEASE_S,
              ok_only: bool = True) -> str:
        """Claim one structure for labelling by ``owner``, with a lease of ``lease_s`` seconds.

        Returns ``"claimed"``; ``"busy"`` when another owner's lease on it has not expired; or ``"done"``
        when the store already holds its label (successful, or failed too unless ``ok_only`` is False...
        i.e. as :meth:`has`). An expired lease (a killed worker) is taken over. The claim ends when the
        label is written with ``release_claims_of=owner`` or by :meth:`release`.
        """
        teacher_hash = teacher_hash or "none"
        with self._raw() as (cur, now):
            cur.execute(
                f"INSERT INTO {CLAIMS_TABLE} (struct_hash, teacher_hash, claimed_by, claimed_at, lease_expires) "
                f"VALUES (?, ?, ?, {now}, {now} + ?) "
                "ON CONFLICT (struct_hash, teacher_hash) DO UPDATE SET claimed_by = excluded.claimed_by, "
                "claimed_at = excluded.claimed_at, lease_expires = excluded.lease_expires "
                f"WHERE {CLAIMS_TABLE}.lease_expires < {now} OR {CLAIMS_TABLE}.claimed_by = excluded.claimed_by",
                (struct_hash, teacher_hash, owner, float(lease_s)))
            got = cur.rowcount == 1
            if not got:  # a worker of this machine that died (kill -9) holds it: no need to wait for its lease
                cur.execute(f"SELECT claimed_by FROM {CLAIMS_TABLE} WHERE struct_hash = ? AND teacher_hash = ?",
                            (struct_hash, teacher_hash))
                row = cur.fetchone()
                if row and _owner_is_dead(row[0]):
                    cur.execute(f"UPDATE {CLAIMS_TABLE} SET claimed_by = ?, claimed_at = {now}, "
                                f"lease_expires = {now} + ? WHERE struct_hash = ? AND teacher_hash = ? "
                                "AND claimed_by = ?", (owner, float(lease_s), struct_hash, teacher_hash, row[0]))
                    got = cur.rowcount == 1
                    if got:
                        log.info("took over the claim on %s of %s, a worker that is no longer running",
                                 struct_hash, row[0])
        if not got:
            return "busy"
        # Checked after claiming: a worker writes its label and drops its claim in one transaction, so
        # a label finished before this claim is visible now.
        if self.has_hash(struct_hash, teacher_hash, ok_only=ok_only):
            self.release(owner, [(struct_hash, teacher_hash)])
            return "done"
        return "claimed"

    def renew_claims(self, owner: str, lease_s: float = DEFAULT_LEASE_S) -> int:
        """Extend every claim of ``owner`` to ``lease_s`` seconds from now; the number renewed."""
        with self._raw() as (cur, now):
            cur.execute(f"UPDATE {CLAIMS_TABLE} SET lease_expires = {now} + ? WHERE claimed_by = ?",
                        (float(lease_s), owner))
            return cur.rowcount

    def release(self, owner: str, keys: Iterable[tuple[str, str]] | None = None) -> int:
        """Drop claims of ``owner``: the given (struct_hash, teacher_hash) pairs, or all of them."""
        with self._raw() as (cur, _):
            if keys is None:
                cur.execute(f"DELETE FROM {CLAIMS_TABLE} WHERE claimed_by = ?", (owner,))
                return cur.rowcount
            n = 0
            for h, t in keys:
                cur.execute(f"DELETE FROM {CLAIMS_TABLE} WHERE struct_hash = ? AND teacher_hash = ? AND claimed_by = ?",
                            (h, t or "none", owner))
                n += cur.rowcount
            return n

    def claims(self) -> list[dict[str, Any]]:
        """Every claim: struct_hash, teacher_hash, claimed_by and seconds left on its lease (< 0: expired)."""
        with self._raw() as (cur, now):
            cur.execute(f"SELECT struct_hash, teacher_hash, claimed_by, lease_expires - {now} FROM {CLAIMS_TABLE} "
                        "ORDER BY claimed_at")
            return [{"struct_hash": h, "teacher_hash": t, "claimed_by": o, "lease_left_s": float(left)}
                    for h, t, o, left in cur.fetchall()]

    # -- writing -------------------------------------------------------------------------
    def add(self, record: Record) -> AddResult:
        """Store one record (a transaction of its own)."""
        return self.add_many([record])[0]

    def add_many(self, records: Iterable[Record], release_claims_of: str | None = None) -> list[AddResult]:
        """Store records in one transaction; any invalid record aborts the whole batch.

        The transaction holds a write lock on each record's (structure, teacher) key, so the duplicate
        check and the insert are atomic against other processes. With ``release_claims_of`` the owner's
        claims on these records end in the same transaction.
        """
        records = list(records)
        for rec in records:
            rec.validate()
        keys = sorted({(structure_hash(r.atoms), r.teacher_hash or "none") for r in records})
        results = []
        with self._errors(), self._transaction() as db:
            cur = _Cursor(db.connection.cursor(), self.postgres)
            if self.postgres:
                for h, t in keys:  # sorted: two writers never wait on each other in a cycle
                    cur.execute("SELECT pg_advisory_xact_lock(?)", (_lock_key(h, t),))
            else:
                cur.execute("BEGIN IMMEDIATE")  # SQLite locks the whole file for writing
            for rec in records:
                results.append(self._write(db, rec))
            if release_claims_of:
                for h, t in keys:
                    cur.execute(f"DELETE FROM {CLAIMS_TABLE} WHERE struct_hash = ? AND teacher_hash = ? "
                                "AND claimed_by = ?", (h, t, release_claims_of))
        return results

    @contextlib.contextmanager
    def _transaction(self):
        """The ASE database inside one transaction: committed on success, rolled back on any error.

        SQLite: ASE's own context manager. PostgreSQL: the same steps done here, because the
        back-end's connection wrapper (ase-db-backends 0.11) has no ``rollback`` and its context
        manager fails on an error, leaving the connection open."""
        db = self.db
        if not self.postgres:
            with db:
                yield db
            return
        con = db._connect()
        db.connection, db.change_count = con, 0
        try:
            yield db
            con.commit()
        except BaseException:
            con.con.rollback()
            raise
        finally:
            db.connection = None
            con.close()

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
    def count(self, *query, **selection) -> int:
        with self._errors():
            return self.db.count(*query, **selection)

    def rows(self, *query, **selection) -> Iterator:
        """ASE database rows matching an ASE query string and/or key=value selection."""
        with self._errors():
            yield from self.db.select(*query, **selection)

    def has(self, atoms: Atoms, teacher_hash: str, ok_only: bool = True) -> bool:
        """True if this structure is stored for these teacher settings (successfully, by default)."""
        return self.has_hash(structure_hash(atoms), teacher_hash, ok_only)

    def has_hash(self, struct_hash: str, teacher_hash: str, ok_only: bool = True) -> bool:
        """:meth:`has` for a structure hash."""
        sel = {"struct_hash": struct_hash, "teacher_hash": teacher_hash or "none"}
        if ok_only:
            sel["status"] = STATUS_OK
        with self._errors():
            return self.db.count(**sel) > 0

    def labelled(self, *query, **selection) -> list[Atoms]:
        """Successfully labelled structures (Atoms with a SinglePointCalculator), in id order."""
        out = []
        for row in self.rows(*query, status=STATUS_OK, **selection):
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
        for row in self.rows():
            for k in ("status", "stage", "source", "teacher"):
                by[k][str(row.get(k))] += 1
            by["formula"][row.formula] += 1
            n_atoms.append(row.natoms)
            if row.get("status") == STATUS_FAILED:
                failures[str(row.get("reason"))[:80]] += 1
        return {
            "store": self.display_url,
            "n_structures": len(n_atoms),
            "n_ok": by["status"].get(STATUS_OK, 0),
            "n_failed": by["status"].get(STATUS_FAILED, 0),
            "n_atoms_total": int(sum(n_atoms)),
            "n_atoms_min": int(min(n_atoms)) if n_atoms else 0,
            "n_atoms_max": int(max(n_atoms)) if n_atoms else 0,
            **{f"by_{k}": dict(v) for k, v in by.items()},
            "failure_reasons": dict(failures),
            "n_claimed": sum(c["lease_left_s"] > 0 for c in self.claims()),
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
        for row in self.rows(*query, status=STATUS_OK, **selection):
            atoms = row.toatoms(add_additional_information=False)
            frame = (atoms, float(row.energy), np.asarray(row.forces), row.get("stress"))
            (test if split_fraction(row.struct_hash, salt) < test_fraction else train).append(frame)
        failed = self.count(*query, status=STATUS_FAILED, **selection)
        if not train:
            raise DataStoreError(f"no successfully labelled structures to export from {self.display_url}")
        train_path = out_dir / "train.xyz"
        test_path = out_dir / "test.xyz"
        write_gpumd_xyz(train, train_path)
        write_gpumd_xyz(test, test_path)
        log.info("exported %d train / %d test structures (%d failed skipped) to %s", len(train), len(test), failed, out_dir)
        return ExportResult(len(train), len(test), failed, str(train_path), str(test_path))

    def import_xyz(self, path: str | Path, source: str = "", stage: str = "import", teacher: str = "import",
                   teacher_hash: str = "", iteration: int = 0, frames: list[Atoms] | None = None) -> dict[str, int]:
        """Import labelled frames (GPUMD train.xyz or ASE extxyz) in one transaction.

        ``frames``: the file's frames when the caller has read them already (``read_labelled_xyz``)."""
        frames = read_labelled_xyz(path) if frames is None else frames
        records = [
            Record.from_labelled(a, source=source or Path(path).name, stage=stage, iteration=iteration,
                                 teacher=teacher, teacher_hash=teacher_hash)
            for a in frames
        ]
        results = self.add_many(records)
        added = sum(r.added for r in results)
        return {"read": len(frames), "added": added, "duplicates": len(frames) - added}


class _Cursor:
    """A DB-API cursor taking ``?`` placeholders on SQLite and PostgreSQL alike."""

    def __init__(self, cur, postgres: bool):
        self.cur, self.postgres = cur, postgres

    def execute(self, sql: str, params: tuple = ()):
        if self.postgres:
            sql = sql.replace("?", "%s")
            # the ASE back-end wraps psycopg2's cursor; use the driver's own
            cur = getattr(self.cur, "cur", self.cur)
            return cur.execute(sql, params)
        return self.cur.execute(sql, params)

    def fetchone(self):
        return getattr(self.cur, "cur", self.cur).fetchone()

    def fetchall(self):
        return getattr(self.cur, "cur", self.cur).fetchall()

    @property
    def rowcount(self) -> int:
        return getattr(self.cur, "cur", self.cur).rowcount


def _owner_is_dead(owner: str) -> bool:
    """True if ``owner`` (host:pid:random, see :meth:`LabelStore.new_owner`) is a process of this machine
    that no longer runs (or is a zombie). Owners on other machines are judged by their leases alone."""
    host, _, rest = str(owner).partition(":")
    pid_text = rest.partition(":")[0]
    if host != socket.gethostname() or not pid_text.isdigit():
        return False
    pid = int(pid_text)
    if pid == os.getpid():
        return False
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return True
    except PermissionError:
        return False  # alive, another user's
    try:  # a killed child not yet reaped by its parent is a zombie: dead for our purpose
        stat = Path(f"/proc/{pid}/stat").read_text()
        return stat.rpartition(")")[2].split()[0] in ("Z", "X")
    except (OSError, IndexError):
        return False


def _lock_key(struct_hash: str, teacher_hash: str) -> int:
    """A signed 64-bit key for PostgreSQL's advisory locks."""
    digest = hashlib.sha256(f"{struct_hash}|{teacher_hash}".encode()).digest()
    return int.from_bytes(digest[:8], "big", signed=True)
