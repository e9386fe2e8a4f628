"""Workflow: one executor interface for expensive tasks, Parsl backends, a resumable task ledger.

``make_executor(section)`` gives an :class:`Executor` for a ``[workflow]`` section: ``local`` runs in
this process; ``threads``/``processes`` use Parsl on this machine; ``slurm``/``pbs`` use Parsl's
batch providers. :class:`Ledger` + :func:`run_tasks` make a killed run resumable.
"""

from __future__ import annotations

from pathlib import Path

from interforge.config.workflow import WorkflowSection
from interforge.workflow.executor import BaseExecutor, Executor, InProcessExecutor
from interforge.workflow.ledger import Ledger, Task, TaskOutcome, run_tasks


def make_executor(section: WorkflowSection | None = None, run_dir: str | Path | None = None) -> Executor:
    """An executor for ``section`` (None = the defaults: in-process). Use it as a context manager."""
    section = section or WorkflowSection()
    if section.executor == "local":
        return InProcessExecutor(retries=section.retries)
    if section.executor == "pool":
        from interforge.workflow.executor import PoolExecutor

        return PoolExecutor(section.max_workers, retries=section.retries)
    from interforge.workflow.parsl_backend import ParslExecutor

    return ParslExecutor(section, run_dir=run_dir)


def make_provider(section: WorkflowSection):
    """The Parsl provider of a ``[workflow]`` section (see :mod:`interforge.workflow.parsl_backend`)."""
    from interforge.workflow.parsl_backend import make_provider as _mp

    return _mp(section)


def render_batch_script(section: WorkflowSection, command: str = "process_worker_pool.py", **kwargs) -> str:
    """The Slurm/PBS batch script Parsl would submit for ``section`` (no scheduler needed)."""
    from interforge.workflow.parsl_backend import render_batch_script as _rb

    return _rb(section, command, **kwargs)


__all__ = [
    "BaseExecutor", "Executor", "InProcessExecutor", "Ledger", "Task", "TaskOutcome", "make_executor",
    "make_provider", "render_batch_script", "run_tasks",
]
