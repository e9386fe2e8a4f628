"""PCA + k-means representatives and farthest-point sampling against brute-force references."""

import numpy as np
import pytest

from interforge.errors import InterforgeError
from interforge.sampling import farthest_point_sampling, pca_2d, select_by_clustering


def _brute_fps(x, first_set, n, reference=None):
    """Textbook greedy max-min: recompute every candidate's distance to the whole chosen set each step."""
    chosen = list(first_set)
    fixed = [x[i] for i in chosen] + ([] if reference is None else list(reference))
    picks, gaps = [], []
    for _ in range(n):
        best, best_d = None, -1.0
        for i in range(len(x)):
            if i in chosen:
                continue
            d = min(float(np.linalg.norm(x[i] - y)) for y in fixed)
            if d > best_d:
                best, best_d = i, d
        if best is None:
            break
        chosen.append(best)
        fixed.append(x[best])
        picks.append(best)
        gaps.append(best_d)
    return picks, gaps


@pytest.mark.parametrize("seed", [0, 1, 5])
def test_fps_matches_brute_force(seed):
    x = np.random.default_rng(seed).normal(size=(40, 5))
    res = farthest_point_sampling(x, 12, seed=seed)
    assert len(res.indices) == 12 and len(set(res.indices.tolist())) == 12
    assert np.isinf(res.distances[0])
    picks, gaps = _brute_fps(x, [int(res.indices[0])], 11)
    assert res.indices[1:].tolist() == picks
    np.testing.assert_allclose(res.distances[1:], gaps, rtol=1e-12)
    assert np.all(np.diff(res.distances[1:]) <= 1e-12)  # max-min distances never grow
    again = farthest_point_sampling(x, 12, seed=seed)
    np.testing.assert_array_equal(res.indices, again.indices)


def test_fps_continues_from_selected_and_reference():
    rng = np.random.default_rng(11)
    x = rng.normal(size=(35, 4))
    train = rng.normal(size=(8, 4))
    res = farthest_point_sampling(x, 10, selected=[3, 17], reference=train)
    picks, gaps = _brute_fps(x, [3, 17], 10, reference=train)
    assert res.indices.tolist() == picks
    np.testing.assert_allclose(res.distances, gaps, rtol=1e-12)
    assert not {3, 17} & set(res.indices.tolist())


def test_fps_skips_duplicates_of_chosen_rows():
    rng = np.random.default_rng(2)
    base = rng.normal(size=(6, 3))
    x = np.vstack([base, base])  # every row twice
    res = farthest_point_sampling(x, 12, seed=0)
    assert len(res.indices) == 6  # duplicates have distance 0 and are never chosen
    assert len({tuple(np.round(x[i], 12)) for i in res.indices}) == 6
    # a pool row identical to a reference row is never chosen
    res = farthest_point_sampling(base, 6, reference=base[:2])
    assert set(res.indices.tolist()) == {2, 3, 4, 5}
    # min_distance stops early
    res = farthest_point_sampling(base, 6, seed=0, min_distance=1e9)
    assert len(res.indices) == 1


def test_fps_bad_inputs():
    x = np.zeros((4, 2))
    with pytest.raises(InterforgeError):
        farthest_point_sampling(x, 2, selected=[9])
    with pytest.raises(InterforgeError):
        farthest_point_sampling(x, 2, reference=np.zeros((2, 3)))
    with pytest.raises(InterforgeError):
        farthest_point_sampling(np.zeros(4), 2)


def test_pca_matches_svd():
    rng = np.random.default_rng(4)
    x = rng.normal(size=(30, 6)) @ np.diag([5, 3, 1, 0.5, 0.2, 0.1])
    res = pca_2d(x)
    xc = x - x.mean(axis=0)
    _, s, vt = np.linalg.svd(xc, full_matrices=False)
    ref = xc @ vt[:2].T
    for k in range(2):  # equal up to the sign of each axis
        assert np.allclose(res.latent[:, k], ref[:, k], atol=1e-9) or np.allclose(res.latent[:, k], -ref[:, k], atol=1e-9)
    np.testing.assert_allclose(res.explained_variance_ratio, (s**2 / np.sum(s**2))[:2], rtol=1e-9)
    np.testing.assert_allclose(res.transform(x), res.latent, atol=1e-12)


def _blobs(seed=0, per=30, d=12):
    rng = np.random.default_rng(seed)
    centres = np.zeros((5, d))
    centres[:, :2] = [[0, 0], [10, 0], [0, 10], [10, 10], [5, 20]]
    x = np.vstack([c + 0.3 * rng.normal(size=(per, d)) for c in centres])
    truth = np.repeat(np.arange(5), per)
    perm = rng.permutation(len(x))
    return x[perm], truth[perm]


def test_kmeans_representatives_cover_distinct_clusters_and_are_deterministic():
    x, truth = _blobs()
    res = select_by_clustering(x, 5, seed=3)
    assert len(res.indices) == 5
    assert sorted(truth[res.indices].tolist()) == [0, 1, 2, 3, 4]
    # clusters recovered exactly (up to relabelling)
    for c in range(5):
        assert len(set(truth[res.labels == c].tolist())) == 1
    # each representative is the member nearest the mean of its cluster in the latent plane
    for c, rep in enumerate(res.indices):
        members = np.flatnonzero(res.labels == c)
        centre = res.pca.latent[members].mean(axis=0)
        d = np.linalg.norm(res.pca.latent[members] - centre, axis=1)
        assert rep == members[np.argmin(d)]
    again = select_by_clustering(x, 5, seed=3)
    np.testing.assert_array_equal(res.indices, again.indices)
    assert res.sizes.sum() == len(x)


def test_more_clusters_than_points_or_distinct_points():
    x, _ = _blobs(per=2)
    res = select_by_clustering(x, 50)
    assert sorted(res.indices.tolist()) == list(range(len(x)))
    dup = np.vstack([np.ones((4, 3)), np.zeros((4, 3))])
    res = select_by_clustering(dup, 5)
    assert len(res.indices) == 2 and {tuple(dup[i]) for i in res.indices} == {(1, 1, 1), (0, 0, 0)}


def test_allocate_budget_is_proportional_and_capped():
    from interforge.sampling import allocate_budget

    q = allocate_budget(10, [100, 50, 3, 0])
    assert q.tolist() == [6, 3, 1, 0]  # 6.5/3.2/0.2 -> one each first, then largest remainders
    assert allocate_budget(7, [2, 1]).tolist() == [2, 1]  # never more than a group has
    assert allocate_budget(2, [5, 5, 5]).sum() == 2
    q = allocate_budget(30, [40, 20, 60])
    assert q.tolist() == [10, 5, 15]


def test_stratified_clustering_gives_each_group_its_share():
    rng = np.random.default_rng(8)
    # group A: spread along two axes near the origin; group B: far away, with its own small spread
    a = rng.normal(size=(60, 6)) * [1, 1, 0.01, 0.01, 0.01, 0.01]
    b = 100.0 + rng.normal(size=(30, 6)) * [0.01, 0.01, 0.2, 0.2, 0.01, 0.01]
    x = np.vstack([a, b])
    groups = ["A"] * 60 + ["B"] * 30
    res = select_by_clustering(x, 9, seed=0, groups=groups)
    picked = [groups[i] for i in res.indices]
    assert picked.count("A") == 6 and picked.count("B") == 3
    assert res.cluster_groups == picked
    assert np.all(res.labels >= 0) and res.sizes.sum() == 90
    for c, rep in enumerate(res.indices):  # each representative belongs to its own cluster
        assert res.labels[rep] == c
    # B's own spread (axes 3-4) is invisible to the global plane but drives B's clusters:
    # its three representatives are far apart along those axes
    b_reps = x[[i for i in res.indices if groups[i] == "B"]][:, 2:4]
    d = np.linalg.norm(b_reps[:, None] - b_reps[None], axis=-1)
    assert d[np.triu_indices(3, 1)].min() > 0.2
    with pytest.raises(InterforgeError):
        select_by_clustering(x, 3, groups=groups[:-1])
