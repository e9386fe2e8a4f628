"""The Parsl backend: local threads or processes, or Slurm/PBS batch jobs from ``[workflow]``.

Parsl stays behind the :class:`~interforge.workflow.executor.Executor` interface: callers submit
plain functions and get standard futures. Each ``ParslExecutor`` owns its own DataFlowKernel
(no global ``parsl.load``), so two executors can coexist and shutting one down frees its workers.
"""

from __future__ import annotations

import logging
import sys
import tempfile
from concurrent.futures import Future
from pathlib import Path
from typing import Any, Callable

from interforge.config.workflow import WorkflowSection
from interforge.errors import InterforgeError
from interforge.workflow.executor import BaseExecutor

log = logging.getLogger(__name__)


def make_provider(section: WorkflowSection):
    """The Parsl execution provider for ``section.executor`` (local, slurm or pbs)."""
    from parsl.launchers import SrunLauncher, MpiRunLauncher
    from parsl.providers import LocalProvider, PBSProProvider, SlurmProvider

    s = section.scheduler
    if section.executor in ("local", "threads", "processes"):
        return LocalProvider(init_blocks=1, min_blocks=0, max_blocks=1, worker_init=s.worker_init)
    if section.executor == "slurm":
        return SlurmProvider(
            partition=s.partition or None, account=s.account or None, qos=s.qos or None,
            nodes_per_block=s.nodes_per_block, cores_per_node=s.cores_per_node or None,
            mem_per_node=s.mem_per_node or None, gpus_per_node=s.gpus_per_node or None,
            init_blocks=s.init_blocks, min_blocks=0, max_blocks=s.max_blocks, walltime=s.walltime,
            scheduler_options=s.scheduler_options, worker_init=s.worker_init, exclusive=s.exclusive,
            launcher=SrunLauncher(),
        )
    if section.executor == "pbs":
        return PBSProProvider(
            account=s.account or None, queue=s.partition or None, scheduler_options=s.scheduler_options,
            worker_init=s.worker_init, nodes_per_block=s.nodes_per_block, cpus_per_node=s.cores_per_node or 1,
            init_blocks=s.init_blocks, min_blocks=0, max_blocks=s.max_blocks, walltime=s.walltime,
            launcher=MpiRunLauncher(),
        )
    raise InterforgeError(f"workflow.executor '{section.executor}' has no Parsl provider")


def parsl_config(section: WorkflowSection, run_dir: str | Path):
    """A Parsl ``Config`` for the section: ThreadPool for threads, HighThroughput otherwise."""
    from parsl.config import Config
    from parsl.executors import HighThroughputExecutor, ThreadPoolExecutor

    local_cmds: dict = {}
    bin_dir = Path(sys.executable).parent
    if (bin_dir / "process_worker_pool.py").is_file():
        # Local workers: Parsl's scripts from this interpreter's bin folder, which need not be on PATH.
        from parsl.executors.high_throughput.executor import DEFAULT_LAUNCH_CMD

        local_cmds = {"launch_cmd": DEFAULT_LAUNCH_CMD.replace("process_worker_pool.py",
                                                               f"{sys.executable} {bin_dir / 'process_worker_pool.py'}"),
                      "interchange_launch_cmd": [sys.executable, str(bin_dir / "interchange.py")]}
    if section.executor == "threads":
        executor = ThreadPoolExecutor(label="threads", max_threads=section.max_workers)
    elif section.executor == "processes":
        executor = HighThroughputExecutor(
            label="processes", provider=make_provider(section), max_workers_per_node=section.max_workers,
            cores_per_worker=1, address="127.0.0.1", encrypted=False,
            # Short heartbeats: a local worker that dies is noticed in seconds, not minutes.
            heartbeat_period=2, heartbeat_threshold=10, poll_period=10, **local_cmds,
        )
    elif section.executor in ("slurm", "pbs"):
        # Workers start from this interpreter's bin folder too (a shared file system, as usual on clusters, or
        # the same path on every node); worker_init may still activate another environment. Heartbeats every
        # 5 s, a lost worker (its batch job cancelled or out of wall time) noticed within 30 s: its task then
        # fails with ManagerLost, Parsl retries it (`retries`), and the strategy submits a new block for it.
        executor = HighThroughputExecutor(
            label=section.executor, provider=make_provider(section),
            cores_per_worker=section.scheduler.cores_per_worker, heartbeat_period=5, heartbeat_threshold=30,
            poll_period=100, **local_cmds,
        )
    else:
        raise InterforgeError(f"workflow.executor '{section.executor}' is not a Parsl executor")
    return Config(executors=[executor], retries=section.retries, run_dir=str(run_dir),
                  initialize_logging=False, strategy="simple", usage_tracking=0)


class ParslExecutor(BaseExecutor):
    """Submit plain Python functions to Parsl; futures are Parsl AppFutures (stdlib futures)."""

    name = "parsl"

    def __init__(self, section: WorkflowSection, run_dir: str | Path | None = None):
        from parsl.dataflow.dflow import DataFlowKernel

        self.section = section
        self.run_dir = Path(run_dir) if run_dir else Path(tempfile.mkdtemp(prefix="parsl-"))
        self.run_dir.mkdir(parents=True, exist_ok=True)
        self._dfk = DataFlowKernel(parsl_config(section, self.run_dir))
        self._apps: dict[Any, Any] = {}
        log.info("Parsl %s executor started (run dir %s)", section.executor, self.run_dir)

    def _app(self, fn: Callable[..., Any]):
        from parsl.app.python import PythonApp

        key = fn
        if key not in self._apps:
            self._apps[key] = PythonApp(fn, data_flow_kernel=self._dfk, cache=False)
        return self._apps[key]

    def submit(self, fn: Callable[..., Any], *args: Any, **kwargs: Any) -> Future:
        if self._dfk is None:
            raise RuntimeError("executor is shut down")
        return self._app(fn)(*args, **kwargs)

    def shutdown(self, wait: bool = True) -> None:
        if self._dfk is not None:
            if wait:
                self._dfk.wait_for_current_tasks()
            self._dfk.cleanup()
            self._dfk = None


def render_batch_script(section: WorkflowSection, command: str = "process_worker_pool.py",
                        tasks_per_node: int = 1, script_dir: str | Path | None = None) -> str:
    """The batch script Parsl would submit for one block, written without a scheduler.

    Parsl's own provider writes it: its submit command is replaced by a stand-in that only records
    the script, so what you see is exactly what ``sbatch``/``qsub`` would receive.
    """
    if section.executor not in ("slurm", "pbs"):
        raise InterforgeError(f"workflow.executor is '{section.executor}'; batch scripts exist for slurm and pbs")
    provider = make_provider(section)
    folder = Path(script_dir) if script_dir else Path(tempfile.mkdtemp(prefix="batch-"))
    folder.mkdir(parents=True, exist_ok=True)
    provider.script_dir = str(folder)
    submitted: list[str] = []

    def fake_execute_wait(cmd, timeout=None):
        submitted.append(cmd)
        # What sbatch / qsub print on success, so the provider's job-id parsing is exercised too.
        return (0, "Submitted batch job 4242" if section.executor == "slurm" else "4242.server", "")

    provider.execute_wait = fake_execute_wait
    job_id = provider.submit(command, tasks_per_node)
    if job_id is None or not submitted:
        raise InterforgeError("the Parsl provider did not produce a batch script")
    script_path = submitted[-1].split()[-1]
    text = Path(script_path).read_text()
    log.debug("batch script for %s written to %s", section.executor, script_path)
    return text


