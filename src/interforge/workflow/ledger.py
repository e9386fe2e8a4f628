"""An on-disk ledger of content-addressed task folders with done markers.

Each task is a folder ``<root>/<name>-<key>/`` where ``key`` hashes the task's name and its
JSON-able specification (so the same work always maps to the same folder). Inside:

- ``task.json``   the specification (written when the task is first submitted);
- ``running``     marker written at submission (with pid, host, time, attempt count);
- ``done.json``   the task's JSON-able result, written atomically by the *worker* when it finishes —
                  so a result survives the death of the process that submitted it;
- ``failed.json`` the error of the last failed attempt.

A re-run after a kill skips tasks with ``done.json`` (returning the stored result), and resubmits
tasks that were running (their ``running`` marker has no ``done.json``), new tasks and, unless told
otherwise, failed tasks. Task functions receive their folder as the keyword ``task_dir`` when
``pass_task_dir`` is set, to keep scratch files (VASP, NEP training) there.
"""

from __future__ import annotations

import json
import logging
import os
import socket
import time
from concurrent.futures import Future, as_completed
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable

from interforge.data import settings_hash
from interforge.fileio import atomic_write_json
from interforge.workflow.executor import Executor

log = logging.getLogger(__name__)

DONE, RUNNING, FAILED, NEW = "done", "running", "failed", "new"


@dataclass
class Task:
    """One unit of work: ``fn(*args, **kwargs)``; ``spec`` (JSON-able) decides its identity."""

    name: str
    fn: Callable[..., Any]
    spec: dict[str, Any]
    args: tuple = ()
    kwargs: dict[str, Any] = field(default_factory=dict)
    pass_task_dir: bool = False

    @property
    def key(self) -> str:
        return f"{self.name}-{settings_hash({'name': self.name, 'spec': self.spec})}"


@dataclass
class TaskOutcome:
    """What happened to one task in :func:`run_tasks`: ``state`` is done or failed."""

    key: str
    state: str
    result: Any = None
    error: str = ""
    skipped: bool = False  # True when the result came from an earlier run


def _run_and_mark(folder: str, fn: Callable[..., Any], args: tuple, kwargs: dict[str, Any], pass_task_dir: bool):
    """Worker side: run the task, then write ``done.json`` (or ``failed.json``) atomically."""
    path = Path(folder)
    if pass_task_dir:
        kwargs = {**kwargs, "task_dir": str(path)}
    try:
        result = fn(*args, **kwargs)
    except Exception as err:
        atomic_write_json(path / "failed.json", {"error": f"{type(err).__name__}: {err}", "time": time.time()})
        raise
    atomic_write_json(path / "done.json", {"result": result, "time": time.time()})
    (path / "failed.json").unlink(missing_ok=True)  # an earlier attempt's error no longer applies
    return result


class Ledger:
    """Task folders under ``root``; safe to share between runs (and, on a shared file system, nodes)."""

    def __init__(self, root: str | Path):
        self.root = Path(root)
        self.root.mkdir(parents=True, exist_ok=True)

    def folder(self, task_or_key: "Task | str") -> Path:
        key = task_or_key.key if isinstance(task_or_key, Task) else task_or_key
        return self.root / key

    def state(self, task_or_key: "Task | str") -> str:
        """``done``, ``failed``, ``running`` (submitted, unfinished: a killed run leaves these) or ``new``."""
        d = self.folder(task_or_key)
        if (d / "done.json").is_file():
            return DONE
        if (d / "failed.json").is_file():
            return FAILED
        if (d / "running").is_file():
            return RUNNING
        return NEW

    def result(self, task_or_key: "Task | str") -> Any:
        """The stored result of a finished task."""
        return json.loads((self.folder(task_or_key) / "done.json").read_text())["result"]

    def states(self) -> dict[str, str]:
        """State of every task folder in the ledger."""
        return {d.name: self.state(d.name) for d in sorted(self.root.iterdir()) if d.is_dir()}

    def mark_running(self, task: Task) -> Path:
        d = self.folder(task)
        d.mkdir(parents=True, exist_ok=True)
        if not (d / "task.json").is_file():
            atomic_write_json(d / "task.json", {"name": task.name, "spec": task.spec})
        attempts = 1
        if (d / "running").is_file():
            try:
                attempts = int(json.loads((d / "running").read_text()).get("attempts", 0)) + 1
            except (ValueError, json.JSONDecodeError):
                attempts = 1
        failed = d / "failed.json"
        if failed.is_file():
            failed.unlink()
        atomic_write_json(d / "running", {"pid": os.getpid(), "host": socket.gethostname(), "time": time.time(),
                                          "attempts": attempts})
        return d

    def submit(self, executor: Executor, task: Task) -> Future:
        """Mark ``task`` running and submit it; the worker writes its done marker."""
        d = self.mark_running(task)
        return executor.submit(_run_and_mark, str(d), task.fn, tuple(task.args), dict(task.kwargs), task.pass_task_dir)


def run_tasks(executor: Executor, ledger: Ledger, tasks: list[Task], retry_failed: bool = True,
              progress: bool = False) -> list[TaskOutcome]:
    """Run the tasks that are not done yet; return one outcome per task, in input order.

    Finished tasks (``done.json``) are not resubmitted: their stored result is returned with
    ``skipped=True``. Tasks left ``running`` by a killed run are resubmitted, as are failed tasks
    when ``retry_failed``. A task's exception becomes a failed outcome; the others carry on.
    """
    outcomes: dict[int, TaskOutcome] = {}
    seen: dict[str, int] = {}
    to_submit: list[int] = []
    for i, task in enumerate(tasks):
        key = task.key
        if key in seen:  # the same work twice in one call: run it once
            continue
        seen[key] = i
        state = ledger.state(task)
        if state == DONE:
            outcomes[i] = TaskOutcome(key, DONE, ledger.result(task), skipped=True)
        elif state == FAILED and not retry_failed:
            err = json.loads((ledger.folder(task) / "failed.json").read_text()).get("error", "")
            outcomes[i] = TaskOutcome(key, FAILED, error=err, skipped=True)
        else:
            if state == RUNNING:
                log.info("task %s was running when an earlier run stopped; resubmitting", key)
            to_submit.append(i)
    log.info("%d tasks: %d already finished, %d to run", len(seen), len(outcomes), len(to_submit))
    bar = None
    if progress and to_submit:
        from tqdm import tqdm

        bar = tqdm(total=len(to_submit), unit="task", desc="tasks")

    def collect(i: int, fut: Future) -> None:
        try:
            outcomes[i] = TaskOutcome(tasks[i].key, DONE, fut.result())
        except Exception as err:  # noqa: BLE001 - one failed task must not stop the others
            outcomes[i] = TaskOutcome(tasks[i].key, FAILED, error=f"{type(err).__name__}: {err}")
            log.warning("task %s failed: %s", tasks[i].key, outcomes[i].error)
        if bar is not None:
            bar.update(1)

    try:
        pending: dict[Future, int] = {}
        for i in to_submit:
            fut = ledger.submit(executor, tasks[i])
            if fut.done():  # in-process backends finish at submission: report progress as it happens
                collect(i, fut)
            else:
                pending[fut] = i
        for fut in as_completed(pending):
            collect(pending[fut], fut)
    finally:
        if bar is not None:
            bar.close()
    return [outcomes[seen[t.key]] for t in tasks]


def in_workers(executor, ledger_dir: str | os.PathLike, tasks: dict[Any, Task], what: str) -> dict:
    """Run ``tasks`` (key → :class:`Task`) through ``executor`` with its ledger in
    ``ledger_dir``; returns key → result of those that finished there (none without an executor). A task that
    failed in its worker gets a warning naming ``what`` and the task; the caller runs what is missing here,
    where a worker's trouble (memory, a lost process) usually does not repeat."""
    if executor is None or not tasks:
        return {}
    out = {}
    for key, o in zip(tasks, run_tasks(executor, Ledger(ledger_dir), list(tasks.values()))):
        if o.state == "done":
            out[key] = o.result
        else:
            log.warning("%s %s failed in its worker (%s); running it here", what, tasks[key].name, o.error)
    return out
