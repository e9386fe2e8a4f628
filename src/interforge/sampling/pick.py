"""Structures in, selected indices out: descriptors and selection glued for the seed step and the loop.

``pick_representatives`` is the seed step (SOAP → PCA → k-means → representatives);
``pick_farthest`` the learning loop's last step (descriptors of the candidates and of the
training set → farthest-point sampling of the candidates away from the training set).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Sequence

from ase import Atoms

from interforge.sampling.descriptors import DescriptorFn, DescriptorSet, soap_descriptors
from interforge.sampling.selection import ClusterSelection, FPSResult, farthest_point_sampling, select_by_clustering


@dataclass
class Picked:
    """``indices`` of the chosen structures (input order of the pool), the ``descriptors`` of the
    pool and the underlying selection result (``ClusterSelection`` or ``FPSResult``)."""

    indices: list[int]
    descriptors: DescriptorSet
    selection: ClusterSelection | FPSResult


def pick_representatives(
    structures: Sequence[Atoms], settings=None, seed: int = 0, groups: Sequence[str] | None = None,
    species: Sequence[str] | None = None, n_jobs: int = 1,
) -> Picked:
    """Seed selection: SOAP (``settings``: a SamplingSection) → PCA (2D) → k-means → up to
    ``settings.n_select`` representatives, stratified by ``groups`` when given."""
    from interforge.config.sampling import SamplingSection

    s = settings or SamplingSection()
    desc = soap_descriptors(structures, s, species=species, n_jobs=n_jobs)
    sel = select_by_clustering(desc.values, s.n_select, seed=seed, groups=groups)
    return Picked(indices=[int(i) for i in sel.indices], descriptors=desc, selection=sel)


def pick_farthest(
    candidates: Sequence[Atoms], n_select: int, describe: DescriptorFn,
    reference: Sequence[Atoms] | DescriptorSet | None = None, seed: int = 0, min_distance: float = 0.0,
) -> Picked:
    """Loop selection: up to ``n_select`` candidates by farthest-point sampling in the space of
    ``describe`` (e.g. ``nep_descriptor_fn("nep.txt")``), starting from ``reference`` (the
    training set's structures, or their descriptors already computed)."""
    desc = describe(list(candidates))
    ref = None
    if isinstance(reference, DescriptorSet):
        ref = reference.values
    elif reference is not None and len(reference):
        ref = describe(list(reference)).values
    fps = farthest_point_sampling(desc.values, n_select, reference=ref, seed=seed, min_distance=min_distance)
    return Picked(indices=[int(i) for i in fps.indices], descriptors=desc, selection=fps)
