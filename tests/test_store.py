"""Hashes the label store keeps as text."""

import pytest
from ase.build import bulk
from ase.db import connect

from interforge.data.hashing import text_safe


def test_hashes_that_read_as_numbers_are_stored_as_text(tmp_path):
    """A hex digest of decimal digits only (or digits and one 'e') is a number to ASE's database, which
    refuses it as text (found by the tiny demo: struct_hash 39824477667166832080). Such digests are mapped
    to text; every other digest is unchanged."""
    for number in ("39824477667166832080", "12e45678901234567890", "0000000000000000"):
        with connect(tmp_path / "raw.db") as db, pytest.raises(ValueError, match="interpreted as"):
            db.write(bulk("Si"), struct_hash=number)  # the failure being guarded against
        safe = text_safe(number)
        assert safe != number and len(safe) == len(number)
        with pytest.raises(ValueError):
            float(safe)
        with connect(tmp_path / "safe.db") as db:
            db.write(bulk("Si"), struct_hash=safe)
    assert text_safe("c7a52f982adf5308a20f") == "c7a52f982adf5308a20f"
    assert text_safe("1e") == "1e"  # not a number: unchanged
