"""What makes ``train`` resumable: a content hash of a member's inputs and its done marker.

A finished member's folder holds ``nep.txt`` and ``done.json`` (written last, atomically) with the hash of
everything that decides the model (labelled structures, settings, seed, initial model) and the member's
result. A re-run with the same inputs skips that member; with other inputs it trains it again.
"""

from __future__ import annotations

import hashlib
import json
import logging
import os
from pathlib import Path
from typing import Any, Sequence

import numpy as np

from interforge.fileio import atomic_write_json

log = logging.getLogger(__name__)

DONE_NAME = "done.json"


def labels_hash(structures: Sequence) -> str:
    """SHA-256 over species, positions, cell, pbc, labels (energy, forces, stress) and per-structure
    weight/stage of labelled Atoms, in order (exact bytes, no rounding)."""
    h = hashlib.sha256()
    for a in structures:
        h.update(np.asarray(a.numbers, dtype=np.int64).tobytes())
        h.update(np.ascontiguousarray(a.positions, dtype=np.float64).tobytes())
        h.update(np.ascontiguousarray(a.cell.array, dtype=np.float64).tobytes())
        h.update(np.asarray(a.pbc, dtype=bool).tobytes())
        res = a.calc.results if a.calc is not None else {}
        for key in ("energy", "forces", "stress"):
            if key in res:
                h.update(key.encode())
                h.update(np.ascontiguousarray(res[key], dtype=np.float64).tobytes())
        h.update(json.dumps({k: a.info.get(k) for k in ("weight", "stage")}, default=str).encode())
        h.update(b"|")
    return h.hexdigest()


def file_hash(path: str | os.PathLike | None) -> str | None:
    return None if path is None else hashlib.sha256(Path(path).read_bytes()).hexdigest()


def inputs_hash(**parts: Any) -> str:
    """One hex digest of JSON-able ``parts`` (key order does not matter)."""
    return hashlib.sha256(json.dumps(parts, sort_keys=True, default=str).encode()).hexdigest()


def finished(out_dir: str | os.PathLike, key: str) -> dict | None:
    """The stored result of a member trained from the same inputs, or None (then it must be trained)."""
    out_dir = Path(out_dir)
    try:
        done = json.loads((out_dir / DONE_NAME).read_text())
    except (OSError, ValueError):
        return None
    if done.get("inputs_hash") != key or not (out_dir / "nep.txt").is_file():
        log.info("%s: a member from other inputs is there; training it again", out_dir)
        return None
    return done["result"]


def mark_done(out_dir: str | os.PathLike, key: str, result: dict) -> Path:
    return atomic_write_json(Path(out_dir) / DONE_NAME, {"inputs_hash": key, "result": result})
