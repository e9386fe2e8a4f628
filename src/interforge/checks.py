"""Input validation at the edge: every rule a command-line value, an input file or an output path must meet
before any work starts (listed in ``docs/inputs.md``).

Every check is a pure function that returns the (normalised) value or raises
:class:`~interforge.errors.InputError` with one line naming the input and the rule; the CLI turns it into exit
code 2. The per-verb rules of the command line live in :mod:`interforge.cli.checks`, built from these.
"""

from __future__ import annotations

import argparse
import errno
import math
import os
import tempfile
from pathlib import Path
from typing import Any

import numpy as np

from interforge.errors import InputError

#: Atoms closer than this fraction of the sum of their covalent radii make a structure unphysical.
MIN_DISTANCE_FRACTION = 0.5

#: Hard ceiling on the atoms of one structure (the production interfaces hold about 10^4).
MAX_ATOMS_HARD = 10_000_000

#: Working memory one atom needs while a structure is built, ordered or neighbour-listed, bytes
#: (pymatgen sites are the heaviest, about 2 kB each; a factor of two for copies).
BYTES_PER_ATOM = 4096

#: Suffixes of files that must be text (binary content in them is refused).
TEXT_SUFFIXES = {".xyz", ".extxyz", ".cif", ".vasp", ".poscar", ".toml", ".json", ".txt", ".csv", ".in", ".dat"}

_SNIFF_BYTES = 65536


# -- numbers ------------------------------------------------------------------------------------------------


def _rule_text(gt=None, ge=None, lt=None, le=None) -> str:
    parts = [f"{op} {v:g}" for op, v in ((">", gt), (">=", ge), ("<", lt), ("<=", le)) if v is not None]
    return " and ".join(parts)


def number(name: str, value: Any, *, gt: float | None = None, ge: float | None = None, lt: float | None = None,
           le: float | None = None, integer: bool = False, allow_none: bool = False):
    """``value`` as a finite float (or int with ``integer``) within the bounds; raises InputError naming ``name``.

    ``None`` passes when ``allow_none`` (an option left at its default).
    """
    if value is None:
        if allow_none:
            return None
        raise InputError(f"{name}: a value is required")
    if isinstance(value, bool) or not isinstance(value, (int, float, np.integer, np.floating)):
        raise InputError(f"{name}: must be a number, got {value!r}")
    if integer and not float(value).is_integer():
        raise InputError(f"{name}: must be a whole number, got {value!r}")
    if not math.isfinite(float(value)):
        raise InputError(f"{name}: must be a finite number, got {value}")
    v = int(value) if integer else float(value)
    if ((gt is not None and not v > gt) or (ge is not None and not v >= ge) or (lt is not None and not v < lt)
            or (le is not None and not v <= le)):
        raise InputError(f"{name}: must be {_rule_text(gt, ge, lt, le)}, got {value:g}")
    return v


def nonfinite_values(namespace: argparse.Namespace) -> list[str]:
    """Names of float options (or float items of list options) of a parsed command line that are NaN or inf:
    the safety net behind options whose type does not refuse them itself."""
    bad = []
    for key, value in vars(namespace).items():
        if key.startswith("_"):
            continue
        items = value if isinstance(value, (list, tuple)) else [value]
        if any(isinstance(v, float) and not math.isfinite(v) for v in items):
            bad.append(key)
    return bad


def option_name(dest: str) -> str:
    """The command-line spelling of an argparse ``dest`` (``dt_ps`` -> ``--dt-ps``)."""
    return "--" + dest.replace("_", "-")


# -- sizes ------------------------------------------------------------------------------------------------


def available_memory_bytes() -> int:
    """Physical memory of this machine, bytes (a generous 8 GiB when the system does not say)."""
    try:
        return int(os.sysconf("SC_PAGE_SIZE")) * int(os.sysconf("SC_PHYS_PAGES"))
    except (ValueError, OSError, AttributeError):
        return 8 << 30


def max_atoms() -> int:
    """The most atoms one structure may hold here: memory / :data:`BYTES_PER_ATOM`, at most
    :data:`MAX_ATOMS_HARD`; ``INTERFORGE_MAX_ATOMS`` in the environment lowers or raises it."""
    env = os.environ.get("INTERFORGE_MAX_ATOMS")
    if env:
        try:
            return max(1, int(env))
        except ValueError:
            raise InputError(f"INTERFORGE_MAX_ATOMS: must be a whole number, got '{env}'") from None
    return max(1, min(MAX_ATOMS_HARD, available_memory_bytes() // BYTES_PER_ATOM))


def atom_count(name: str, n: float) -> int:
    """Refuse a structure of ``n`` atoms that would not fit in memory (see :func:`max_atoms`)."""
    limit = max_atoms()
    if not n >= 0 or n > limit:
        raise InputError(f"{name}: {n:.3g} atoms is more than this machine can hold (limit {limit}; "
                         "INTERFORGE_MAX_ATOMS sets it)")
    return int(n)


# -- input files --------------------------------------------------------------------------------------------


def _looks_binary(path: Path) -> bool:
    with open(path, "rb") as fh:
        head = fh.read(_SNIFF_BYTES)
    if b"\x00" in head:
        return True
    try:
        head[: max(0, len(head) - 4)].decode("utf-8") if len(head) == _SNIFF_BYTES else head.decode("utf-8")
    except UnicodeDecodeError:
        return True
    return False


def input_file(name: str, path: str | os.PathLike, *, text: bool | None = None, allow_empty: bool = False) -> Path:
    """``path`` as an existing, readable, non-empty regular file. With ``text`` (default: by suffix, see
    :data:`TEXT_SUFFIXES`) binary content is refused too."""
    p = Path(path)
    if not p.exists():
        if p.is_symlink():
            raise InputError(f"{name}: {p} is a symbolic link to nothing (a link loop or a missing target)")
        loop = symlink_loop(p)
        if loop is not None:
            raise InputError(f"{name}: {p} runs into a symbolic link loop at {loop}")
        raise InputError(f"{name}: file not found: {p}")
    if p.is_dir():
        raise InputError(f"{name}: {p} is a directory, not a file")
    if not p.is_file():
        raise InputError(f"{name}: {p} is not a regular file")
    try:
        size = p.stat().st_size
        with open(p, "rb"):
            pass
    except OSError as err:
        raise InputError(f"{name}: cannot read {p}: {err.strerror or err}") from None
    if size == 0 and not allow_empty:
        raise InputError(f"{name}: {p} is empty")
    is_text = text if text is not None else (p.suffix.lower() in TEXT_SUFFIXES
                                            or p.name.upper().startswith(("POSCAR", "CONTCAR")))
    if is_text and size and _looks_binary(p):
        raise InputError(f"{name}: {p} is a binary file, expected text")
    return p


def _xyz_frames(name: str, p: Path, limit: int) -> None:
    with open(p, "rb") as fh:
        line_no = 0
        while True:
            header = fh.readline()
            line_no += 1
            if not header:
                return
            if not header.strip():
                continue
            first = header.split()[0]
            try:
                n = int(first)
            except ValueError:
                raise InputError(f"{name}: {p} line {line_no}: expected an atom count, got "
                                 f"'{header.strip()[:40].decode('utf-8', 'replace')}'") from None
            _declared(name, p, n, f"line {line_no}", limit)  # an atom line holds at least "X 0 0 0"
            for k in range(n + 1):
                if not fh.readline():
                    raise InputError(f"{name}: {p} is truncated: the frame at line {line_no} declares {n} atoms "
                                     f"but the file ends after {max(0, k - 1)}")
            line_no += n + 1


def _declared(name: str, p: Path, n: int, where: str, limit: int) -> None:
    if n < 0 or n > limit:
        raise InputError(f"{name}: {p} {where} declares {n} atoms; the limit is {limit} (INTERFORGE_MAX_ATOMS sets it)")
    if n * 6 > p.stat().st_size:
        raise InputError(f"{name}: {p} is truncated: {where} declares {n} atoms but the file holds only "
                         f"{p.stat().st_size} bytes")


def _vasp_counts(name: str, p: Path, limit: int) -> None:
    """POSCAR/CONTCAR/XDATCAR: the atom counts (line 6, or 7 after a line of symbols) within the limit."""
    with open(p, "rb") as fh:
        lines = [fh.readline(4096) for _ in range(7)]
    for k in (5, 6):
        words = lines[k].split()
        if words and all(w.isdigit() or (w[:1] == b"-" and w[1:].isdigit()) for w in words):
            _declared(name, p, sum(int(w) for w in words), f"line {k + 1}", limit)
            return


def _lammps_counts(name: str, p: Path, limit: int) -> None:
    """LAMMPS dump: the first ``ITEM: NUMBER OF ATOMS`` within the limit."""
    with open(p, "rb") as fh:
        for k, line in enumerate(fh):
            if k > 20:
                return
            if line.startswith(b"ITEM: NUMBER OF ATOMS"):
                words = fh.readline(256).split()
                if words and words[0].lstrip(b"-").isdigit():
                    _declared(name, p, int(words[0]), f"line {k + 2}", limit)
                return


def sqlite_is_ase(name: str, p: Path) -> None:
    """An SQLite file read as structures must be an ASE database: ASE's reader adds its tables to any other
    SQLite file (a user's own database), so such a file is looked at read-only and refused."""
    import sqlite3

    with open(p, "rb") as fh:
        if fh.read(16) != b"SQLite format 3\x00":
            return
    try:
        con = sqlite3.connect(f"{p.absolute().as_uri()}?mode=ro", uri=True, timeout=5.0)
        try:
            tables = {r[0] for r in con.execute("SELECT name FROM sqlite_master WHERE type='table'")}
        finally:
            con.close()
    except sqlite3.Error as err:
        raise InputError(f"{name}: {p} is not a readable SQLite database ({err})") from None
    if "systems" not in tables:
        raise InputError(f"{name}: {p} is an SQLite database but not an ASE database (no 'systems' table); "
                         "refusing to read it (ASE would add its tables)")


def structure_file(name: str, path: str | os.PathLike) -> Path:
    """An input structure or trajectory file: :func:`input_file`, and where the format declares atom counts
    (XYZ frame headers, POSCAR/CONTCAR/XDATCAR count lines, LAMMPS dumps) they must be sane and held by the
    file (a header claiming 10^9 atoms is refused at once, not read)."""
    p = input_file(name, path)
    suffix, upper = p.suffix.lower(), p.name.upper()
    sqlite_is_ase(name, p)
    if suffix in (".xyz", ".extxyz"):
        _xyz_frames(name, p, max_atoms())
    elif suffix in (".vasp", ".poscar") or upper.startswith(("POSCAR", "CONTCAR")) or "XDATCAR" in upper:
        _vasp_counts(name, p, max_atoms())
    elif "DUMP" in upper or "LAMMPSTRJ" in upper:
        _lammps_counts(name, p, max_atoms())
    return p


# -- structures -------------------------------------------------------------------------------------------


def cell_volume(name: str, atoms) -> float:
    """Refuse a non-finite cell or one whose periodic vectors are (nearly) linearly dependent; returns |det|
    of the cell (Å^3; 0 for a structure without periodic directions)."""
    cell = np.asarray(atoms.cell[:], dtype=float)
    if not np.all(np.isfinite(cell)):
        raise InputError(f"{name}: the cell holds NaN or inf")
    pbc = np.asarray(atoms.pbc, dtype=bool)
    if not pbc.any():
        return float(abs(np.linalg.det(cell)))
    vecs = cell[pbc]
    lengths = np.linalg.norm(vecs, axis=1)
    if np.any(lengths < 1e-6):
        raise InputError(f"{name}: a periodic cell vector has zero length")
    unit = vecs / lengths[:, None]
    # the smallest singular value of the normalised vectors is ~sin(angle) between them: 0 for a singular cell
    if np.linalg.svd(unit, compute_uv=False).min() < 1e-6:
        raise InputError(f"{name}: the cell is singular (its periodic vectors are linearly dependent, volume 0)")
    heights = periodic_heights(cell, pbc)
    k = int(np.argmin(heights))
    if heights[k] < MIN_CELL_HEIGHT_A:
        raise InputError(f"{name}: the cell is only {heights[k]:.3g} Å thick across its periodic vector "
                         f"{int(np.flatnonzero(pbc)[k]) + 1} (at least {MIN_CELL_HEIGHT_A:g} Å): no crystal is that "
                         "thin, and a neighbour search would visit millions of periodic images")
    return float(abs(np.linalg.det(cell)))


#: Thinnest a periodic cell may be across one of its periodic vectors, Å (the perpendicular height). A neighbour
#: search visits about cutoff / height images per direction: a 1e-4 Å cell hung every verb that read it.
MIN_CELL_HEIGHT_A = 0.1

#: Least volume per atom of a fully periodic cell, Å^3 (diamond has 5.7, the densest solids about 2): denser
#: cells hold overlapping atoms, and the neighbour search over them never ends.
MIN_VOLUME_PER_ATOM_A3 = 1.0


def periodic_heights(cell: np.ndarray, pbc) -> np.ndarray:
    """The perpendicular height of the cell across each periodic vector, Å: volume / |cross product of the
    other two| for a 3D-periodic cell, area / |other vector| within the plane of a 2D-periodic one, the length
    of a 1D-periodic one."""
    cell = np.asarray(cell, dtype=float)
    idx = np.flatnonzero(np.asarray(pbc, dtype=bool))
    vecs = cell[idx]
    if len(idx) == 3:
        vol = abs(float(np.linalg.det(vecs)))
        return np.array([vol / np.linalg.norm(np.cross(vecs[(i + 1) % 3], vecs[(i + 2) % 3])) for i in range(3)])
    if len(idx) == 2:
        area = float(np.linalg.norm(np.cross(vecs[0], vecs[1])))
        return np.array([area / np.linalg.norm(vecs[1]), area / np.linalg.norm(vecs[0])])
    return np.linalg.norm(vecs, axis=1)


def closest_contact(atoms, fraction: float) -> tuple[float, int, int, float] | None:
    """The worst pair closer than ``fraction`` x (R_i + R_j) (ASE covalent radii) as (distance Å, i, j,
    ratio d / (R_i + R_j)), else None. Periodic images count."""
    from ase.data import covalent_radii
    from ase.neighborlist import neighbor_list

    if len(atoms) == 0:
        return None
    radii = covalent_radii[np.asarray(atoms.numbers)]
    cutoff = max(1e-3, 2.0 * float(radii.max()) * fraction)
    i, j, d = neighbor_list("ijd", atoms, cutoff, self_interaction=False)
    if len(d) == 0:
        return None
    ratio = d / (radii[i] + radii[j])
    k = int(np.argmin(ratio))
    if ratio[k] >= fraction:
        return None
    return float(d[k]), int(i[k]), int(j[k]), float(ratio[k])


def structure(name: str, atoms, *, min_fraction: float = MIN_DISTANCE_FRACTION, check_contacts: bool = True):
    """Refuse an unphysical structure (ASE Atoms): more atoms than fit in memory, no atoms, NaN/inf positions,
    a singular or non-finite cell, or two atoms closer than ``min_fraction`` x the sum of their covalent radii."""
    atom_count(name, len(atoms))
    if len(atoms) == 0:
        raise InputError(f"{name}: the structure has no atoms")
    pos = np.asarray(atoms.positions, dtype=float)
    if not np.all(np.isfinite(pos)):
        bad = int(np.argwhere(~np.isfinite(pos).all(axis=1))[0, 0])
        raise InputError(f"{name}: atom {bad} has a NaN or inf position")
    volume = cell_volume(name, atoms)
    if np.all(atoms.pbc) and volume / len(atoms) < MIN_VOLUME_PER_ATOM_A3:
        raise InputError(f"{name}: {volume / len(atoms):.3g} Å³ per atom ({len(atoms)} atoms in {volume:.3g} Å³) is "
                         f"denser than any solid (at least {MIN_VOLUME_PER_ATOM_A3:g} Å³ per atom)")
    if check_contacts:
        hit = closest_contact(atoms, min_fraction)
        if hit is not None:
            d, i, j, r = hit
            sym = atoms.get_chemical_symbols()
            raise InputError(f"{name}: atoms {i} ({sym[i]}) and {j} ({sym[j]}) are {d:.3f} Å apart, "
                             f"{r:.2f} x the sum of their covalent radii (the minimum is {min_fraction:g})")
    return atoms


# -- output paths ------------------------------------------------------------------------------------------


def symlink_loop(p: Path) -> Path | None:
    """The first component of ``p`` that is a symbolic link which never resolves (a loop such as
    ``a -> a``), else None. Path.resolve() raises RuntimeError on these, deep inside the work."""
    parts = p.parts
    for k in range(1, len(parts) + 1):
        q = Path(*parts[:k])
        try:
            os.lstat(q)
        except OSError:
            return None  # missing (or a name the file system refuses): the callers say so
        if q.is_symlink():
            try:
                os.stat(q)
            except OSError as err:
                if err.errno == errno.ELOOP:
                    return q
                return None  # a dangling link: created through, or refused by, the callers
    return None


def _first_existing(p: Path) -> Path:
    q = p
    while not q.exists() and q != q.parent:
        q = q.parent
    return q


def _writable_dir(name: str, target: Path, folder: Path) -> None:
    """``folder`` is a directory in which a file can be created: asked of the file system itself (a file is
    created and removed again), since permission bits do not tell for root, read-only mounts or /proc and
    /sys, where the write used to fail only after the work."""
    if not folder.is_dir():
        raise InputError(f"{name}: cannot create {target}: {folder} is not a directory")
    if not os.access(folder, os.W_OK | os.X_OK):
        raise InputError(f"{name}: cannot write {target}: {folder} is not writable")
    try:
        fd, probe = tempfile.mkstemp(prefix=".interforge-write-probe-", dir=folder)
    except OSError as err:
        raise InputError(f"{name}: cannot write {target}: creating a file in {folder} failed "
                         f"({err.strerror or err})") from None
    os.close(fd)
    try:
        os.unlink(probe)
    except OSError:
        pass


def _path_text(name: str, path: str | os.PathLike) -> Path:
    """A non-empty path whose every component fits the file system's name limit."""
    text = os.fspath(path)
    if not str(text).strip():
        raise InputError(f"{name}: an empty path")
    if "\x00" in str(text):
        raise InputError(f"{name}: the path {str(text)!r} holds a NUL character")
    p = Path(text).expanduser()
    try:
        limit = os.pathconf(_first_existing(p.parent if p.parent != p else p), "PC_NAME_MAX")
    except (OSError, ValueError):
        limit = 255
    for part in p.parts:
        if len(os.fsencode(part)) > limit:
            raise InputError(f"{name}: the name '{part[:40]}...' is longer than {limit} bytes")
    loop = symlink_loop(p)
    if loop is not None:
        raise InputError(f"{name}: {p} runs into a symbolic link loop at {loop}")
    return p


def output_file(name: str, path: str | os.PathLike) -> Path:
    """``path`` can be written (created or replaced, with missing parent folders made): it is not a directory
    and its nearest existing ancestor is a writable directory."""
    p = _path_text(name, path)
    if p.is_dir():
        raise InputError(f"{name}: {p} is a directory, expected a file path")
    if str(os.fspath(path)).endswith(("/", os.sep)):
        raise InputError(f"{name}: {os.fspath(path)} ends with '/' (a folder), expected a file path")
    if p.exists() and not p.is_file():  # a device, FIFO or socket: the atomic rename would replace it
        raise InputError(f"{name}: {p} is not a regular file (a device, FIFO or socket); results are written "
                         "by replacing the file, so name a regular file")
    if p.exists():
        if not os.access(p.parent, os.W_OK | os.X_OK):  # atomic writes replace it from its folder
            raise InputError(f"{name}: cannot replace {p}: its folder is not writable")
        _writable_dir(name, p, p.parent)
        return p
    _writable_dir(name, p, _first_existing(p.parent))
    return p


def output_dir(name: str, path: str | os.PathLike) -> Path:
    """``path`` is, or can be made, a writable directory."""
    p = _path_text(name, path)
    if p.exists():
        if not p.is_dir():
            raise InputError(f"{name}: {p} exists and is not a directory")
        _writable_dir(name, p, p)
        return p
    _writable_dir(name, p, _first_existing(p.parent))
    return p


def store_path(name: str, url: str) -> str:
    """A label store given as an SQLite file: its location must be writable and an existing file must not be
    locked by another process (URLs such as postgresql:// pass through)."""
    if "://" in url:
        return url
    output_file(name, url)
    store_not_locked(name, url)
    return url


#: Seconds a command waits for another process's lock on an existing SQLite file before refusing it
#: (writers hold their locks for milliseconds; the store's own busy timeout is a minute).
LOCK_PROBE_S = 5.0


def store_not_locked(name: str, path: str | os.PathLike) -> None:
    """An existing SQLite file can be read within :data:`LOCK_PROBE_S`: a file held by another process's
    exclusive lock is refused at once (one line) instead of after the store's minute-long busy wait."""
    import sqlite3

    p = Path(path)
    if "://" in os.fspath(path) or not p.is_file() or p.stat().st_size == 0:
        return
    try:
        with open(p, "rb") as fh:
            if fh.read(16) != b"SQLite format 3\x00":
                return  # not SQLite: the store refuses it with its own message
        con = sqlite3.connect(f"{p.absolute().as_uri()}?mode=ro", uri=True, timeout=LOCK_PROBE_S)
        try:
            con.execute("SELECT COUNT(*) FROM sqlite_master").fetchone()
        finally:
            con.close()
    except sqlite3.OperationalError as err:
        if "locked" in str(err) or "busy" in str(err):
            raise InputError(f"{name}: {p} is locked by another process (waited {LOCK_PROBE_S:g} s); "
                             "try again when it is done") from None
    except (sqlite3.Error, OSError):
        return  # unreadable or corrupt: the store reports it

