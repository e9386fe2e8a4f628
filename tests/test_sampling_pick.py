"""Structure-level selection helpers: FPS on NEP descriptors away from a training set; seed representatives."""

import numpy as np
from ase.build import bulk

from interforge.config.sampling import SamplingSection
from interforge.sampling import (
    nep_descriptor_fn, pick_farthest, pick_representatives, select_by_clustering, soap_descriptors,
)


def test_pick_farthest_on_nep_descriptors_avoids_the_training_set(nep_fixture_dir):
    describe = nep_descriptor_fn(nep_fixture_dir / "Si_2022_NEP4_5body.txt")
    base = bulk("Si", "diamond", a=5.43) * (2, 1, 1)
    candidates = []
    for k, amp in enumerate([0.02, 0.05, 0.1, 0.15, 0.2, 0.25]):
        a = base.copy()
        a.rattle(amp, seed=k)
        candidates.append(a)
    training = [base, candidates[5].copy()]  # the most distorted candidate is already labelled
    res = pick_farthest(candidates, 6, describe, reference=training)
    assert 5 not in res.indices  # a duplicate of a training structure is never chosen
    assert len(res.indices) == 5
    # the first pick is the candidate farthest from the training set, found here by hand
    train_d = describe(training).values
    gaps = [np.min(np.linalg.norm(train_d - row, axis=1)) for row in res.descriptors.values]
    assert res.indices[0] == int(np.argmax(gaps))
    # precomputed reference descriptors give the same answer
    again = pick_farthest(candidates, 6, describe, reference=describe(training))
    assert again.indices == res.indices


def test_pick_representatives_is_soap_then_clustering():
    s = SamplingSection(soap_r_cut=4.0, soap_n_max=3, soap_l_max=2, n_select=3)
    pool = []
    for k in range(8):
        a = bulk("ZrO2", "fluorite", a=5.1 * (1 + 0.01 * k))
        pool.append(a)
    res = pick_representatives(pool, s, seed=2)
    direct = select_by_clustering(soap_descriptors(pool, s).values, 3, seed=2)
    assert res.indices == direct.indices.tolist() and len(set(res.indices)) == 3
    # representatives of a 1-parameter family spread over it (lattice parameter ranks 0..7)
    assert min(res.indices) <= 2 and max(res.indices) >= 5
