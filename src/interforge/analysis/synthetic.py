"""Synthetic trajectories with known answers, for tests, benchmarks and demos.

All positions Å, times ps. Nothing here is used by the analysis itself.
"""

from __future__ import annotations

import numpy as np

from interforge.analysis.readers import Trajectory


def lattice_random_walk(rng: np.random.Generator, n_ions: int, n_frames: int, a: float = 1.0,
                        p_hop: float = 0.5, box: float | None = None, dtype=np.float64) -> np.ndarray:
    """Unwrapped (T, N, 3) positions of independent walkers on a cubic lattice of spacing a (Å): each
    frame an ion hops to one of its 6 neighbours with probability p_hop. Exact D = p_hop a² / (6 Δt)."""
    pos = np.empty((n_frames, n_ions, 3), dtype=dtype)
    cur = (rng.random((n_ions, 3)) * (box if box else 10.0)).astype(dtype)
    pos[0] = cur
    for t in range(1, n_frames):
        hop = rng.random(n_ions) < p_hop
        axis = rng.integers(0, 3, n_ions)
        sign = rng.choice(np.array([-a, a], dtype=dtype), n_ions)
        cur[np.flatnonzero(hop), axis[hop]] += sign[hop]
        pos[t] = cur
    return pos


def rocksalt_interface(n_xy: int = 3, n_z_each: int = 3, a_cl: float = 5.14, a_o: float = 5.14) -> tuple:
    """A two-phase slab along z: rock-salt LiCl (Li octahedrally coordinated by Cl) on top of a rock-salt
    'MgO-like' block whose anions are O (cations Mg). Returns (numbers, positions (N,3) Å, cell (3,3) Å,
    z of the two interface planes). Li–Cl = a_cl/2, every Li in the bulk of its block has CN 6."""
    basis_anion = np.array([[0, 0, 0], [0.5, 0.5, 0], [0.5, 0, 0.5], [0, 0.5, 0.5]])
    basis_cation = basis_anion + np.array([0.5, 0, 0])
    nums, pos = [], []
    z0 = 0.0
    for a, anion, cation in ((a_o, 8, 12), (a_cl, 17, 3)):
        for i in range(n_xy):
            for j in range(n_xy):
                for k in range(n_z_each):
                    shift = np.array([i, j, k]) * np.array([a_cl, a_cl, a])
                    for b in basis_anion:
                        pos.append(shift + b * np.array([a_cl, a_cl, a]) + [0, 0, z0])
                        nums.append(anion)
                    for b in basis_cation:
                        pos.append(shift + np.mod(b, 1) * np.array([a_cl, a_cl, a]) + [0, 0, z0])
                        nums.append(cation)
        z0 += n_z_each * a
    cell = np.diag([n_xy * a_cl, n_xy * a_cl, z0])
    planes = np.array([n_z_each * a_o - a_o / 4, z0 - a_cl / 4])
    return np.array(nums), np.array(pos), cell, planes


def vibrating_trajectory(numbers, positions, cell, n_frames: int, dt_ps: float, rng: np.random.Generator,
                         sigma: float = 0.05, mobile: int | None = 3, p_hop: float = 0.0, hop: float = 2.0,
                         wrap: bool = False) -> Trajectory:
    """Frames of a static structure with Gaussian thermal noise (sigma Å); atoms of atomic number
    ``mobile`` also random-walk by ±``hop`` Å along a random axis with probability p_hop per frame."""
    n = len(numbers)
    pos = np.empty((n_frames, n, 3))
    drift = np.zeros((n, 3))
    mob = np.flatnonzero(numbers == mobile) if mobile is not None else np.zeros(0, int)
    for t in range(n_frames):
        if t and p_hop > 0:
            h = mob[rng.random(len(mob)) < p_hop]
            drift[h, rng.integers(0, 3, len(h))] += rng.choice([-hop, hop], len(h))
        pos[t] = positions + drift + rng.normal(0, sigma, (n, 3))
    if wrap:
        pos = np.mod(pos, np.diag(cell))
    cells = np.broadcast_to(cell, (n_frames, 3, 3)).copy()
    return Trajectory(np.asarray(numbers), pos, cells, np.arange(n_frames) * dt_ps)


def site_hopping_trajectory(rng: np.random.Generator, n_ions: int, n_frames: int, dt_ps: float, a: float = 3.0,
                            rate_per_ps: float = 0.02, sigma: float = 0.4, tau_ps: float = 0.0,
                            n_sites: int = 6) -> tuple[Trajectory, np.ndarray]:
    """Li ions hopping between the sites of a simple cubic lattice (spacing a Å) while vibrating about them.

    Each ion hops to a random one of its 6 neighbour sites with probability rate_per_ps · dt_ps per frame.
    Vibration: Gaussian, sigma Å per axis; white (independent every frame) for tau_ps = 0, else an AR(1)
    process with correlation time tau_ps. The cell is cubic, n_sites · a wide. Returns (trajectory with
    unwrapped positions, the noise-free site positions (T, N, 3) Å, i.e. the known truth).
    """
    sites = np.empty((n_frames, n_ions, 3))
    cur = rng.integers(0, n_sites, (n_ions, 3)) * a
    p = rate_per_ps * dt_ps
    for t in range(n_frames):
        if t:
            hop = np.flatnonzero(rng.random(n_ions) < p)
            cur[hop, rng.integers(0, 3, len(hop))] += rng.choice([-a, a], len(hop))
        sites[t] = cur
    noise = rng.normal(0.0, sigma, (n_frames, n_ions, 3))
    if tau_ps > 0:
        phi = np.exp(-dt_ps / tau_ps)
        for t in range(1, n_frames):
            noise[t] = phi * noise[t - 1] + np.sqrt(1.0 - phi ** 2) * noise[t]
    cell = np.eye(3) * n_sites * a
    traj = Trajectory(np.full(n_ions, 3), sites + noise, np.broadcast_to(cell, (n_frames, 3, 3)).copy(),
                      np.arange(n_frames) * dt_ps)
    return traj, sites
