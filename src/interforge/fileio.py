"""Atomic file writes: a reader never sees a half-written file, a kill never leaves one.

Every writer here writes to a temporary file in the target directory, flushes and fsyncs it,
then renames it over the target (rename is atomic on POSIX file systems). The result gets the mode a
plain ``open()`` would give it (0666 less the user's umask), not mkstemp's private 0600.
"""

from __future__ import annotations

import contextlib
import json
import os
import tempfile
from pathlib import Path
from typing import Any, Iterator


def _umask() -> int:
    """The process umask (read by setting it and putting it back: POSIX has no getter)."""
    mask = os.umask(0o022)
    os.umask(mask)
    return mask


@contextlib.contextmanager
def atomic_path(target: str | os.PathLike, suffix: str | None = None) -> Iterator[Path]:
    """Yield a temporary path next to ``target``; on success it replaces ``target`` atomically.

    ``suffix`` defaults to the target's suffix so that writers choosing a format by extension
    (ASE, pymatgen) still see the right one.
    """
    target = Path(target)
    target.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(
        prefix=f".{target.name}.", suffix=suffix if suffix is not None else target.suffix,
        dir=target.parent,
    )
    os.close(fd)
    tmp_path = Path(tmp)
    os.chmod(tmp_path, 0o666 & ~_umask())  # mkstemp makes 0600; results get the mode open() would give
    try:
        yield tmp_path
        with open(tmp_path, "rb+") as fh:
            os.fsync(fh.fileno())
        os.replace(tmp_path, target)
    finally:
        if tmp_path.exists():
            tmp_path.unlink()


def atomic_write_text(target: str | os.PathLike, text: str) -> Path:
    """Write ``text`` to ``target`` atomically and return the path."""
    with atomic_path(target) as tmp:
        tmp.write_text(text)
    return Path(target)


def _json_default(obj: Any) -> Any:
    # numpy scalars/arrays and paths appear in results; JSON wants plain types.
    if hasattr(obj, "tolist"):
        return obj.tolist()
    if isinstance(obj, os.PathLike):
        return os.fspath(obj)
    if hasattr(obj, "__dataclass_fields__"):
        import dataclasses

        return dataclasses.asdict(obj)
    raise TypeError(f"cannot serialise {type(obj).__name__} to JSON")


def atomic_write_json(target: str | os.PathLike, data: Any) -> Path:
    """Write ``data`` as indented JSON atomically (numpy values become plain numbers)."""
    return atomic_write_text(target, json.dumps(data, indent=2, default=_json_default) + "\n")
