"""Shared test fixtures. Tests run on 2 cores in CI: keep thread pools small and deterministic."""

import os

os.environ.setdefault("OMP_NUM_THREADS", "1")
os.environ.setdefault("MKL_NUM_THREADS", "1")
os.environ.setdefault("OPENBLAS_NUM_THREADS", "1")

from pathlib import Path  # noqa: E402

import pytest  # noqa: E402

# The sibling shared/ folder of the development set-up (INTERFORGE_SHARED overrides it); the tests do not need it.
SHARED = Path(os.environ.get("INTERFORGE_SHARED") or Path(__file__).resolve().parents[2] / "shared")
NEP_FIXTURES = SHARED / "fixtures" / "nep"
PUBLIC_NEP = Path(__file__).resolve().parent / "data" / "nep" / "public"  # the same models, xz, with README


@pytest.fixture(scope="session")
def _public_nep_models(tmp_path_factory) -> Path:
    """The public GPUMD models of tests/data/nep/public, decompressed once per session."""
    import lzma

    out = tmp_path_factory.mktemp("public-nep")
    for xz in sorted(PUBLIC_NEP.glob("*.txt.xz")):
        (out / xz.name[:-3]).write_bytes(lzma.decompress(xz.read_bytes()))
    return out


@pytest.fixture
def nep_fixture_dir(_public_nep_models) -> Path:
    """Public NEP models written by GPUMD: shared/fixtures/nep when present, else the shipped copies."""
    return NEP_FIXTURES if NEP_FIXTURES.is_dir() else _public_nep_models


# -- PostgreSQL (issue 14/16, the label store): fixtures live in tests/pg_fixture.py ----------------
from pg_fixture import postgres_db, postgres_server, store_url  # noqa: E402,F401

# -- Slurm (issue 14, items 2 and 4): a one-node cluster, tests/slurm_fixture.py ----------------------------
from slurm_fixture import slurm_cluster  # noqa: E402,F401
