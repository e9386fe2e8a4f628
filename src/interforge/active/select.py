"""From exploration trajectories to the structures worth labelling.

Candidates are frames whose committee maximum force deviation exceeds the threshold (and, when
set, stays below an upper bound that marks unphysical blow-ups); frames with any pair closer than
0.7 x the sum of covalent radii are discarded; farthest-point selection on NEP descriptors,
measured from the current training set, picks at most ``budget`` of the rest.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass, field
from pathlib import Path
from typing import Sequence

import numpy as np
from ase import Atoms

from interforge.sampling import filter_close_contacts, nep_descriptor_fn
from interforge.sampling.pick import pick_farthest
from interforge.trajectory import TrajectoryReader

log = logging.getLogger(__name__)

DEVIATION = "max_force_deviation"


@dataclass
class Candidates:
    """Frames above the deviation threshold, with their deviations (eV/Å) and origin."""

    structures: list[Atoms] = field(default_factory=list)
    deviations: list[float] = field(default_factory=list)
    origins: list[str] = field(default_factory=list)
    all_deviations: list[float] = field(default_factory=list)  # every scored frame, for histograms


def collect_candidates(trajectories: Sequence[tuple[str, Path]], threshold: float, upper: float = 0.0) -> Candidates:
    """Scan (task_id, trajectory.h5) pairs for frames with threshold < deviation (< upper if upper > 0)."""
    out = Candidates()
    for task_id, path in trajectories:
        reader = TrajectoryReader(path)
        if reader.n_frames == 0 or DEVIATION not in reader.observable_names():
            continue
        dev = np.asarray(reader.observable(DEVIATION), dtype=float)
        out.all_deviations.extend(dev.tolist())
        mask = dev > threshold
        if upper > 0:
            mask &= dev < upper
        for i in np.flatnonzero(mask):
            atoms = reader.atoms(int(i))
            atoms.wrap()
            out.structures.append(atoms)
            out.deviations.append(float(dev[i]))
            out.origins.append(f"{task_id}#{int(i)}")
    log.info("%d candidate frames above %.3g eV/Å among %d scored", len(out.structures), threshold, len(out.all_deviations))
    return out


@dataclass
class Selection:
    """Selected candidates and the bookkeeping behind them."""

    structures: list[Atoms]
    origins: list[str]
    n_candidates: int
    n_close_contact: int


def select_for_labelling(cands: Candidates, model_path: str | Path, training: Sequence[Atoms], budget: int,
                         contact_factor: float = 0.7, seed: int = 0) -> Selection:
    """Close-contact filter, then farthest-point selection (NEP descriptors of ``model_path``) of up to
    ``budget`` candidates, distances measured from the training set as well as from each other."""
    n = len(cands.structures)
    if n == 0:
        return Selection([], [], 0, 0)
    contact = filter_close_contacts(cands.structures, contact_factor)
    kept = [cands.structures[k] for k in contact.kept]
    origins = [cands.origins[k] for k in contact.kept]
    if not kept:
        return Selection([], [], n, len(contact.rejected))
    picked = pick_farthest(kept, budget, nep_descriptor_fn(model_path), reference=list(training), seed=seed)
    chosen = picked.indices
    return Selection([kept[i] for i in chosen], [origins[i] for i in chosen], n, len(contact.rejected))


def random_selection(trajectories: Sequence[tuple[str, Path]], budget: int, contact_factor: float = 0.7,
                     seed: int = 0) -> Selection:
    """Baseline: ``budget`` explored frames drawn uniformly (after the close-contact filter), ignoring
    the committee. Used to measure what query by committee buys (bench/bench_active.py)."""
    frames = collect_candidates(trajectories, threshold=-1.0)
    n = len(frames.structures)
    if n == 0:
        return Selection([], [], 0, 0)
    contact = filter_close_contacts(frames.structures, contact_factor)
    rng = np.random.default_rng(seed)
    kept = list(contact.kept)
    chosen = sorted(rng.choice(kept, size=min(budget, len(kept)), replace=False).tolist()) if kept else []
    return Selection([frames.structures[i] for i in chosen], [frames.origins[i] for i in chosen], n,
                     len(contact.rejected))
