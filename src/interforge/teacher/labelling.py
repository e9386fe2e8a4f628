"""Fault-tolerant labelling: structures in, labels (or failures with reasons) into the store.

:func:`label_one` runs inside a worker: it builds (or reuses) the teacher's calculator, computes
energy (eV), forces (eV/Å) and stress (eV/Å³), checks them, and never raises for a bad structure —
failures come back as a :class:`LabelOutcome` with ``status = "failed"`` and a reason:

- an exception from the calculator (``exception: <type>: <message>``);
- non-finite energy, forces or stress (NaN/inf);
- an unconverged SCF or a crashed DFT code (the teacher raises :class:`LabelFailure`);
- a timeout (``timeout_s`` per attempt; a hard limit in a worker's main thread, otherwise checked
  after the call);
- forces above the sanity bound ``max_force`` (eV/Å).

Failures that may be transient (exceptions, crashes, timeouts) are retried ``retries`` times;
deterministic ones (NaN, force bound) are not. :func:`label_structures` skips structures already
in the store for the same teacher identity, submits the rest to an executor, and writes each
result to the store *as it arrives* (one transaction each), so a kill loses at most the labels in
flight and a re-run labels only what is missing.

Workers on one store share the work: before a structure is submitted it is *claimed* in the store
(a row with the worker's name and a lease, :meth:`LabelStore.claim`); a structure claimed by another
live worker is left to it, and a lease that a killed worker stopped renewing expires and is taken
over. The label and the end of the claim are written in one transaction.
"""

from __future__ import annotations

import contextlib
import logging
import math
import signal
import threading
import time
from concurrent.futures import FIRST_COMPLETED, wait
from dataclasses import dataclass, field
from pathlib import Path
from typing import Iterable

import numpy as np
from ase import Atoms

from interforge.config.teacher import TeacherSection
from interforge.data import LabelStore, Record, structure_hash
from interforge.data.store import DEFAULT_LEASE_S
from interforge.teacher.errors import LabelFailure, TeacherError
from interforge.teacher.identity import TeacherIdentity, as_section, teacher_identity

log = logging.getLogger(__name__)

#: Calculators of this process, per (teacher hash, thread): built once, reused for every structure.
_CALCS: dict[tuple[str, int], object] = {}
_CALCS_LOCK = threading.Lock()


@dataclass
class LabelOutcome:
    """Result of labelling one structure (picklable: it travels back from a worker)."""

    status: str
    energy: float | None = None
    forces: np.ndarray | None = None
    stress: np.ndarray | None = None
    reason: str = ""
    attempts: int = 1
    seconds: float = 0.0


@dataclass
class LabelReport:
    """Summary of a labelling run."""

    n_input: int
    n_unique: int
    n_skipped: int
    n_labelled: int
    n_failed: int
    teacher: str
    teacher_hash: str
    seconds: float
    labels_per_minute: float
    failures: list[dict] = field(default_factory=list)
    #: structures left to another worker that holds a live claim on them
    n_claimed_elsewhere: int = 0


class _Timeout(Exception):
    pass


@contextlib.contextmanager
def _time_limit(seconds: float):
    """A hard wall-time limit via SIGALRM where possible (main thread of a process), else nothing."""
    if threading.current_thread() is not threading.main_thread() or not hasattr(signal, "setitimer"):
        yield
        return

    def handler(signum, frame):
        raise _Timeout()

    old = signal.signal(signal.SIGALRM, handler)
    signal.setitimer(signal.ITIMER_REAL, seconds)
    try:
        yield
    finally:
        signal.setitimer(signal.ITIMER_REAL, 0)
        signal.signal(signal.SIGALRM, old)


def _calculator(section: TeacherSection, ident: TeacherIdentity, directory: Path | None):
    from interforge.teacher.factory import make_calculator

    if directory is not None:  # file-based codes: one scratch folder per structure, no reuse
        return make_calculator(section, directory)
    key = (ident.hash + ident.name, threading.get_ident())
    with _CALCS_LOCK:
        calc = _CALCS.get(key)
    if calc is None:
        calc = make_calculator(section)
        with _CALCS_LOCK:
            _CALCS[key] = calc
    return calc


def check_labels(n_atoms: int, energy, forces, stress, max_force: float) -> str:
    """Why these labels cannot be used ('' = they can): non-finite values, wrong shapes, huge forces."""
    if energy is None or not math.isfinite(float(energy)):
        return f"non-finite energy ({energy})"
    f = np.asarray(forces, dtype=float) if forces is not None else None
    if f is None or f.shape != (n_atoms, 3):
        return f"forces missing or of wrong shape ({None if f is None else f.shape})"
    if not np.all(np.isfinite(f)):
        return f"non-finite forces on {int(np.sum(~np.isfinite(f).all(axis=1)))} atoms"
    if stress is not None and not np.all(np.isfinite(np.asarray(stress, dtype=float))):
        return "non-finite stress"
    fmax = float(np.max(np.linalg.norm(f, axis=1))) if n_atoms else 0.0
    if fmax > max_force:
        return f"max force {fmax:.1f} eV/Å above the sanity bound {max_force:g} eV/Å"
    return ""


def _attempt(atoms: Atoms, section: TeacherSection, ident: TeacherIdentity, directory: Path | None):
    calc = _calculator(section, ident, directory)
    work = atoms.copy()
    work.calc = calc
    energy = work.get_potential_energy()
    forces = work.get_forces()
    stress = None
    if work.pbc.all():
        from ase.calculators.calculator import PropertyNotImplementedError

        try:
            stress = work.get_stress(voigt=True)
        except PropertyNotImplementedError:  # a teacher set to energies and forces only (GPAW stress = false)
            stress = None
    return float(energy), np.array(forces, dtype=float), None if stress is None else np.array(stress, dtype=float)


def label_one(atoms: Atoms, settings: "TeacherSection | str | dict | None" = None,
              scratch_dir: str | Path | None = None) -> LabelOutcome:
    """Label one structure with the teacher; never raises for a bad structure (see module doc).

    ``scratch_dir`` is where file-based teachers (VASP, GPAW, QE) run; embedded teachers ignore it.
    """
    section = as_section(settings)
    ident = teacher_identity(section)
    directory = Path(scratch_dir) if scratch_dir and ident.name in ("vasp", "gpaw", "qe") else None
    t0 = time.perf_counter()
    reason = ""
    attempts = 0
    for attempt in range(section.retries + 1):
        attempts = attempt + 1
        retry = True
        start = time.perf_counter()
        try:
            with _time_limit(section.timeout_s):
                energy, forces, stress = _attempt(atoms, section, ident, directory)
            elapsed = time.perf_counter() - start
            if elapsed > section.timeout_s:
                raise _Timeout()
            reason = check_labels(len(atoms), energy, forces, stress, section.max_force)
            if not reason:
                return LabelOutcome("ok", energy, forces, stress, attempts=attempts,
                                    seconds=time.perf_counter() - t0)
            retry = False  # bad numbers from a deterministic teacher come back the same
        except _Timeout:
            reason = f"timeout: labelling took longer than {section.timeout_s:g} s"
        except LabelFailure as err:
            reason, retry = err.reason, err.retry
        except TeacherError:
            raise  # a configuration problem (missing POTCAR, package, model): no structure's fault
        except Exception as err:  # noqa: BLE001 - any teacher error is a failed label, not a crash
            reason = f"exception: {type(err).__name__}: {str(err)[:200]}"
        log.debug("label attempt %d failed: %s", attempts, reason)
        if not retry:
            break
    return LabelOutcome("failed", reason=reason, attempts=attempts, seconds=time.perf_counter() - t0)


class _LeaseKeeper:
    """Renews a worker's claims every third of the lease in a background thread while labels compute."""

    def __init__(self, store: LabelStore, owner: str, lease_s: float):
        self.store, self.owner, self.lease_s = store, owner, lease_s
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name="interforge-lease", daemon=True)

    def _run(self) -> None:
        while not self._stop.wait(max(self.lease_s / 3.0, 0.05)):
            try:
                self.store.renew_claims(self.owner, self.lease_s)
            except Exception as err:  # noqa: BLE001 - a missed renewal only risks duplicate work
                log.warning("could not renew label claims in %s: %s", self.store.display_url, err)

    def __enter__(self):
        self._thread.start()
        return self

    def __exit__(self, *exc) -> None:
        self._stop.set()
        self._thread.join(timeout=30)


def _in_flight(executor) -> int:
    """How many claimed structures to keep submitted at once: enough to keep the executor's workers busy,
    few enough to leave the rest to other workers on the same store."""
    from interforge.workflow import InProcessExecutor

    if isinstance(executor, InProcessExecutor):
        return 1
    section = getattr(executor, "section", None)
    workers = int(getattr(section, "max_workers", 2) or 2)
    if getattr(section, "executor", "") in ("slurm", "pbs"):
        sched = section.scheduler
        workers *= max(1, sched.nodes_per_block * sched.max_blocks)
    return max(2, 2 * workers)


def label_structures(structures: Iterable[Atoms], store: LabelStore,
                     settings: "TeacherSection | str | dict | None" = None, executor=None,
                     source: str = "", stage: str = "seed", iteration: int = 0, retry_failed: bool = False,
                     scratch_root: str | Path | None = None, progress: bool = True,
                     lease_s: float = DEFAULT_LEASE_S) -> LabelReport:
    """Label every structure that the store lacks for this teacher; store results as they arrive.

    Structures already stored for this teacher identity (successfully, or as failed unless
    ``retry_failed``) are skipped, as are duplicates within the input. Each remaining structure is
    claimed in the store before it is submitted (lease ``lease_s`` seconds, renewed while it computes);
    one that another worker holds is left to it (``n_claimed_elsewhere``). Each result is written in
    its own transaction the moment it arrives. ``executor`` defaults to in-process.
    ``source`` may be a string or one string per structure.
    """
    from interforge.teacher.factory import teacher_names
    from interforge.workflow import InProcessExecutor

    section = as_section(settings)
    ident = teacher_identity(section)
    if ident.name not in teacher_names():
        raise TeacherError(f"unknown teacher '{section.name}'; choose one of: {', '.join(teacher_names())}")
    if not lease_s > 0:
        raise TeacherError(f"the claim lease must be positive, got {lease_s}")
    structures = list(structures)
    sources = list(source) if isinstance(source, (list, tuple)) else [source] * len(structures)
    todo: list[tuple[Atoms, str, str]] = []
    seen: set[str] = set()
    n_skipped = 0
    for atoms, src in zip(structures, sources):
        h = structure_hash(atoms)
        if h in seen:
            continue
        seen.add(h)
        if store.has(atoms, ident.hash, ok_only=retry_failed):
            n_skipped += 1
            continue
        todo.append((atoms, src, h))
    log.info("labelling %d of %d structures with %s (%s); %d already in %s", len(todo), len(seen), ident.name,
             ident.hash, n_skipped, store.display_url)

    own_executor = executor is None
    executor = executor or InProcessExecutor()
    if todo and isinstance(executor, InProcessExecutor) and ident.name not in ("vasp", "gpaw", "qe"):
        # Build the teacher before the progress bar starts: a load error ends the run before anything
        # is stored, and the model's load time does not distort the rate and ETA.
        _calculator(section, ident, None)
    t0 = time.perf_counter()
    n_ok = n_failed = n_busy = 0
    failures: list[dict] = []
    bar = None
    if progress and todo:
        from tqdm import tqdm

        bar = tqdm(total=len(todo), unit="label", desc=f"labelling ({ident.name})", smoothing=0.1)
    owner = store.new_owner()

    def store_outcome(atoms: Atoms, src: str, h: str, out: LabelOutcome) -> None:
        nonlocal n_ok, n_failed
        clean = Atoms(numbers=atoms.numbers, positions=atoms.positions, cell=atoms.cell, pbc=atoms.pbc)
        extra = {"label_seconds": round(float(out.seconds), 3), "attempts": int(out.attempts)}
        if out.status == "ok":
            rec = Record(atoms=clean, energy=out.energy, forces=out.forces, stress=out.stress, source=src,
                         stage=stage, iteration=iteration, teacher=ident.name, teacher_hash=ident.hash, extra=extra)
            n_ok += 1
        else:
            rec = Record(atoms=clean, source=src, stage=stage, iteration=iteration, teacher=ident.name,
                         teacher_hash=ident.hash, status="failed", reason=out.reason, extra=extra)
            n_failed += 1
            failures.append({"struct_hash": h, "formula": atoms.get_chemical_formula(), "reason": out.reason})
            log.warning("label failed for %s (%s): %s", atoms.get_chemical_formula(), h, out.reason)
        store.add_many([rec], release_claims_of=owner)  # the label lands and the claim ends together
        if bar is not None:
            bar.update(1)

    futures: dict = {}
    pending = iter(todo)
    window = _in_flight(executor)

    def submit_more() -> None:
        """Claim and submit structures until ``window`` are in flight (in-process: label them now)."""
        nonlocal n_skipped, n_busy
        while len(futures) < window:
            item = next(pending, None)
            if item is None:
                return
            atoms, src, h = item
            state = store.claim(h, ident.hash, owner, lease_s, ok_only=retry_failed)
            if state != "claimed":
                if state == "done":  # another worker stored it after our first look
                    n_skipped += 1
                else:
                    n_busy += 1
                    log.info("%s (%s) is being labelled by another worker; leaving it to them",
                             atoms.get_chemical_formula(), h)
                if bar is not None:
                    bar.update(1)
                continue
            scratch = str(Path(scratch_root) / f"{ident.name}-{h}") if scratch_root else None
            fut = executor.submit(label_one, atoms, section, scratch)
            if fut.done():  # in-process: store now, so a kill loses nothing already computed
                store_outcome(atoms, src, h, _outcome_of(fut))
            else:
                futures[fut] = item

    try:
        with _LeaseKeeper(store, owner, lease_s):
            submit_more()
            while futures:
                done, _ = wait(list(futures), return_when=FIRST_COMPLETED)
                for fut in done:
                    atoms, src, h = futures.pop(fut)
                    store_outcome(atoms, src, h, _outcome_of(fut))
                submit_more()
    finally:
        if bar is not None:
            bar.close()
        try:  # claims of structures not finished (an error, Ctrl-C) go back at once
            store.release(owner)
        except Exception as err:  # noqa: BLE001 - they expire with their lease anyway
            log.warning("could not release label claims in %s: %s", store.display_url, err)
        if own_executor:
            executor.shutdown()
    seconds = time.perf_counter() - t0
    done = n_ok + n_failed
    rate = 60.0 * done / seconds if seconds > 0 and done else 0.0
    log.info("labelled %d, failed %d, skipped %d, left to other workers %d in %.1f s (%.1f labels/min)", n_ok,
             n_failed, n_skipped, n_busy, seconds, rate)
    return LabelReport(len(structures), len(seen), n_skipped, n_ok, n_failed, ident.name, ident.hash, seconds, rate,
                       failures, n_busy)


def _outcome_of(fut) -> LabelOutcome:
    try:
        return fut.result()
    except TeacherError:
        raise  # the teacher cannot work at all: stop instead of storing every structure as failed
    except Exception as err:  # noqa: BLE001 - the worker itself died (lost process, pickling error)
        return LabelOutcome("failed", reason=f"worker error: {type(err).__name__}: {str(err)[:200]}")
