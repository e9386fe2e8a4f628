"""Mean-squared displacement averaged over all time origins, by FFT.

For one coordinate x(k), k = 0..T-1, the time-origin average at lag m is

    MSD(m) = 1/(T-m) * sum_{k=0}^{T-m-1} (x(k+m) - x(k))^2
           = 1/(T-m) * [ sum_{k<T-m} x(k)^2 + sum_{k>=m} x(k)^2 ] - 2 * C(m)/(T-m)

with C(m) = sum_k x(k) x(k+m) the (unnormalised) autocorrelation, computed by a zero-padded
FFT in O(T log T). The result equals the direct O(T^2) average to round-off (see tests).

Units follow the input: positions in Å give MSD in Å².
"""

from __future__ import annotations

import logging
from dataclasses import dataclass

import numpy as np
import scipy.fft

log = logging.getLogger(__name__)

#: Atoms per FFT batch: bounds the working memory to about 8 * 2 * nfft * 3 * CHUNK bytes.
ATOM_CHUNK = 256


def msd_fft_components(positions: np.ndarray) -> np.ndarray:
    """Per-atom, per-Cartesian-component MSD over all time origins.

    positions: (T, N, 3) unwrapped coordinates, Å. Returns (T, N, 3) float64, Å²; entry [m, i, c]
    is the time-origin average of (x_c(k+m) - x_c(k))^2 for atom i (lag m in frames).
    """
    pos = np.asarray(positions, dtype=np.float64)
    if pos.ndim != 3 or pos.shape[2] != 3:
        raise ValueError(f"positions must be (T, N, 3), got {pos.shape}")
    n_t = pos.shape[0]
    nfft = scipy.fft.next_fast_len(2 * n_t, real=True)
    f = scipy.fft.rfft(pos, n=nfft, axis=0)
    acf = scipy.fft.irfft(f * f.conj(), n=nfft, axis=0)[:n_t]
    del f
    sq = pos * pos
    # Running sums of x^2 from the front and from the back give the two "square" terms per lag.
    total = sq.sum(axis=0)
    head = np.cumsum(sq, axis=0)  # head[j] = sum_{k<=j} x^2
    out = np.empty_like(pos)
    out[0] = 0.0
    if n_t > 1:
        # sum_{k<T-m} x(k)^2 = head[T-m-1]; sum_{k>=m} x(k)^2 = total - head[m-1]
        m = np.arange(1, n_t)
        s = head[n_t - m - 1] + (total - head[m - 1])
        out[1:] = (s - 2.0 * acf[1:]) / (n_t - m)[:, None, None]
    np.maximum(out, 0.0, out=out)  # round-off can give -1e-16 at lag 0-ish
    return out


def msd_direct(positions: np.ndarray) -> np.ndarray:
    """Reference O(N T^2) time-origin average, (T, N, 3) Å² like :func:`msd_fft_components`."""
    pos = np.asarray(positions, dtype=np.float64)
    n_t = pos.shape[0]
    out = np.zeros_like(pos)
    for m in range(1, n_t):
        d = pos[m:] - pos[:-m]
        out[m] = (d * d).mean(axis=0)
    return out


@dataclass
class MSDResult:
    """Time-origin-averaged MSD of one group of atoms.

    lag_ps: (L,) lag times, ps. total / xy / z: (L,) MSD averaged over the group's atoms, Å².
    n_atoms: atoms averaged. slopes: per-atom OLS slopes (N, 3) of (total, xy, z) in Å²/ps over the
    fit window, when a window was given (they carry the ion-to-ion scatter used for error bars).
    """

    lag_ps: np.ndarray
    total: np.ndarray
    xy: np.ndarray
    z: np.ndarray
    n_atoms: int
    fit_lo: int = 0
    fit_hi: int = 0
    slopes: np.ndarray | None = None


def ols_weights(t: np.ndarray) -> np.ndarray:
    """Weights w with slope = sum w_k y_k for the ordinary least-squares line y = a + b t."""
    tc = t - t.mean()
    return tc / np.dot(tc, tc)


def _slope_kernels(n_t: int, nfft: int, dt_ps: float, lo: int, hi: int) -> tuple[np.ndarray, np.ndarray]:
    """Kernels (h, g) with per-atom OLS slope = x²·h − 2 P·g for one coordinate column x.

    MSD(m) = (S(m) − 2 acf(m)) / (T − m) and the OLS slope over lags [lo, hi) is Σ_m w_m MSD(m), so with
    c_m = w_m / (T − m): slope = Σ_m c_m S(m) − 2 Σ_m c_m acf(m). Both sums are linear in the data:
    Σ_m c_m S(m) = Σ_k x(k)² h(k) with h(k) = C(T−1−k) + C(k) (C the cumulative sum of c), and
    Σ_m c_m acf(m) = Σ_k P(k) g(k) with P = |rfft(x)|² and g(k) = α_k/n · Re rfft(c)(k) (α = 1 at
    k = 0 and the Nyquist bin, 2 elsewhere). No per-atom inverse FFT is needed.
    """
    c = np.zeros(n_t)
    m = np.arange(lo, hi)
    c[lo:hi] = ols_weights(m * dt_ps) / (n_t - m)
    cc = np.cumsum(c)
    h = cc[::-1] + cc
    alpha = np.full(nfft // 2 + 1, 2.0)
    alpha[0] = 1.0
    if nfft % 2 == 0:
        alpha[-1] = 1.0
    g = alpha / nfft * scipy.fft.rfft(c, n=nfft).real
    return h, g


def compute_msd(positions: np.ndarray, dt_ps: float, fit_window: tuple[int, int] | None = None,
                chunk: int = ATOM_CHUNK) -> MSDResult:
    """MSD (total, xy, z) of a group of atoms, streamed over atom batches.

    positions: (T, N, 3) unwrapped Å (a numpy array or anything sliceable as [:, a:b] such as an
    h5py dataset); dt_ps: time between frames, ps. fit_window = (lo, hi) lag indices (inclusive lo,
    exclusive hi): per-atom OLS slopes (Å²/ps) over it are returned too, without storing per-atom
    curves, so memory stays O(T * chunk) whatever N is.

    Cost: one forward real FFT per atom and component; the group average needs a single inverse
    FFT of the summed power spectrum, and per-atom slopes are dot products (see _slope_kernels).
    """
    n_t, n_atoms = positions.shape[0], positions.shape[1]
    if n_atoms == 0:
        raise ValueError("no atoms to analyse")
    nfft = scipy.fft.next_fast_len(2 * n_t, real=True)
    power = np.zeros((3, nfft // 2 + 1))
    sq_sum = np.zeros((3, n_t))
    slopes = np.empty((n_atoms, 3)) if fit_window else None
    if fit_window:
        lo, hi = fit_window
        h, g = _slope_kernels(n_t, nfft, dt_ps, lo, hi)
    for a in range(0, n_atoms, chunk):
        b = min(a + chunk, n_atoms)
        blk = np.asarray(positions[:, a:b], dtype=np.float64)
        # (n, 3, T) with time contiguous; subtracting frame 0 keeps the S − 2·acf difference accurate
        cols = np.empty((b - a, 3, n_t))
        np.subtract(blk.transpose(1, 2, 0), blk[0][:, :, None], out=cols)
        f = scipy.fft.rfft(cols, n=nfft, axis=-1)
        p = f.real ** 2 + f.imag ** 2
        del f
        sq = cols * cols
        power += p.sum(axis=0)
        sq_sum += sq.sum(axis=0)
        if fit_window:
            comp = sq @ h - 2.0 * (p @ g)  # (n, 3) per-atom, per-component slopes
            slopes[a:b, 0] = comp.sum(axis=1)
            slopes[a:b, 1] = comp[:, 0] + comp[:, 1]
            slopes[a:b, 2] = comp[:, 2]
    acf = scipy.fft.irfft(power, n=nfft, axis=-1)[:, :n_t]
    head = np.cumsum(sq_sum, axis=1)
    total = head[:, -1:]
    msd = np.zeros((3, n_t))
    if n_t > 1:
        m = np.arange(1, n_t)
        s = head[:, n_t - m - 1] + (total - head[:, m - 1])
        msd[:, 1:] = (s - 2.0 * acf[:, 1:]) / (n_t - m)
    msd = np.maximum(msd, 0.0) / n_atoms
    lo, hi = fit_window if fit_window else (0, 0)
    return MSDResult(lag_ps=np.arange(n_t) * dt_ps, total=msd.sum(axis=0), xy=msd[0] + msd[1], z=msd[2],
                     n_atoms=n_atoms, fit_lo=lo, fit_hi=hi, slopes=slopes)
