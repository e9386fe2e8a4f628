"""Selection of representative structures from descriptor rows.

* :func:`select_by_clustering` — the seed step (paper): PCA to a 2D latent space, k-means there,
  and from each cluster the member nearest its centroid.
* :func:`farthest_point_sampling` — the learning loop: greedy max-min selection in descriptor
  space, optionally continuing from structures already chosen (e.g. the training set) so that
  new labels go where the training set is thinnest.

Both are pure: arrays in, dataclasses out, deterministic for a given seed. Distances are
Euclidean in the units of the descriptors given.
"""

from __future__ import annotations

import logging
import warnings
from dataclasses import dataclass

import numpy as np

from interforge.errors import InterforgeError

log = logging.getLogger(__name__)


def _as_matrix(x, name: str) -> np.ndarray:
    a = np.asarray(x, dtype=np.float64)
    if a.ndim != 2:
        raise InterforgeError(f"{name} must be a 2D array (structures x features), got shape {a.shape}")
    if not np.all(np.isfinite(a)):
        raise InterforgeError(f"{name} holds non-finite values")
    return a


@dataclass
class PCAResult:
    """A 2D projection: ``latent`` (M, 2), the principal ``components`` (2, D), the feature
    ``mean`` (D,) subtracted first and the ``explained_variance_ratio`` (2,) of each axis."""

    latent: np.ndarray
    components: np.ndarray
    mean: np.ndarray
    explained_variance_ratio: np.ndarray

    def transform(self, x) -> np.ndarray:
        """Project new rows (same features) into this latent space."""
        return (np.asarray(x, dtype=np.float64) - self.mean) @ self.components.T


def pca_2d(x, seed: int = 0) -> PCAResult:
    """Principal component analysis of the rows of ``x`` down to 2 dimensions.

    Features are centred, not scaled (descriptor components share units). With fewer than two
    informative directions the missing axes are zero. Signs are fixed (largest loading of each
    component positive) so that the same data give the same picture.
    """
    from sklearn.decomposition import PCA

    a = _as_matrix(x, "descriptors")
    m, d = a.shape
    if m == 0:
        raise InterforgeError("no descriptor rows to project")
    k = min(2, m, d)
    mean = a.mean(axis=0)
    comps = np.zeros((2, d))
    ratio = np.zeros(2)
    if k > 0 and m > 1:
        pca = PCA(n_components=k, svd_solver="full", random_state=seed).fit(a)
        comps[:k] = pca.components_
        ratio[:k] = np.nan_to_num(pca.explained_variance_ratio_)
    for i in range(2):
        j = int(np.argmax(np.abs(comps[i])))
        if comps[i, j] < 0:
            comps[i] = -comps[i]
    return PCAResult(latent=(a - mean) @ comps.T, components=comps, mean=mean, explained_variance_ratio=ratio)


@dataclass
class ClusterSelection:
    """Representatives chosen by PCA + k-means.

    ``indices`` (k,) rows chosen, one per cluster, in cluster order; ``labels`` (M,) cluster of
    each row; ``centroids`` (k, 2) cluster centres in the plane each cluster was found in;
    ``sizes`` (k,) members per cluster; ``pca`` the projection of all rows. With ``groups``,
    ``cluster_groups`` (k,) names the group of each cluster (each group has its own PCA plane).
    """

    indices: np.ndarray
    labels: np.ndarray
    centroids: np.ndarray
    sizes: np.ndarray
    pca: PCAResult
    cluster_groups: list | None = None


def _kmeans_representatives(z: np.ndarray, n_select: int, seed: int, n_init: int):
    """k-means in the latent plane ``z``; returns (indices, labels, centroids, sizes)."""
    from sklearn.cluster import KMeans

    m = z.shape[0]
    n_distinct = len(np.unique(np.round(z, 12), axis=0))
    k = min(n_select, n_distinct)
    if k == m:
        # Every point is its own cluster: no k-means needed (and k-means cannot do better).
        return np.arange(m), np.arange(m), z.copy(), np.ones(m, dtype=int)
    with warnings.catch_warnings():
        # Near-duplicate points trigger ConvergenceWarning; k is already clamped to the distinct count.
        warnings.simplefilter("ignore")
        km = KMeans(n_clusters=k, n_init=n_init, random_state=seed).fit(z)
    labels = km.labels_.astype(int)
    centroids = km.cluster_centers_
    indices = np.empty(k, dtype=int)
    for c in range(k):
        members = np.flatnonzero(labels == c)
        if len(members) == 0:  # k-means guarantees none, but never return a bogus index
            raise InterforgeError(f"k-means left cluster {c} empty")
        d2 = np.sum((z[members] - centroids[c]) ** 2, axis=1)
        indices[c] = members[int(np.argmin(d2))]
    return indices, labels, centroids, np.bincount(labels, minlength=k)


def allocate_budget(n_select: int, sizes) -> np.ndarray:
    """Split ``n_select`` over groups of ``sizes`` members in proportion to their size.

    Largest-remainder rounding; every non-empty group gets at least one when the budget allows,
    and no group more than it has.
    """
    sizes = np.asarray(sizes, dtype=int)
    n = min(int(n_select), int(sizes.sum()))
    quota = np.zeros(len(sizes), dtype=int)
    nonempty = np.flatnonzero(sizes > 0)
    if n >= len(nonempty):
        quota[nonempty] = 1
    while quota.sum() < n:
        room = sizes - quota
        want = n * sizes / sizes.sum() - quota
        want[room <= 0] = -np.inf
        quota[int(np.argmax(want))] += 1  # ties: first group
    return quota


def select_by_clustering(x, n_select: int, seed: int = 0, n_init: int = 10, groups=None) -> ClusterSelection:
    """Choose up to ``n_select`` representatives of the rows of ``x`` (paper's seed selection).

    The rows are projected to 2D by :func:`pca_2d`, clustered by k-means (``n_select``
    clusters, ``n_init`` restarts, seeded) in that plane, and from each cluster the member
    closest to its centroid is taken (ties: lowest row). When the latent space holds fewer
    distinct points than ``n_select``, there are that many clusters instead.

    ``groups`` (one label per row, e.g. bulk ZrO2 / bulk Li2ZrCl6 / interface) stratifies the
    selection: the budget is split over groups in proportion to their size
    (:func:`allocate_budget`) and each group gets its own PCA + k-means. Without it (the paper's
    recipe) the first principal axis of a mixed pool mostly separates chemistries, and the
    variation within each chemistry is squeezed into the second.
    """
    if n_select < 1:
        raise InterforgeError(f"n_select must be >= 1, got {n_select}")
    a = _as_matrix(x, "descriptors")
    proj = pca_2d(a, seed=seed)
    m = a.shape[0]
    if groups is None:
        indices, labels, centroids, sizes = _kmeans_representatives(proj.latent, n_select, seed, n_init)
        log.info("clustering selection: %d of %d structures (PCA variance %.2f + %.2f)",
                 len(indices), m, *proj.explained_variance_ratio)
        return ClusterSelection(indices=indices, labels=labels, centroids=centroids, sizes=sizes, pca=proj)

    groups = list(groups)
    if len(groups) != m:
        raise InterforgeError(f"{len(groups)} group labels for {m} descriptor rows")
    names = sorted(set(groups), key=lambda g: groups.index(g))  # first-appearance order
    members_of = [np.flatnonzero(np.array([g == name for g in groups])) for name in names]
    quota = allocate_budget(n_select, [len(mem) for mem in members_of])
    all_idx, all_cent, all_sizes, cluster_groups = [], [], [], []
    labels = np.full(m, -1, dtype=int)
    for name, mem, q in zip(names, members_of, quota):
        if q == 0:
            continue
        sub = pca_2d(a[mem], seed=seed).latent
        idx, lab, cent, sz = _kmeans_representatives(sub, int(q), seed, n_init)
        labels[mem] = lab + len(all_idx)
        all_idx.extend(mem[idx].tolist())
        all_cent.append(cent)
        all_sizes.extend(sz.tolist())
        cluster_groups.extend([name] * len(idx))
    log.info("stratified clustering selection: %d of %d structures over %d groups (%s)", len(all_idx), m,
             len(names), ", ".join(f"{n}: {q}" for n, q in zip(names, quota)))
    return ClusterSelection(indices=np.asarray(all_idx, dtype=int), labels=labels,
                            centroids=np.vstack(all_cent) if all_cent else np.zeros((0, 2)),
                            sizes=np.asarray(all_sizes, dtype=int), pca=proj, cluster_groups=cluster_groups)


@dataclass
class FPSResult:
    """Farthest-point selection.

    ``indices`` rows of the pool in the order chosen; ``distances`` the distance of each chosen
    row to the set chosen before it (pre-selected rows and reference included; ``inf`` for a
    first pick with nothing before it). Distances never increase along the order.
    """

    indices: np.ndarray
    distances: np.ndarray


def _min_dist_to(pool: np.ndarray, ref: np.ndarray, chunk: int = 1024) -> np.ndarray:
    # Chunked so that a large training set never needs an (M x R) matrix in memory; cdist
    # sums squared differences directly, so a duplicate of a reference row is exactly 0 away.
    from scipy.spatial.distance import cdist

    best = np.full(pool.shape[0], np.inf)
    for s in range(0, ref.shape[0], chunk):
        best = np.minimum(best, cdist(pool, ref[s:s + chunk]).min(axis=1))
    return best


def farthest_point_sampling(
    x,
    n_select: int,
    selected=None,
    reference=None,
    seed: int = 0,
    min_distance: float = 0.0,
) -> FPSResult:
    """Greedy farthest-point selection of up to ``n_select`` rows of ``x`` (the pool).

    Each step takes the pool row whose distance to everything chosen so far is largest (ties:
    lowest row). "Chosen so far" starts as the pool rows ``selected`` (indices, never returned
    again) plus the rows of ``reference`` (descriptors of structures outside the pool, e.g. the
    training set). When both are empty the first row is drawn at random with ``seed``.
    Selection stops early once the largest remaining distance is ``<= min_distance`` (by
    default only exact duplicates of chosen rows are left).
    """
    pool = _as_matrix(x, "pool descriptors")
    m = pool.shape[0]
    if n_select < 0:
        raise InterforgeError(f"n_select must be >= 0, got {n_select}")
    pre = np.unique(np.asarray([] if selected is None else selected, dtype=int).ravel())
    if pre.size and (pre.min() < 0 or pre.max() >= m):
        raise InterforgeError(f"selected indices must lie in [0, {m}), got {pre.min()}..{pre.max()}")
    dist = np.full(m, np.inf)
    if reference is not None:
        ref = _as_matrix(reference, "reference descriptors")
        if ref.shape[0] and ref.shape[1] != pool.shape[1]:
            raise InterforgeError(f"reference has {ref.shape[1]} features, the pool {pool.shape[1]}")
        if ref.shape[0]:
            dist = _min_dist_to(pool, ref)
    if pre.size:
        dist = np.minimum(dist, _min_dist_to(pool, pool[pre]))
    available = np.ones(m, dtype=bool)
    available[pre] = False
    chosen: list[int] = []
    gaps: list[float] = []
    n_target = min(n_select, int(available.sum()))
    if n_target and np.all(np.isinf(dist)):
        first = int(np.random.default_rng(seed).choice(np.flatnonzero(available)))
        chosen.append(first)
        gaps.append(np.inf)
        available[first] = False
        dist = np.minimum(dist, np.sqrt(np.sum((pool - pool[first]) ** 2, axis=1)))
    while len(chosen) < n_target:
        masked = np.where(available, dist, -np.inf)
        i = int(np.argmax(masked))
        if masked[i] <= min_distance:
            break
        chosen.append(i)
        gaps.append(float(masked[i]))
        available[i] = False
        dist = np.minimum(dist, np.sqrt(np.sum((pool - pool[i]) ** 2, axis=1)))
    log.info("farthest-point selection: %d of %d pool rows (last distance %.4g)",
             len(chosen), m, gaps[-1] if gaps else float("nan"))
    return FPSResult(indices=np.asarray(chosen, dtype=int), distances=np.asarray(gaps, dtype=float))
