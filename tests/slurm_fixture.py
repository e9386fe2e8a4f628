"""A throwaway one-node Slurm cluster for the tests marked ``slurm``: Debian's munge, MariaDB, slurmdbd,
slurmctld and slurmd, all started from their binaries in a temporary folder (own key, own ports, own
sockets), so that ``sbatch``/``scancel``/``sacct`` and Parsl's SlurmProvider work as on a real cluster.

The fixture ``slurm_cluster`` (scope: the whole test run) skips when the Debian packages (``slurm-wlm``,
``slurmdbd``, ``munge``, ``mariadb-server``) are missing or when not run as root (the daemons run as root here);
``make test`` installs the packages. Clients find the cluster through ``SLURM_CONF``, which the fixture sets.
"""

from __future__ import annotations

import os
import shutil
import socket
import subprocess
import time
from pathlib import Path

import pytest

BINARIES = ("munged", "mungekey", "mariadbd", "mariadb-install-db", "slurmdbd", "slurmctld", "slurmd", "sbatch",
            "sacct", "scancel", "squeue", "sinfo")
PACKAGES = "slurm-wlm slurmdbd munge mariadb-server"


def _which(name: str) -> str | None:
    return shutil.which(name) or next((str(Path(d) / name) for d in ("/usr/sbin", "/usr/bin", "/sbin")
                                       if (Path(d) / name).is_file()), None)


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def missing() -> str | None:
    """Why a cluster cannot be started here, or None."""
    lost = [b for b in BINARIES if _which(b) is None]
    if lost:
        return f"Slurm test cluster needs {', '.join(lost)} (Debian: apt-get install {PACKAGES})"
    if os.geteuid() != 0:
        return "the Slurm test cluster runs its daemons as root"
    return None


class SlurmCluster:
    """munge + MariaDB + slurmdbd + slurmctld + slurmd on this host, state under ``root``."""

    def __init__(self, root: Path, cluster: str = "iftest", partition: str = "debug"):
        self.root = Path(root)
        self.cluster, self.partition = cluster, partition
        self.host = socket.gethostname().split(".")[0]
        self.procs: list[subprocess.Popen] = []
        self.conf = self.root / "etc" / "slurm.conf"
        self.env = {**os.environ, "SLURM_CONF": str(self.conf)}

    # -- helpers ----------------------------------------------------------------------------------
    def _start(self, name: str, cmd: list[str], env: dict | None = None) -> subprocess.Popen:
        log = open(self.root / "log" / f"{name}.out", "w")
        p = subprocess.Popen(cmd, stdout=log, stderr=subprocess.STDOUT, env=env or self.env, start_new_session=True)
        self.procs.append(p)
        return p

    def _wait(self, what: str, ok, timeout: float = 60.0) -> None:
        t0 = time.time()
        while time.time() - t0 < timeout:
            if ok():
                return
            for p in self.procs:
                if p.poll() is not None:
                    raise RuntimeError(f"{p.args[0]} exited ({p.returncode}) while waiting for {what}; "
                                       f"logs in {self.root / 'log'}")
            time.sleep(0.2)
        raise RuntimeError(f"timed out waiting for {what}; logs in {self.root / 'log'}")

    def run(self, *cmd: str, check: bool = True) -> subprocess.CompletedProcess:
        return subprocess.run(list(cmd), env=self.env, capture_output=True, text=True, check=check, timeout=60)

    # -- start / stop -------------------------------------------------------------------------------
    def start(self) -> "SlurmCluster":
        r = self.root
        for d in ("etc", "log", "munge", "db", "dbrun", "state", "spool"):
            (r / d).mkdir(parents=True, exist_ok=True)
        # munge with its own key and socket
        key, sock = r / "munge" / "munge.key", r / "munge" / "munge.sock"
        subprocess.run([_which("mungekey"), "--create", "--keyfile", str(key)], check=True, capture_output=True)
        key.chmod(0o600)
        (r / "munge").chmod(0o700)
        self._start("munged", [_which("munged"), "--foreground", "--force", "--key-file", str(key),
                               "--socket", str(sock), "--pid-file", str(r / "munge" / "munged.pid"),
                               "--log-file", str(r / "log" / "munged.log"), "--seed-file", str(r / "munge" / "seed")])
        self._wait("munged", sock.exists)
        # MariaDB for slurmdbd (accounting: what sacct reads)
        db_port, dbd_port, ctld_port, d_port = (_free_port() for _ in range(4))
        subprocess.run([_which("mariadb-install-db"), "--no-defaults", f"--datadir={r / 'db'}", "--user=root",
                        "--auth-root-authentication-method=normal", "--skip-test-db"],
                       check=True, capture_output=True)
        self._start("mariadbd", [_which("mariadbd"), "--no-defaults", f"--datadir={r / 'db'}", "--user=root",
                                 f"--socket={r / 'dbrun' / 'mysqld.sock'}", f"--port={db_port}",
                                 "--bind-address=127.0.0.1", f"--pid-file={r / 'dbrun' / 'mysqld.pid'}",
                                 "--skip-grant-tables", "--innodb-buffer-pool-size=32M"])
        self._wait("mariadbd", lambda: _port_open(db_port))
        auth = f"AuthType=auth/munge\nAuthInfo=socket={sock}\n"
        dbd_conf = r / "etc" / "slurmdbd.conf"
        dbd_conf.write_text(
            f"{auth}DbdHost=localhost\nDbdPort={dbd_port}\nSlurmUser=root\nStorageType=accounting_storage/mysql\n"
            f"StorageHost=127.0.0.1\nStoragePort={db_port}\nStorageUser=root\nStorageLoc=slurm_acct_db\n"
            f"PidFile={r / 'state' / 'slurmdbd.pid'}\nLogFile={r / 'log' / 'slurmdbd.log'}\nDebugLevel=info\n")
        dbd_conf.chmod(0o600)
        self.conf.write_text(
            f"ClusterName={self.cluster}\nSlurmctldHost={self.host}(127.0.0.1)\n{auth}CredType=cred/munge\n"
            f"SlurmctldPort={ctld_port}\nSlurmdPort={d_port}\nSlurmUser=root\nSlurmdUser=root\n"
            f"StateSaveLocation={r / 'state'}\nSlurmdSpoolDir={r / 'spool'}\n"
            f"SlurmctldPidFile={r / 'state' / 'slurmctld.pid'}\nSlurmdPidFile={r / 'state' / 'slurmd.pid'}\n"
            f"SlurmctldLogFile={r / 'log' / 'slurmctld.log'}\nSlurmdLogFile={r / 'log' / 'slurmd.log'}\n"
            "ProctrackType=proctrack/linuxproc\nTaskPlugin=task/none\nJobAcctGatherType=jobacct_gather/none\n"
            "SelectType=select/cons_tres\nSelectTypeParameters=CR_Core\nSchedulerType=sched/backfill\n"
            "MpiDefault=none\nReturnToService=2\nKillWait=2\nOverTimeLimit=0\nInactiveLimit=0\nMinJobAge=600\n"
            "SlurmctldTimeout=30\nSlurmdTimeout=30\nMessageTimeout=20\n"
            f"AccountingStorageType=accounting_storage/slurmdbd\nAccountingStorageHost=localhost\n"
            f"AccountingStoragePort={dbd_port}\nAccountingStoragePass={sock}\nJobCompType=jobcomp/none\n"
            "MailProg=/bin/true\n"
            f"NodeName={self.host} NodeAddr=127.0.0.1 CPUs={os.cpu_count()} State=UNKNOWN\n"
            f"PartitionName={self.partition} Nodes={self.host} Default=YES MaxTime=INFINITE State=UP "
            "OverSubscribe=FORCE:4\n")
        self._start("slurmdbd", [_which("slurmdbd"), "-D"])
        self._wait("slurmdbd", lambda: _port_open(dbd_port))
        self.run("sacctmgr", "-i", "add", "cluster", self.cluster, check=False)
        self._start("slurmctld", [_which("slurmctld"), "-D", "-i"])
        self._wait("slurmctld", lambda: _port_open(ctld_port))
        self._start("slurmd", [_which("slurmd"), "-D", "-N", self.host])
        self._wait("an idle node", lambda: "idle" in self.run("sinfo", "-h", "-o", "%T", check=False).stdout)
        return self

    def stop(self) -> None:
        for p in reversed(self.procs):
            if p.poll() is None:
                p.terminate()
                try:
                    p.wait(timeout=15)
                except subprocess.TimeoutExpired:
                    p.kill()
                    p.wait()
        self.procs.clear()

    # -- queries ------------------------------------------------------------------------------------
    def sacct(self, *fields: str) -> list[dict[str, str]]:
        """Jobs of this cluster in the accounting database (allocations only, no steps)."""
        fields = fields or ("JobID", "JobName", "State", "ExitCode", "Elapsed")
        out = self.run("sacct", "-a", "-X", "-n", "-P", "-S", "2000-01-01", "-o", ",".join(fields)).stdout
        return [dict(zip(fields, line.split("|"))) for line in out.splitlines() if line.strip()]


def _port_open(port: int) -> bool:
    with socket.socket() as s:
        s.settimeout(0.2)
        return s.connect_ex(("127.0.0.1", port)) == 0


@pytest.fixture(scope="session")
def slurm_cluster(tmp_path_factory):
    why = missing()
    if why:
        pytest.skip(why)
    cluster = SlurmCluster(tmp_path_factory.mktemp("slurm"))
    old = os.environ.get("SLURM_CONF")
    try:
        cluster.start()
    except Exception:
        cluster.stop()
        raise
    os.environ["SLURM_CONF"] = str(cluster.conf)
    yield cluster
    cluster.stop()
    if old is None:
        os.environ.pop("SLURM_CONF", None)
    else:
        os.environ["SLURM_CONF"] = old
