"""Figures of the learning loop: committee-deviation histograms and the summary across iterations."""

from __future__ import annotations

from pathlib import Path

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402

from interforge.report.figures import save_figure  # noqa: E402




def plot_deviation_histogram(deviations: np.ndarray, threshold: float, path: str | Path, title: str = "") -> Path:
    """Histogram of the committee's maximum force deviation (eV/Å) over all scored frames."""
    fig, ax = plt.subplots(figsize=(5, 3.4))
    if deviations.size:
        hi = max(float(deviations.max()), threshold) * 1.05
        ax.hist(deviations, bins=np.linspace(0, hi, 40), color="#4c72b0", alpha=0.85)
    ax.axvline(threshold, color="#c44e52", ls="--", label=f"threshold {threshold:g} eV/Å")
    n_above = int((deviations > threshold).sum()) if deviations.size else 0
    ax.set_xlabel("max force deviation (eV/Å)")
    ax.set_ylabel("frames")
    ax.set_title(f"{title}: {n_above} of {deviations.size} frames above threshold" if title else "")
    ax.legend(frameon=False)
    return save_figure(fig, Path(path))


def plot_learning_summary(rows: list[dict], path: str | Path) -> Path:
    """Hold-out force RMSE (meV/Å), candidates and training-set size across iterations."""
    it = [r["iteration"] for r in rows]
    fig, (a1, a2) = plt.subplots(1, 2, figsize=(9, 3.4))
    rmse = [r.get("holdout_force_rmse_meV_A") for r in rows]
    a1.plot(it, [np.nan if v is None else v for v in rmse], "o-", color="#4c72b0")
    a1.set_xlabel("iteration")
    a1.set_ylabel("hold-out force RMSE (meV/Å)")
    a2.bar(it, [r.get("n_candidates") or 0 for r in rows], color="#dd8452", label="candidates")
    a2.plot(it, [r.get("n_train") or 0 for r in rows], "s-", color="#55a868", label="training structures")
    a2.set_xlabel("iteration")
    a2.legend(frameon=False)
    for ax in (a1, a2):
        ax.xaxis.get_major_locator().set_params(integer=True)
    fig.tight_layout()
    return save_figure(fig, Path(path))


def plot_ev_curves(curves, path: str | Path) -> Path:
    """E-V curves (eV/atom vs Å³/atom), teacher (markers) and NEP (lines), one panel per phase."""
    n = len(curves)
    cols = min(4, n)
    rows = (n + cols - 1) // cols
    fig, axes = plt.subplots(rows, cols, figsize=(3.2 * cols, 2.8 * rows), squeeze=False)
    for ax, c in zip(axes.ravel(), curves):
        ax.plot(c.volumes, c.e_teacher, "o", color="#333333", label="teacher")
        ax.plot(c.volumes, c.e_nep, "-", color="#4c72b0", label="NEP")
        ax.set_title(c.phase, fontsize=9)
        ax.set_xlabel("V (Å³/atom)", fontsize=8)
        ax.set_ylabel("E (eV/atom)", fontsize=8)
        ax.tick_params(labelsize=7)
    for ax in axes.ravel()[n:]:
        ax.axis("off")
    axes.ravel()[0].legend(frameon=False, fontsize=8)
    fig.tight_layout()
    return save_figure(fig, Path(path))


def plot_neb(results, path: str | Path) -> Path:
    """Li-hop energy profiles along the NEB path, NEP vs teacher, one panel per phase."""
    fig, axes = plt.subplots(1, len(results), figsize=(4 * len(results), 3.2), squeeze=False)
    for ax, r in zip(axes.ravel(), results):
        x = np.linspace(0, 1, len(r.energies_nep))
        ax.plot(x, r.energies_teacher, "o-", color="#333333", label=f"teacher {r.barrier_teacher_eV:.2f} eV")
        ax.plot(x, r.energies_nep, "s--", color="#4c72b0", label=f"NEP {r.barrier_nep_eV:.2f} eV")
        ax.set_title(f"{r.phase}: Li hop {r.hop_distance_A:.2f} Å", fontsize=9)
        ax.set_xlabel("reaction coordinate")
        ax.set_ylabel("E - E_initial (eV)")
        ax.legend(frameon=False, fontsize=8)
    fig.tight_layout()
    return save_figure(fig, Path(path))
