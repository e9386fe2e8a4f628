"""Content hashes: one for a structure (duplicate detection, splits) and one for settings (provenance)."""

from __future__ import annotations

import hashlib
import json
from typing import Any

import numpy as np
from ase import Atoms

#: Positions and cell are rounded to this many decimals (Å / fractional) before hashing.
HASH_DECIMALS = 4


def structure_hash(atoms: Atoms) -> str:
    """A 20-hex-digit hash of species, cell and wrapped fractional positions (rounded to 1e-4).

    Two structures with the same atoms in the same order and the same geometry to 1e-4 hash equal;
    translation by whole lattice vectors does not change the hash.
    """
    frac = atoms.cell.scaled_positions(atoms.positions) if atoms.cell.rank == 3 else atoms.positions
    frac = np.round(np.mod(np.round(frac, HASH_DECIMALS), 1.0), HASH_DECIMALS) % 1.0
    h = hashlib.sha256()
    h.update(" ".join(atoms.get_chemical_symbols()).encode())
    h.update(np.round(np.asarray(atoms.cell), HASH_DECIMALS).astype(np.float64).tobytes())
    h.update(np.ascontiguousarray(frac, dtype=np.float64).tobytes())
    h.update(np.asarray(atoms.pbc, dtype=bool).tobytes())
    return text_safe(h.hexdigest()[:20])


def settings_hash(settings: dict[str, Any] | None) -> str:
    """A 16-hex-digit hash of a settings mapping (key order does not matter)."""
    text = json.dumps(settings or {}, sort_keys=True, default=str)
    return text_safe(hashlib.sha256(text.encode()).hexdigest()[:16])


def text_safe(digest: str) -> str:
    """``digest`` unchanged unless it reads as a number, then with its first character replaced by ``x``.

    ASE's database refuses a text value that reads as an int or a float, and about one hex digest in
    5,000 does (only decimal digits, or digits and one ``e``: "39824477667166832080", "12e4..."): the
    label store could not hold such a structure. No stored hash was ever of that form, so mapping them
    keeps every existing hash."""
    try:
        float(digest)
    except ValueError:
        return digest
    return "x" + digest[1:]


def split_fraction(struct_hash: str, salt: int | str = 0) -> float:
    """A number in [0, 1) fixed by the structure hash and a salt: the basis of a stable split.

    A structure's side of the train/test split never changes when other structures are added.
    """
    digest = hashlib.sha256(f"{salt}:{struct_hash}".encode()).hexdigest()
    return int(digest[:13], 16) / 16**13
