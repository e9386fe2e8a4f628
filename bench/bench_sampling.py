"""Sampling benchmarks: each of our routines against a peer computing the same thing in the same run.

* close-contact filter (ase.neighborlist, per-atom cutoffs) vs the full minimum-image distance
  matrix of ``ase.geometry.get_distances``;
* farthest-point sampling (incremental min-distance update) vs the textbook greedy loop that
  recomputes pool-to-chosen distances with ``scipy.spatial.distance.cdist`` each step;
* structure-averaged SOAP (dscribe ``average="outer"``) vs per-atom SOAP averaged in numpy.
"""

from __future__ import annotations

import time

import numpy as np


def _timed(fn, repeat: int = 3):
    best, out = float("inf"), None
    for _ in range(repeat):
        t0 = time.perf_counter()
        out = fn()
        best = min(best, time.perf_counter() - t0)
    return best, out


def _contacts() -> None:
    from ase.build import bulk
    from ase.data import covalent_radii
    from ase.geometry import get_distances

    from interforge.sampling import close_contacts

    atoms = bulk("ZrO2", "fluorite", a=5.1, cubic=True) * (5, 5, 5)  # 1,500 atoms
    atoms.rattle(0.3, seed=1)

    def peer():
        _, d = get_distances(atoms.positions, cell=atoms.cell, pbc=atoms.pbc)
        r = covalent_radii[atoms.numbers]
        ratio = d / (r[:, None] + r[None, :])
        np.fill_diagonal(ratio, np.inf)
        return int(np.sum(ratio < 0.7)) // 2

    t_ours, rep = _timed(lambda: close_contacts(atoms, 0.7))
    t_peer, n_peer = _timed(peer)
    print(f"close contacts, {len(atoms)} atoms: ours {t_ours * 1e3:.1f} ms, ase get_distances {t_peer * 1e3:.1f} ms, "
          f"speed-up x{t_peer / t_ours:.1f}; violations {rep.n_violations} vs {n_peer}")


def _fps() -> None:
    from scipy.spatial.distance import cdist

    from interforge.sampling import farthest_point_sampling

    x = np.random.default_rng(0).normal(size=(5000, 64))
    n = 100

    def peer(first: int):
        chosen = [first]
        for _ in range(n - 1):
            d = cdist(x, x[chosen]).min(axis=1)
            d[chosen] = -1.0
            chosen.append(int(np.argmax(d)))
        return chosen

    t_ours, res = _timed(lambda: farthest_point_sampling(x, n, seed=0))
    t_peer, ref = _timed(lambda: peer(int(res.indices[0])), repeat=1)
    same = res.indices.tolist() == ref
    print(f"farthest-point sampling, {n} of {len(x)} x {x.shape[1]}: ours {t_ours:.3f} s, naive greedy {t_peer:.3f} s, "
          f"speed-up x{t_peer / t_ours:.1f}; identical picks: {same}")


def _soap() -> None:
    from ase.build import bulk
    from dscribe.descriptors import SOAP

    from interforge.config.sampling import SamplingSection
    from interforge.sampling import soap_descriptors

    s = SamplingSection()
    structures = []
    for k in range(8):
        a = bulk("ZrO2", "fluorite", a=5.1, cubic=True) * (2, 2, 2)
        a.rattle(0.05, seed=k)
        structures.append(a)
    per_atom = SOAP(species=["O", "Zr"], r_cut=s.soap_r_cut, n_max=s.soap_n_max, l_max=s.soap_l_max,
                    sigma=s.soap_sigma, periodic=True)
    t_ours, res = _timed(lambda: soap_descriptors(structures, s), repeat=2)
    t_peer, ref = _timed(lambda: np.vstack([per_atom.create(a).mean(axis=0) for a in structures]), repeat=2)
    err = float(np.max(np.abs(res.values - ref)) / np.max(np.abs(ref)))
    print(f"SOAP, {len(structures)} x {len(structures[0])} atoms: ours {t_ours:.3f} s, per-atom + mean {t_peer:.3f} s, "
          f"ratio x{t_peer / t_ours:.2f}; max relative difference {err:.1e}")


def main() -> None:
    _contacts()
    _fps()
    _soap()


if __name__ == "__main__":
    main()
