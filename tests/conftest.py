"""Shared test fixtures. Tests run on 2 cores in CI: keep thread pools small and deterministic."""

import os

os.environ.setdefault("OMP_NUM_THREADS", "1")
os.environ.setdefault("MKL_NUM_THREADS", "1")
os.environ.setdefault("OPENBLAS_NUM_THREADS", "1")

from pathlib import Path  # noqa: E402

import pytest  # noqa: E402

SHARED = Path(__file__).resolve().parents[2] / "shared"
NEP_FIXTURES = SHARED / "fixtures" / "nep"


@pytest.fixture
def nep_fixture_dir() -> Path:
    """shared/fixtures/nep beside the checkout; tests that need it skip cleanly when absent."""
    if not NEP_FIXTURES.is_dir():
        pytest.skip("../shared/fixtures/nep is not present")
    return NEP_FIXTURES


# -- PostgreSQL (issue 14/16, the label store): fixtures live in tests/pg_fixture.py ----------------
from pg_fixture import postgres_db, postgres_server, store_url  # noqa: E402,F401
