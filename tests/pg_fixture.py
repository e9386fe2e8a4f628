"""A throwaway PostgreSQL server for the tests, started from Debian's ``postgresql`` binaries.

``postgres_server`` (session scope) runs ``initdb`` and ``pg_ctl start`` in a temporary folder,
listening on a Unix socket only, and stops and deletes it after the run. Run as root (as CI does), the
server runs as the unprivileged ``postgres`` user (``runuser``), since PostgreSQL refuses root.
``make test`` installs the package; without it the tests that need the server skip and say why.
``postgres_db()`` hands out a fresh, empty database URL per call.
"""

from __future__ import annotations

import glob
import itertools
import os
import pwd
import shutil
import subprocess
import tempfile
from pathlib import Path

import pytest

PG_PORT = 5432  # only names the socket file: the server listens on no TCP port


def _bindir() -> Path | None:
    found = sorted(glob.glob("/usr/lib/postgresql/*/bin/initdb"),
                   key=lambda p: int(Path(p).parts[-3]) if Path(p).parts[-3].isdigit() else 0)
    return Path(found[-1]).parent if found else None


class PostgresServer:
    def __init__(self, bindir: Path, base: Path, as_user: str | None):
        self.bindir, self.base, self.as_user = bindir, base, as_user
        self.data, self.sock, self.log = base / "data", base / "sock", base / "server.log"
        self._names = itertools.count()

    def _run(self, *args: str) -> subprocess.CompletedProcess:
        cmd = list(args)
        if self.as_user:
            cmd = ["runuser", "-u", self.as_user, "--", *cmd]
        return subprocess.run(cmd, cwd=self.base, capture_output=True, text=True, timeout=120)

    def start(self) -> None:
        out = self._run("mkdir", "-m", "0700", str(self.sock))
        if out.returncode:
            raise RuntimeError(f"cannot create the socket folder: {out.stderr.strip()}")
        out = self._run(str(self.bindir / "initdb"), "-D", str(self.data), "-U", "interforge", "--auth=trust",
                        "-E", "UTF8", "--no-sync")
        if out.returncode:
            raise RuntimeError(f"initdb failed: {out.stderr.strip()[-500:]}")
        opts = f"-k {self.sock} -p {PG_PORT} -c listen_addresses='' -c fsync=off -c max_connections=100"
        out = self._run(str(self.bindir / "pg_ctl"), "-D", str(self.data), "-o", opts, "-l", str(self.log),
                        "-w", "-t", "60", "start")
        if out.returncode:
            log = self.log.read_text()[-800:] if self.log.exists() else ""
            raise RuntimeError(f"pg_ctl start failed: {out.stderr.strip()[-500:]} {log}")

    def stop(self) -> None:
        self._run(str(self.bindir / "pg_ctl"), "-D", str(self.data), "-m", "immediate", "-w", "stop")

    def url(self, dbname: str) -> str:
        return f"postgresql://interforge@/{dbname}?host={self.sock}&port={PG_PORT}"

    def new_database(self) -> str:
        """URL of a new empty database."""
        import psycopg2

        name = f"t{os.getpid()}_{next(self._names)}"
        con = psycopg2.connect(self.url("postgres"))
        con.autocommit = True
        try:
            con.cursor().execute(f'CREATE DATABASE "{name}"')
        finally:
            con.close()
        return self.url(name)


@pytest.fixture(scope="session")
def postgres_server():
    """A running PostgreSQL server for the whole test run (skips when the binaries are missing)."""
    bindir = _bindir()
    if bindir is None:
        pytest.skip("PostgreSQL server binaries not found (/usr/lib/postgresql/*/bin; Debian package "
                    "'postgresql', installed by make test)")
    try:
        import psycopg2  # noqa: F401
    except ImportError:
        pytest.skip("the PostgreSQL driver is not installed (pip install -e '.[test]')")
    as_user = None
    if os.geteuid() == 0:
        try:
            pwd.getpwnam("postgres")
        except KeyError:
            pytest.skip("running as root and there is no 'postgres' user to run the server as")
        as_user = "postgres"
    base = Path(tempfile.mkdtemp(prefix="ifpg-"))  # short: a Unix socket path has ~100 characters
    server = PostgresServer(bindir, base, as_user)
    if as_user:
        shutil.chown(base, user=as_user)
    try:
        server.start()
    except Exception:
        shutil.rmtree(base, ignore_errors=True)
        raise
    try:
        yield server
    finally:
        server.stop()
        shutil.rmtree(base, ignore_errors=True)


@pytest.fixture
def postgres_db(postgres_server):
    """A factory of fresh, empty PostgreSQL database URLs."""
    return postgres_server.new_database


@pytest.fixture(params=["sqlite", pytest.param("postgresql", marks=pytest.mark.postgres)])
def store_url(request, tmp_path):
    """A factory of new store locations (``name`` -> URL), for SQLite and PostgreSQL alike."""
    if request.param == "sqlite":
        return lambda name="store": str(tmp_path / f"{name}.db")
    server = request.getfixturevalue("postgres_server")
    return lambda name="store": server.new_database()
