"""The executor interface every expensive step runs through, and its in-process backend.

An executor has ``submit(fn, *args, **kwargs) -> concurrent.futures.Future``, ``map(fn, iterable)``,
``shutdown(wait=True)`` and is a context manager. Futures are standard ``concurrent.futures``
futures (Parsl's AppFuture is one), so callers use ``as_completed`` / ``wait`` from the stdlib.
"""

from __future__ import annotations

import logging
from concurrent.futures import Future
from typing import Any, Callable, Iterable, Iterator, Protocol, runtime_checkable

log = logging.getLogger(__name__)


@runtime_checkable
class Executor(Protocol):
    """What labelling, training and MD tasks are submitted to."""

    def submit(self, fn: Callable[..., Any], *args: Any, **kwargs: Any) -> Future: ...

    def map(self, fn: Callable[..., Any], iterable: Iterable[Any]) -> Iterator[Any]: ...

    def shutdown(self, wait: bool = True) -> None: ...

    def __enter__(self) -> "Executor": ...

    def __exit__(self, *exc: Any) -> None: ...


class BaseExecutor:
    """Shared map / context-manager behaviour; subclasses implement ``submit`` and ``shutdown``."""

    name = "base"

    def submit(self, fn: Callable[..., Any], *args: Any, **kwargs: Any) -> Future:  # pragma: no cover
        raise NotImplementedError

    def shutdown(self, wait: bool = True) -> None:  # pragma: no cover
        pass

    def map(self, fn: Callable[..., Any], iterable: Iterable[Any]) -> Iterator[Any]:
        """Submit ``fn(x)`` for every item, then yield results in input order (re-raises a task's error)."""
        futures = [self.submit(fn, x) for x in iterable]
        for fut in futures:
            yield fut.result()

    def __enter__(self):
        return self

    def __exit__(self, *exc: Any) -> None:
        self.shutdown(wait=True)


class InProcessExecutor(BaseExecutor):
    """Runs each task immediately in the calling thread; returns an already finished Future.

    The simplest backend (the default ``executor = "local"``): no worker start-up cost, the calling
    process's caches (a loaded model) are reused, and a task's exception lands in its future.
    ``retries`` re-runs a task that raised, as the Parsl backend does.
    """

    name = "local"

    def __init__(self, retries: int = 0):
        self.retries = retries
        self._closed = False

    def submit(self, fn: Callable[..., Any], *args: Any, **kwargs: Any) -> Future:
        if self._closed:
            raise RuntimeError("executor is shut down")
        fut: Future = Future()
        fut.set_running_or_notify_cancel()
        for attempt in range(self.retries + 1):
            try:
                result = fn(*args, **kwargs)
            except BaseException as err:  # noqa: BLE001 - the future carries it to the caller
                if isinstance(err, (KeyboardInterrupt, SystemExit)):
                    raise
                if attempt < self.retries:
                    log.warning("task %s failed (%s); retry %d of %d", getattr(fn, "__name__", fn), err,
                                attempt + 1, self.retries)
                    continue
                fut.set_exception(err)
            else:
                fut.set_result(result)
            break
        return fut

    def shutdown(self, wait: bool = True) -> None:
        self._closed = True


def worker_init() -> None:
    """One torch thread per worker (two-thread torch on shared cores is several times slower), and on Linux
    the worker dies with its parent, so a killed run leaves no orphan writing into a task folder."""
    import ctypes
    import os
    import signal

    # Before any OpenMP runtime starts in this worker: NEP_CPU (calorine) and D3 would otherwise start one
    # thread per core in every worker, and two workers on two cores then wait on each other.
    os.environ["OMP_NUM_THREADS"] = "1"
    try:
        ctypes.CDLL(None).prctl(1, int(signal.SIGKILL))  # PR_SET_PDEATHSIG
    except (OSError, AttributeError):  # not Linux: the pool's shutdown still ends idle workers
        pass
    try:
        import torch

        torch.set_num_threads(1)
    except ImportError:  # pragma: no cover - torch is a dependency
        pass


def _with_retries(retries: int, fn: Callable[..., Any], args: tuple, kwargs: dict) -> Any:
    for attempt in range(retries + 1):
        try:
            return fn(*args, **kwargs)
        except Exception as err:  # noqa: BLE001 - re-raised after the last attempt
            if attempt == retries:
                raise
            log.warning("task %s failed (%s); retry %d of %d", getattr(fn, "__name__", fn), err, attempt + 1, retries)
    return None  # pragma: no cover


class PoolExecutor(BaseExecutor):
    """Tasks in ``workers`` spawned local processes (``executor = "pool"``): one core each, no scheduler, no
    Parsl start-up. Labelling, MD and members of a committee then use every core of a laptop. Each worker
    loads its own models once (a few seconds); tasks must be picklable, as for Parsl."""

    name = "pool"

    def __init__(self, workers: int = 2, retries: int = 0):
        import multiprocessing as mp
        from concurrent.futures import ProcessPoolExecutor

        self.retries = retries
        self._pool = ProcessPoolExecutor(max_workers=workers, mp_context=mp.get_context("spawn"),
                                         initializer=worker_init)

    def submit(self, fn: Callable[..., Any], *args: Any, **kwargs: Any) -> Future:
        return self._pool.submit(_with_retries, self.retries, fn, args, kwargs)

    def shutdown(self, wait: bool = True) -> None:
        self._pool.shutdown(wait=wait, cancel_futures=not wait)
