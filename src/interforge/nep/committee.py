"""Committee training: M members that differ by seed and by a bootstrap resample of the training
structures, all tested on one shared held-out set.

Writes ``DIR/member_<i>/nep.txt`` (plus ``run/`` with the trainer's raw outputs and
``parity_{energy,force,virial}.png``), ``DIR/loss_curves.png`` and ``DIR/metrics.json`` with each
member's train/test RMSE (meV/atom, meV/Å) measured by calorine on the written ``nep.txt``.
"""

from __future__ import annotations

import functools
import logging
import os
import time
from concurrent.futures import Future
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any, Sequence

import numpy as np
from ase import Atoms

from interforge.config.nep import NepSection, resolve_preset
from interforge.data import LabelStore, read_labelled_xyz, split_fraction, structure_hash
from interforge.errors import InterforgeError
from interforge.fileio import atomic_path, atomic_write_json
from interforge.nep import resume
from interforge.nep.backends import BackendResult, get_backend
from interforge.nep.calculator import NepModel
from interforge.nep.dispersion import Dispersion, subtract_dispersion, write_dispersion
from interforge.nep.parity import parity_data, plot_loss_curves, plot_parity

log = logging.getLogger(__name__)


@dataclass
class MemberResult:
    """One trained member. RMSEs from calorine's evaluation of the written nep.txt."""

    index: int
    seed: int
    nep_path: str
    backend: str
    steps: int
    wall_s: float
    n_train: int
    n_train_unique: int
    n_test: int
    rmse_train: dict[str, float]
    rmse_test: dict[str, float]
    history: list[dict[str, float]] = field(default_factory=list)
    trainer_test_predictions: str | None = None  # npz with the trainer's own test predictions


@dataclass
class CommitteeResult:
    out_dir: str
    members: list[MemberResult]
    metrics_path: str
    loss_curves_path: str
    settings: dict[str, Any]
    zero_force_baseline_meV_A: dict[str, float]

    @property
    def nep_paths(self) -> list[str]:
        return [m.nep_path for m in self.members]

    def best_first(self) -> list[str]:
        """The members' model paths, the one with the lowest test loss first (see :func:`test_loss`)."""
        return [self.members[i].nep_path for i in rank_members(self.members, self.settings)]


def test_loss(member: MemberResult, settings: dict) -> float:
    """The training objective on the member's test split: lambda_e RMSE_E + lambda_f RMSE_F + lambda_v RMSE_V
    (meV/atom, meV/Å, meV/atom, as the loss weighs them); NaN without a test split."""
    r = member.rmse_test
    return (settings.get("lambda_e", 1.0) * r["energy_meV_atom"] + settings.get("lambda_f", 1.0) * r["force_meV_A"]
            + settings.get("lambda_v", 0.1) * r["virial_meV_atom"])


def rank_members(members: Sequence[MemberResult], settings: dict) -> list[int]:
    """Member indices, lowest test loss first; members without a finite loss keep their order at the end.

    Members of one committee differ only by seed (and bootstrap): their fits scatter, most in the relative
    energies that few structures pin (docs/validation.md), and the test split is the independent measure to
    choose the production model by."""
    losses = [test_loss(m, settings) for m in members]
    finite = sorted((i for i, x in enumerate(losses) if np.isfinite(x)), key=lambda i: losses[i])
    return finite + [i for i, x in enumerate(losses) if not np.isfinite(x)]


def load_structures(source) -> list[Atoms]:
    """Labelled structures from a list of Atoms, a :class:`LabelStore`, a ``.db`` path or an
    extxyz/GPUMD ``train.xyz`` path. Each needs energy and forces on its calculator."""
    if isinstance(source, LabelStore):
        structures = source.labelled()
    elif isinstance(source, str) and "://" in source:
        structures = LabelStore(source).labelled()
    elif isinstance(source, (str, os.PathLike)):
        p = Path(source)
        if not p.exists():
            raise InterforgeError(f"{p}: no such data file or store")
        structures = LabelStore(p).labelled() if p.suffix == ".db" else read_labelled_xyz(p)
    else:
        structures = list(source)
    for i, a in enumerate(structures):
        if a.calc is None or "energy" not in a.calc.results or "forces" not in a.calc.results:
            raise InterforgeError(f"structure {i} ({a.get_chemical_formula()}) has no energy/forces labels")
    if len(structures) < 2:
        raise InterforgeError(f"need at least 2 labelled structures to train, got {len(structures)}")
    return structures


def split_train_test(structures: Sequence[Atoms], test_fraction: float, salt: int | str = 0
                     ) -> tuple[list[Atoms], list[Atoms]]:
    """Split by structure hash (stable when data are added; same rule as ``LabelStore.export_gpumd``).
    At least one structure stays in training; the test set may be empty for ``test_fraction = 0``."""
    train, test = [], []
    for a in structures:
        (test if split_fraction(structure_hash(a), salt) < test_fraction else train).append(a)
    if not train:
        train, test = test[:1], test[1:]
    return train, test


def bootstrap(structures: Sequence[Atoms], seed: int) -> list[Atoms]:
    """A resample with replacement of the same size (member diversity for query by committee)."""
    rng = np.random.default_rng(seed)
    idx = rng.integers(0, len(structures), len(structures))
    return [structures[i] for i in idx]


def train_member(index: int, train: Sequence[Atoms], test: Sequence[Atoms], settings: NepSection,
                 out_dir: str | os.PathLike, seed: int, init_model: str | os.PathLike | None = None,
                 use_bootstrap: bool = True, fit: tuple[Sequence[Atoms], Sequence[Atoms]] | None = None) -> MemberResult:
    """Train one member into ``out_dir`` and measure it with calorine. Top-level so that a
    process/Parsl executor can pickle it. ``fit``: the (train, test) labels the trainer fits, i.e.
    ``train``/``test`` with the run-time dispersion removed (computed here when not given)."""
    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    # A member already trained from the same inputs is skipped (its done marker is written last).
    key = resume.inputs_hash(train=resume.labels_hash(train), test=resume.labels_hash(test), seed=seed,
                             settings=settings.model_dump(), init=resume.file_hash(init_model), bootstrap=use_bootstrap)
    stored = resume.finished(out_dir, key)
    if stored is not None:
        log.info("member %d: already trained from the same inputs in %s; skipped", index, out_dir)
        return MemberResult(**stored)
    backend = get_backend(settings.backend)
    disp = model_dispersion(settings)
    fit_train, fit_test = fit if fit is not None else (fit_labels_for(train, settings), fit_labels_for(test, settings))
    # The same seed draws the same bootstrap indices as for ``train`` (the parity below uses ``train``).
    data = bootstrap(fit_train, seed) if use_bootstrap else list(fit_train)
    res: BackendResult = backend.train(data, fit_test, settings, out_dir, seed, init_model=init_model)
    write_dispersion(res.nep_path, disp)
    # Parity against the labels as the teacher gave them, with the model as it runs (NEP + D3).
    model = NepModel(res.nep_path)
    p_train = parity_data(train, model.evaluate)
    p_test = parity_data(test, model.evaluate) if len(test) else None
    plot_parity(p_train, out_dir, label=f"member {index}", test=p_test)
    pred_path = None
    if res.test_energy_per_atom is not None:
        pred_path = out_dir / "trainer_test_predictions.npz"
        with atomic_path(pred_path, suffix=".npz") as tmp:
            np.savez(tmp, energy_per_atom=res.test_energy_per_atom,
                     forces=np.concatenate(res.test_forces) if res.test_forces else np.zeros((0, 3)),
                     n_atoms=np.array([len(a) for a in test]))
        pred_path = str(pred_path)
    nan = {"energy_meV_atom": float("nan"), "force_meV_A": float("nan"), "virial_meV_atom": float("nan")}
    result = MemberResult(
        index=index, seed=seed, nep_path=str(res.nep_path), backend=res.backend, steps=res.steps, wall_s=res.wall_s,
        n_train=len(data), n_train_unique=len({id(a) for a in data}), n_test=len(test),
        rmse_train=p_train.rmse(), rmse_test=p_test.rmse() if p_test else nan, history=res.history,
        trainer_test_predictions=pred_path,
    )
    resume.mark_done(out_dir, key, asdict(result))
    return result


def model_dispersion(settings: NepSection) -> Dispersion | None:
    """The run-time D3 a model trained with ``settings`` needs (``dispersion = "d3"``), else None.
    ``auto`` is resolved against the teacher by the project configuration; unresolved, it means none."""
    if settings.dispersion != "d3":
        return None
    return Dispersion(functional=settings.d3_functional, potential_cutoff=settings.d3_potential_cutoff,
                      coordination_number_cutoff=settings.d3_cn_cutoff)


def fit_labels(structures: Sequence[Atoms], dispersion: Dispersion | None,
               stage_weights: dict[str, float] | None = None,
               charged_energy_weight: float | None = None) -> list[Atoms]:
    """The labels a NEP fits: teacher minus the run-time D3 (the NEP learns the rest; D3 runs with it),
    each with ``info['weight']`` from its store stage when ``stage_weights`` names it, and with
    ``info['energy_weight'] = charged_energy_weight`` when its composition has no charge-balanced set of
    oxidation states (:func:`charge_balanced`) and that weight is given."""
    out = list(structures) if dispersion is None else subtract_dispersion(structures, dispersion)
    stage_weights = stage_weights or {}
    res = []
    for a in out:
        w = stage_weights.get(a.info.get("stage"))
        ew = None if charged_energy_weight is None or charge_balanced(a.get_chemical_formula(empirical=True)) else charged_energy_weight
        if w is not None or ew is not None:
            a = _weighted(a, a.info.get("weight", 1.0) if w is None else w)
            if ew is not None:
                a.info["energy_weight"] = float(ew)
        res.append(a)
    return res


def fit_labels_for(structures: Sequence[Atoms], settings: NepSection) -> list[Atoms]:
    """:func:`fit_labels` with the dispersion, stage weights and charged-cell energy weight of ``settings``."""
    return fit_labels(structures, model_dispersion(settings), settings.stage_weights,
                      settings.charged_cell_energy_weight)


@functools.lru_cache(maxsize=256)
def charge_balanced(formula: str) -> bool:
    """Whether a composition (e.g. 'Li5Zr3Cl18') admits a charge-balanced set of common oxidation states
    (pymatgen's guess; elements and alloys count as balanced at 0). A Li-vacancy cell of Li2ZrCl6, made by
    removing one Li, does not: its total energy carries the missing charge. A composition pymatgen cannot
    judge counts as balanced, so its energy stays in the fit."""
    from pymatgen.core import Composition

    try:
        comp = Composition(formula)
        if len(comp.elements) == 1:
            return True
        return bool(comp.oxi_state_guesses(max_sites=-50))
    except Exception:  # noqa: BLE001 - pymatgen's heuristics fail in many ways; unknown means keep the energy
        return True


def _weighted(atoms: Atoms, weight: float) -> Atoms:
    """A copy of labelled ``atoms`` with GPUMD's per-structure loss weight (the caller's Atoms untouched)."""
    from ase.calculators.singlepoint import SinglePointCalculator

    b = atoms.copy()
    b.calc = SinglePointCalculator(b, **{k: np.copy(v) if isinstance(v, np.ndarray) else v
                                         for k, v in atoms.calc.results.items()})
    b.info["weight"] = float(weight)
    return b


def _zero_force_baseline(structures: Sequence[Atoms]) -> float:
    if not structures:
        return float("nan")
    f = np.concatenate([np.asarray(a.calc.results["forces"]).ravel() for a in structures])
    return float(np.sqrt(np.mean(f**2)) * 1000)


def _local_workers(settings: NepSection, m: int, executor) -> int:
    """How many members train at once in local processes: only when no cluster executor takes them."""
    if m < 2 or (executor is not None and getattr(executor, "name", "") != "local"):
        return 1
    cores = os.cpu_count() or 1
    return max(1, min(m, settings.workers or cores))


def _train_in_processes(args: list[tuple], workers: int) -> list[MemberResult]:
    """Members in ``workers`` spawned processes of one torch thread each (small NEPs train faster one
    per core than one at a time on all cores). Results come back in member order."""
    import multiprocessing as mp
    from concurrent.futures import ProcessPoolExecutor

    from interforge.workflow.executor import worker_init

    t0 = time.perf_counter()
    with ProcessPoolExecutor(max_workers=workers, mp_context=mp.get_context("spawn"), initializer=worker_init) as pool:
        futures = [pool.submit(train_member, *a) for a in args]
        members = []
        for k, fut in enumerate(futures):
            members.append(fut.result())
            el = time.perf_counter() - t0
            log.info("member %d/%d done after %.1f s (%d at once)", k + 1, len(args), el, workers)
    return members


def train_committee(structures_or_store, out_dir: str | os.PathLike, settings: NepSection | None = None,
                    committee: int | None = None, executor=None, init_model: str | os.PathLike | None = None,
                    salt: int | str = 0) -> CommitteeResult:
    """Train a committee of NEP models.

    Parameters: ``structures_or_store`` (Atoms list, LabelStore, .db or .xyz path); ``out_dir``;
    ``settings`` (``NepSection``; the ``small`` preset is resolved here); ``committee`` (size,
    default ``settings.committee``); ``executor`` (optional object with
    ``submit(fn, *args, **kwargs) -> Future``; members run sequentially without one);
    ``init_model`` (an existing ``nep.txt`` to restart / fine-tune every member from, or one
    path per member); ``salt`` (of the train/test split).
    """
    settings = resolve_preset(settings or NepSection())
    m = committee if committee is not None else settings.committee
    if m < 1:
        raise InterforgeError(f"committee size must be >= 1, got {m}")
    structures = load_structures(structures_or_store)  # bad data fail before out_dir exists
    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    train, test = split_train_test(structures, settings.test_fraction, salt)
    inits = list(init_model) if isinstance(init_model, (list, tuple)) else [init_model] * m
    if len(inits) != m:
        raise InterforgeError(f"got {len(inits)} initial models for a committee of {m}")
    get_backend(settings.backend)  # fail early if unavailable
    log.info("training %d NEP member(s) with %s on %d train / %d test structures", m, settings.backend,
             len(train), len(test))
    # Bootstrap only makes sense with more than one member; a single model uses all data.
    use_bootstrap = settings.bootstrap and m > 1
    fit = (fit_labels_for(train, settings), fit_labels_for(test, settings))
    args = [(i, train, test, settings, out_dir / f"member_{i}", settings.seed + i, inits[i], use_bootstrap, fit)
            for i in range(m)]
    t0 = time.perf_counter()
    members: list[MemberResult] = []
    workers = _local_workers(settings, m, executor)
    if workers > 1:
        members = _train_in_processes(args, workers)
    elif executor is None or getattr(executor, "name", "") == "local":
        for k, a in enumerate(args):
            members.append(train_member(*a))
            el = time.perf_counter() - t0
            log.info("member %d/%d done (%.1f s/member, ETA %.0f s)", k + 1, m, el / (k + 1), el / (k + 1) * (m - k - 1))
    else:
        futures: list[Future] = [executor.submit(train_member, *a) for a in args]
        for k, fut in enumerate(futures):
            members.append(fut.result())
            log.info("member %d/%d collected after %.1f s", k + 1, m, time.perf_counter() - t0)
    loss_path = plot_loss_curves({f"member {r.index}": r.history for r in members}, out_dir / "loss_curves.png")
    baseline = {"train": _zero_force_baseline(train), "test": _zero_force_baseline(test)}
    settings_dict = settings.model_dump()
    metrics = {
        "backend": settings.backend,
        "n_structures": len(structures), "n_train": len(train), "n_test": len(test),
        "units": {"energy": "meV/atom", "force": "meV/Å", "virial": "meV/atom"},
        "zero_force_baseline_meV_A": baseline,
        "members": [{k: v for k, v in asdict(r).items() if k != "history"} for r in members],
        "settings": settings_dict,
        "test_loss": [test_loss(r, settings_dict) for r in members],
        "rank_by_test_loss": rank_members(members, settings_dict),
    }
    metrics_path = atomic_write_json(out_dir / "metrics.json", metrics)
    return CommitteeResult(str(out_dir), members, str(metrics_path), str(loss_path), settings_dict, baseline)
