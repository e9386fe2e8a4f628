"""Regions along the interface normal: interface-versus-bulk summaries of the z profiles (the share of
under-coordinated ions, CN < 6, and the hop rate; paper, sections 2.3-2.4), interface planes tracked
block by block, and the transport (D, density, Nernst–Einstein conductivity) of ions inside each region."""

from __future__ import annotations

from dataclasses import asdict, dataclass, field

import numpy as np

from interforge.analysis.profiles import HopProfile, region_labels
from interforge.analysis.structure import CNProfile


@dataclass
class RegionSummary:
    """Per region ('interface': within ``width_A`` of a plane; 'bulk': the rest).

    cn_lt6_fraction: share of ions with total CN < 6 (time-averaged). hop_rate_per_ion_ns: hops
    (displacement > threshold over lag_ps) per ion per ns. ions: mean ions per frame in the region.
    """

    region: str
    ions: float
    cn_lt6_fraction: float
    hop_probability: float
    hop_rate_per_ion_ns: float

    def as_dict(self) -> dict:
        return asdict(self)


def region_summary(cn: CNProfile, hops: HopProfile, planes: np.ndarray, cell_z: float,
                   width_A: float = 8.0) -> list[RegionSummary]:
    """Aggregate CN classes and hops of each z bin into interface and bulk regions."""
    out = []
    cn_reg = region_labels(np.asarray(cn.z_A), np.asarray(planes), cell_z, width_A)
    hop_reg = region_labels(np.asarray(hops.z_A), np.asarray(planes), cell_z, width_A)
    for name in ("interface", "bulk"):
        m = cn_reg == name
        ions = float(np.sum(cn.ions[m]))
        lt6 = float(np.sum(cn.classes["lt6"][m]))
        h = hop_reg == name
        h_ions = float(np.sum(hops.ions[h]))
        h_hops = float(np.sum(hops.hops[h]))
        p = h_hops / h_ions if h_ions > 0 else float("nan")
        rate = p / hops.lag_ps * 1000.0 if hops.lag_ps > 0 else float("nan")
        out.append(RegionSummary(name, ions, lt6 / ions if ions > 0 else float("nan"), p, rate))
    return out


# --------------------------------------------------------------------------------------------------
# Interface planes followed through the run, regions per frame, and transport inside each region.
# --------------------------------------------------------------------------------------------------

@dataclass
class InterfaceTrack:
    """Interface planes found again in every block of frames (NPT: the cell and the film move).

    blocks: list of (first_frame, end_frame_exclusive, Interfaces) with the planes and the composition
    profile of that block in the block's mean cell height ``Interfaces.cell_z_A``. A frame's planes are
    its block's planes scaled by c_z(frame) / cell_z_A (the barostat scales z affinely). side_a / side_b:
    element symbols of the two phase markers (e.g. 'O' for ZrO2, 'Cl' for Li2ZrCl6).
    """

    blocks: list
    side_a: str
    side_b: str

    def block_of(self, frame: int):
        for f0, f1, itf in self.blocks:
            if f0 <= frame < f1:
                return itf
        return self.blocks[-1][2]

    def planes_at(self, frame: int, cell_z: float) -> np.ndarray:
        """Planes of ``frame`` in Å, scaled to that frame's cell height cell_z (Å)."""
        itf = self.block_of(frame)
        return np.asarray(itf.planes_A) * (cell_z / itf.cell_z_A)


def track_interfaces(positions, cells, times_ps, numbers, marker_a, marker_b, block_ps: float = 100.0,
                     frames_per_block: int = 5) -> InterfaceTrack:
    """Planes of the a/b composition switch (see :func:`~interforge.analysis.profiles.detect_interfaces`) in
    consecutive blocks of ``block_ps`` ps, each from ``frames_per_block`` evenly spaced frames of the block.

    positions: (T, N, 3) Å; cells: (T, 3, 3) Å; numbers: (N,); marker_a / marker_b: atomic numbers.
    A run shorter than one block is one block. z of every frame is rescaled to the block's mean height.
    """
    from ase.data import chemical_symbols

    from interforge.analysis.profiles import detect_interfaces

    times = np.asarray(times_ps, float)
    n_t = len(times)
    dt = float(np.median(np.diff(times))) if n_t > 1 else 1.0
    per = max(1, int(round(block_ps / dt)))
    starts = list(range(0, n_t, per))
    if len(starts) > 1 and n_t - starts[-1] < per // 2:
        starts.pop()  # a short tail joins the previous block
    bounds = list(zip(starts, starts[1:] + [n_t]))
    blocks = []
    for f0, f1 in bounds:
        frames = np.unique(np.linspace(f0, f1 - 1, min(frames_per_block, f1 - f0)).round().astype(int))
        cz = float(np.mean([cells[f][2, 2] for f in frames]))
        zs = np.concatenate([np.mod(positions[f][:, 2], cells[f][2, 2]) * (cz / cells[f][2, 2]) for f in frames])
        nums = np.tile(numbers, len(frames))
        blocks.append((f0, f1, detect_interfaces(zs, nums, cz, list(marker_a), list(marker_b))))
    return InterfaceTrack(blocks, chemical_symbols[list(marker_a)[0]], chemical_symbols[list(marker_b)[0]])


def region_names(track: InterfaceTrack) -> list[str]:
    a, b = track.side_a, track.side_b
    return ["interface", "bulk", f"interface_{a}_side", f"interface_{b}_side", f"bulk_{a}_side", f"bulk_{b}_side"]


def _classify(z: np.ndarray, itf, cell_z: float, width: float) -> tuple[np.ndarray, np.ndarray]:
    """(near, side_a) booleans for wrapped z (Å) in a frame of height cell_z, from block profile ``itf``."""
    from interforge.analysis.profiles import distance_to_planes

    scale = cell_z / itf.cell_z_A
    near = distance_to_planes(z, np.asarray(itf.planes_A) * scale, cell_z) <= width
    good = np.isfinite(itf.fraction)
    if good.sum() >= 2:
        f = np.interp(np.mod(z / scale, itf.cell_z_A), itf.z_A[good], itf.fraction[good], period=itf.cell_z_A)
    else:
        f = np.ones_like(z)
    return near, f > 0.5


def _select(name: str, near: np.ndarray, side_a: np.ndarray, track: InterfaceTrack) -> np.ndarray:
    base, _, side = name.partition("_")
    sel = near if base == "interface" else ~near
    if side:
        sel = sel & (side_a if side == f"{track.side_a}_side" else ~side_a)
    return sel


def region_masks(track: InterfaceTrack, z: np.ndarray, cells, width: float = 8.0,
                 grid: int = 4000) -> tuple[dict, dict]:
    """Which ion is in which region in every frame, and each region's thickness per frame.

    z: (T, n) z of the ions, Å (unwrapped is fine; wrapped here per frame). Returns
    ({region: (T, n) bool}, {region: (T,) thickness along z, Å}); regions as in :func:`region_names`.
    """
    names = region_names(track)
    n_t = z.shape[0]
    masks = {k: np.zeros(z.shape, bool) for k in names}
    thick = {k: np.zeros(n_t) for k in names}
    for f0, f1, itf in track.blocks:
        zg = (np.arange(grid) + 0.5) / grid * itf.cell_z_A
        near_g, a_g = _classify(zg, itf, itf.cell_z_A, width * 1.0)
        for f in range(f0, min(f1, n_t)):
            cz = float(cells[f][2, 2])
            near, side_a = _classify(np.mod(z[f], cz), itf, cz, width)
            # the grid is in block units; the frame's own thickness scales with its height (width stays fixed,
            # a small second-order effect for the few % a barostat changes c_z)
            for k in names:
                masks[k][f] = _select(k, near, side_a, track)
                thick[k][f] = _select(k, near_g, a_g, track).mean() * cz
    return masks, thick


def residence_msd(positions: np.ndarray, mask: np.ndarray, max_lag: int, n_groups: int = 20):
    """MSD of ions counted only while they stay in a region (segments of continuous residence).

    positions: (T, n, 3) unwrapped Å; mask: (T, n) bool, True when the ion is in the region. For every
    maximal run of consecutive frames an ion spends in the region, all time origins inside the run and all
    lags that end inside it contribute (x(t0 + m) − x(t0))². Returns (sums (G, max_lag + 1, 3) Å² summed
    over origins, counts (G, max_lag + 1) origins, ions per group (G,)): ions are dealt into G groups for
    the jackknife error. MSD(m) = Σ_g sums / Σ_g counts.
    """
    import scipy.fft

    n_t, n = mask.shape
    visiting = np.flatnonzero(mask.any(axis=0))
    g_count = max(1, min(n_groups, len(visiting)))
    sums = np.zeros((g_count, max_lag + 1, 3))
    counts = np.zeros((g_count, max_lag + 1))
    members = np.zeros(g_count, int)
    for k, i in enumerate(visiting):
        g = k % g_count
        members[g] += 1
        m = np.concatenate([[False], mask[:, i], [False]])
        edges = np.flatnonzero(np.diff(m.astype(np.int8)))
        for s, e in zip(edges[::2], edges[1::2]):
            length = e - s
            counts[g, 0] += length
            if length < 2:
                continue
            x = positions[s:e, i] - positions[s, i]
            top = min(length - 1, max_lag)
            nfft = scipy.fft.next_fast_len(2 * length, real=True)
            f = scipy.fft.rfft(x, n=nfft, axis=0)
            acf = scipy.fft.irfft(f.real ** 2 + f.imag ** 2, n=nfft, axis=0)[:top + 1]
            sq = x * x
            head = np.concatenate([np.zeros((1, 3)), np.cumsum(sq, axis=0)])  # head[j] = sum_{k<j}
            lag = np.arange(1, top + 1)
            s_m = head[length - lag] + (head[length] - head[lag]) - 2.0 * acf[1:top + 1]
            sums[g, 1:top + 1] += np.maximum(s_m, 0.0)
            counts[g, 1:top + 1] += length - lag
    return sums, counts, members


@dataclass
class RegionTransport:
    """Transport of the mobile ions inside one region (see docs/analysis.md, "Regions").

    thickness_A: mean thickness along z, Å; volume_A3: mean volume (thickness × in-plane area), Å³;
    ions: mean number of ions in it per frame; occupancy: share of ion-frames spent in it; n_per_A3: ions
    per Å³ of the region's own volume. D_* ± D_*_err: residence-segment Einstein fits, cm²/s (3-D, in-plane
    xy, normal z); fit_start_ps / fit_end_ps: lag window used; sigma_mS_cm ± sigma_err_mS_cm and
    sigma_xy_mS_cm: Nernst–Einstein from D and from D_xy with the region's density (tracer, H_R = 1).
    hop_rate_per_ion_ns: hops per ion per ns of the ions in the region at the start of each hop pair (set by
    :func:`region_hop_rates`). flags: why numbers are missing or not comparable (an empty list when all is well).
    """

    region: str
    thickness_A: float
    volume_A3: float
    ions: float
    occupancy: float
    n_per_A3: float
    D_cm2_s: float | None = None
    D_err_cm2_s: float | None = None
    D_xy_cm2_s: float | None = None
    D_xy_err_cm2_s: float | None = None
    D_z_cm2_s: float | None = None
    D_z_err_cm2_s: float | None = None
    fit_start_ps: float | None = None
    fit_end_ps: float | None = None
    sigma_mS_cm: float | None = None
    sigma_err_mS_cm: float | None = None
    sigma_xy_mS_cm: float | None = None
    sigma_xy_err_mS_cm: float | None = None
    hop_rate_per_ion_ns: float | None = None
    flags: list = field(default_factory=list)

    def as_dict(self) -> dict:
        return asdict(self)


def _ols_slope(t: np.ndarray, y: np.ndarray) -> float:
    tc = t - t.mean()
    return float(np.dot(tc, y - y.mean()) / np.dot(tc, tc))


def region_transport(name: str, positions: np.ndarray, mask: np.ndarray, thickness_A: np.ndarray,
                     area_A2: np.ndarray, dt_ps: float, fit: tuple[int, int], T_K: float | None = None,
                     charge: float = 1.0, min_thickness_A: float = 4.0, min_retention: float = 0.25,
                     n_groups: int = 20) -> RegionTransport:
    """D, density and Nernst–Einstein sigma of the ions (positions (T, n, 3) Å) while in one region.

    mask: (T, n) residence; thickness_A: (T,) region thickness, Å; area_A2: (T,) in-plane cell area, Å²;
    fit: (lo, hi) lag indices of the whole-run Einstein fit. The region's fit uses the same window but
    ends where fewer than ``min_retention`` of the origins at lag lo are still in the region. Errors:
    jackknife over ``n_groups`` groups of ions. A region thinner than ``min_thickness_A``, holding no ion
    or (almost, ≥ 99 % of ion-frames) every ion is flagged and gets no transport numbers.
    """
    from interforge.analysis.diffusion import A2_PER_PS_TO_CM2_PER_S, nernst_einstein_mS_cm

    n_t, n = mask.shape
    vol = thickness_A * area_A2
    thick = float(thickness_A.mean())
    occ = float(mask.mean()) if mask.size else 0.0
    ions = float(mask.sum(axis=1).mean())
    dens = float(mask.sum() / vol.sum()) if vol.sum() > 0 else float("nan")
    out = RegionTransport(name, thick, float(vol.mean()), ions, occ, dens)
    if thick < min_thickness_A:
        out.flags.append(f"thinner ({thick:.1f} Å) than region_min_thickness_A = {min_thickness_A:g} Å")
    if occ == 0.0:
        out.flags.append("holds no ion")
    elif occ >= 0.99:
        out.flags.append("holds every ion: the same set as the composite, not a separate region")
    if out.flags:
        return out
    lo, hi = fit
    sums, counts, _ = residence_msd(positions, mask, hi - 1, n_groups)
    tot_c = counts.sum(axis=0)
    if tot_c[lo] == 0:
        out.flags.append("ions leave the region before the fit window: no D")
        return out
    short = np.flatnonzero(tot_c[lo:hi] < min_retention * tot_c[lo])
    hi_r = lo + int(short[0]) if len(short) else hi
    if hi_r - lo < 3:
        out.flags.append("ions leave the region before the fit window: no D")
        return out
    lags = np.arange(lo, hi_r) * dt_ps

    def slopes(s, c):
        ok = c[lo:hi_r] > 0  # a jackknife replicate may lack origins at some lags
        if ok.sum() < 3:
            return np.full(3, np.nan)
        msd = s[lo:hi_r][ok] / c[lo:hi_r][ok, None]
        t = lags[ok]
        return np.array([_ols_slope(t, msd.sum(axis=1)), _ols_slope(t, msd[:, 0] + msd[:, 1]),
                         _ols_slope(t, msd[:, 2])])

    full = slopes(sums.sum(axis=0), tot_c)
    g = sums.shape[0]
    if g > 1:
        jack = np.array([slopes(sums.sum(axis=0) - sums[k], tot_c - counts[k]) for k in range(g)])
        err = np.sqrt((g - 1) / g * ((jack - jack.mean(axis=0)) ** 2).sum(axis=0))
    else:
        err = np.full(3, np.nan)
    d = full / np.array([6.0, 4.0, 2.0]) * A2_PER_PS_TO_CM2_PER_S
    de = err / np.array([6.0, 4.0, 2.0]) * A2_PER_PS_TO_CM2_PER_S
    out.D_cm2_s, out.D_xy_cm2_s, out.D_z_cm2_s = (float(x) for x in d)
    out.D_err_cm2_s, out.D_xy_err_cm2_s, out.D_z_err_cm2_s = (float(x) for x in de)
    out.fit_start_ps, out.fit_end_ps = float(lags[0]), float(lags[-1])
    if hi_r < hi:
        out.flags.append(f"fit window shortened to {lags[-1]:g} ps (ions leave the region)")
    if T_K:
        out.sigma_mS_cm = nernst_einstein_mS_cm(d[0], dens, T_K, charge)
        out.sigma_err_mS_cm = nernst_einstein_mS_cm(de[0], dens, T_K, charge)
        out.sigma_xy_mS_cm = nernst_einstein_mS_cm(d[1], dens, T_K, charge)
        out.sigma_xy_err_mS_cm = nernst_einstein_mS_cm(de[1], dens, T_K, charge)
    return out


def region_hop_rates(hops, masks: dict) -> dict:
    """Hops per ion per ns in each region: a hop pair counts for the region its ion is in at the pair's
    earlier frame (regions per frame, so planes that move are followed). hops: a
    :class:`~interforge.analysis.profiles.HopProfile`; masks: {region: (T, n) bool} from :func:`region_masks`.
    Regions without ions at those frames get None."""
    if not hops.pair_frames:
        return {k: None for k in masks}
    frames = np.asarray(hops.pair_frames)
    disp = np.asarray(hops.displacements_A).reshape(len(frames), -1)
    hop = disp > hops.threshold_A
    out = {}
    for name, m in masks.items():
        sel = m[frames]
        n = sel.sum()
        out[name] = float((hop & sel).sum() / n / hops.lag_ps * 1000.0) if n else None
    return out
