"""Publication-style figures of analysis results. Each function takes results objects from
:mod:`interforge.analysis` and an output path, writes the figure atomically and returns the path."""

from __future__ import annotations

import logging
from pathlib import Path

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402

from interforge.fileio import atomic_path  # noqa: E402

log = logging.getLogger(__name__)

STYLE = {"font.size": 9, "axes.linewidth": 0.8, "lines.linewidth": 1.3, "savefig.dpi": 300,
         "figure.figsize": (3.4, 2.6), "axes.spines.top": False, "axes.spines.right": False}


def save_figure(fig, path) -> Path:
    """Write ``fig`` atomically (format from the suffix, PNG by default) and close it."""
    path = Path(path)
    with atomic_path(path) as tmp:
        fig.savefig(tmp, bbox_inches="tight", format=path.suffix.lstrip(".") or "png")
    plt.close(fig)
    return path


def plot_msd(diffusion, path) -> Path:
    """MSD (Å²) vs lag (ps): total, xy, z, with the Einstein fit window shaded."""
    with plt.rc_context(STYLE):
        fig, ax = plt.subplots()
        m = diffusion.msd
        ax.plot(m.lag_ps, m.total, label="total")
        ax.plot(m.lag_ps, m.xy, label="xy")
        ax.plot(m.lag_ps, m.z, label="z")
        ax.axvspan(m.lag_ps[m.fit_lo], m.lag_ps[m.fit_hi - 1], color="0.9", zorder=0, label="fit window")
        d = diffusion.total
        # The Einstein fit line: slope 2·d·D (Å²/ps), intercept from the window means (OLS identity).
        t = m.lag_ps[m.fit_lo:m.fit_hi]
        slope = 2 * d.dim * d.D_cm2_s / 1e-4
        icpt = m.total[m.fit_lo:m.fit_hi].mean() - slope * t.mean()
        ax.plot(t, icpt + slope * t, "k--", lw=0.8, label="Einstein fit")
        ax.set_title(f"{diffusion.species}: D = {d.D_cm2_s:.2e} ± {d.D_err_cm2_s:.1e} cm²/s", fontsize=8)
        ax.set_xlabel("lag time (ps)")
        ax.set_ylabel("MSD (Å²)")
        ax.legend(frameon=False, fontsize=7)
        return save_figure(fig, path)


def plot_arrhenius(fit, path, T_extrapolate: float = 300.0, min_significance: float = 0.0) -> Path:
    """ln D vs 1000/T with error bars, the weighted fit and its 1-sigma band down to T_extrapolate — only over
    the data when the fit does not resolve Ea at ``min_significance`` (a flat or negative slope drawn to 300 K
    would show a room-temperature value the text withholds)."""
    resolved = fit.resolves_Ea(min_significance)
    with plt.rc_context(STYLE):
        fig, ax = plt.subplots()
        x = 1000.0 / fit.T_K
        yerr = np.where(np.isfinite(fit.D_err_cm2_s), fit.D_err_cm2_s / fit.D_cm2_s, 0.0)
        ax.errorbar(x, np.log10(fit.D_cm2_s), yerr=yerr / np.log(10), fmt="o", ms=4, capsize=2, label="MD")
        t_lo = min(fit.T_K.min(), T_extrapolate) if resolved else fit.T_K.min()
        tt = np.linspace(t_lo, fit.T_K.max(), 100)
        pred = np.array([fit.predict_lnD(T) for T in tt])
        label = f"Ea = {fit.Ea_eV:.3f} ± {fit.Ea_err_eV:.3f} eV" + ("" if resolved else " (not resolved)")
        ax.plot(1000 / tt, pred[:, 0] / np.log(10), "k-" if resolved else "k:", lw=1, label=label)
        ax.fill_between(1000 / tt, (pred[:, 0] - pred[:, 1]) / np.log(10), (pred[:, 0] + pred[:, 1]) / np.log(10),
                        color="0.8", zorder=0)
        ax.set_xlabel("1000/T (1/K)")
        ax.set_ylabel("log10 D (cm²/s)")
        ax.legend(frameon=False, fontsize=7)
        return save_figure(fig, path)


def plot_rdf(rdfs, path) -> Path:
    """g(r) (left axis) and running coordination number (right axis) of each pair."""
    with plt.rc_context(STYLE):
        fig, ax = plt.subplots()
        ax2 = ax.twinx()
        for k, r in enumerate(rdfs):
            c = f"C{k}"
            ax.plot(r.r_A, r.g, color=c, label=r.pair)
            ax2.plot(r.r_A, r.cn, color=c, ls="--")
        ax.set_xlabel("r (Å)")
        ax.set_ylabel("g(r)")
        ax2.set_ylabel("running CN (dashed)")
        ax.legend(frameon=False, fontsize=7)
        return save_figure(fig, path)


def plot_cn_profile(cn, path, planes=None) -> Path:
    """Mean CN by anion vs z and the number of ions with CN < 6 / = 6 (paper's classes)."""
    with plt.rc_context({**STYLE, "figure.figsize": (3.4, 4.0)}):
        fig, (a1, a2) = plt.subplots(2, 1, sharex=True)
        for name, v in cn.cn_by_anion.items():
            a1.plot(cn.z_A, v, label=f"CN({name})")
        a1.plot(cn.z_A, cn.cn_total, "k-", label="total")
        a1.set_ylabel(f"CN (< {cn.cutoff_A:g} Å)")
        a1.legend(frameon=False, fontsize=7)
        w = cn.z_A[1] - cn.z_A[0] if len(cn.z_A) > 1 else 1.0
        a2.bar(cn.z_A, cn.classes["lt6"], width=w, label="CN < 6")
        a2.bar(cn.z_A, cn.classes["eq6"], width=w, bottom=cn.classes["lt6"], label="CN = 6")
        a2.set_xlabel("z (Å)")
        a2.set_ylabel("ions per bin")
        a2.legend(frameon=False, fontsize=7)
        for p in planes if planes is not None else []:
            for a in (a1, a2):
                a.axvline(p, color="0.5", ls=":", lw=0.8)
        return save_figure(fig, path)


def plot_density_map(density, path, species: str = "Li") -> Path:
    """Heat map of number density (Å⁻³) along z (x axis) versus time (y axis)."""
    with plt.rc_context({**STYLE, "figure.figsize": (3.6, 2.8)}):
        fig, ax = plt.subplots()
        extent = [density.z_A[0], density.z_A[-1], density.times_ps[0], density.times_ps[-1]]
        im = ax.imshow(density.density, aspect="auto", origin="lower", extent=extent, cmap="viridis")
        fig.colorbar(im, ax=ax, label=f"{species} density (Å⁻³)")
        ax.set_xlabel("z (Å)")
        ax.set_ylabel("time (ps)")
        return save_figure(fig, path)


def plot_hops(hops, path, planes=None) -> Path:
    """Hop events per frame pair along z (left) and the histogram of pair displacements (right)."""
    with plt.rc_context({**STYLE, "figure.figsize": (6.4, 2.6)}):
        fig, (ax, ah) = plt.subplots(1, 2, gridspec_kw={"width_ratios": [2, 1]})
        w = hops.z_A[1] - hops.z_A[0] if len(hops.z_A) > 1 else 1.0
        ax.bar(hops.z_A, hops.hops, width=w, color="C3")
        ax.set_xlabel("z (Å)")
        ax.set_ylabel(f"hops (> {hops.threshold_A:g} Å per {hops.lag_ps:g} ps)")
        for p in planes if planes is not None else []:
            ax.axvline(p, color="0.5", ls=":", lw=0.8)
        if len(hops.displacements_A):
            ah.hist(hops.displacements_A, bins=50, color="0.5")
            ah.set_yscale("log")
        ah.axvline(hops.threshold_A, color="C3", lw=0.8)
        ah.set_xlabel(f"|Δr| over {hops.lag_ps:g} ps (Å)")
        ah.set_ylabel("ion-pairs")
        fig.tight_layout()
        return save_figure(fig, path)


def plot_displacement(disp, path) -> Path:
    """Net displacement R_z vs R_xy (Å) per ion, coloured by class."""
    with plt.rc_context(STYLE):
        fig, ax = plt.subplots()
        for k, name in enumerate(("immobile", "z", "xy", "mixed-z", "mixed-xy")):
            sel = disp.label == name
            ax.scatter(disp.R_xy[sel], disp.R_z[sel], s=4, color=f"C{k}", label=f"{name} ({sel.sum()})")
        thr = disp.threshold_A
        ax.axvline(thr, color="0.6", lw=0.6)
        ax.axhline(thr, color="0.6", lw=0.6)
        ax.set_xlabel("R_xy (Å)")
        ax.set_ylabel("R_z (Å)")
        ax.set_title(f"net displacement after {disp.t0_ps:g} ps", fontsize=8)
        ax.legend(frameon=False, fontsize=6)
        return save_figure(fig, path)


def plot_csm_volume(polys, path) -> Path:
    """Hexbin maps of CSM (0–100) vs convex-hull volume (Å³): interface region and bulk side by side."""
    with plt.rc_context({**STYLE, "figure.figsize": (6.4, 2.6)}):
        fig, axes = plt.subplots(1, 2, sharex=True, sharey=True)
        for ax, region in zip(axes, ("interface", "bulk")):
            v = np.array([p.volume_A3 for p in polys if p.region == region and np.isfinite(p.csm)])
            c = np.array([p.csm for p in polys if p.region == region and np.isfinite(p.csm)])
            if len(v):
                hb = ax.hexbin(v, c, gridsize=25, mincnt=1, cmap="magma_r")
                fig.colorbar(hb, ax=ax, label="polyhedra", pad=0.02)
            ax.set_title(f"{region} ({len(v)})", fontsize=8)
            ax.set_xlabel("polyhedron volume (Å³)")
        axes[0].set_ylabel("CSM")
        return save_figure(fig, path)


def plot_collective(lag_ps, tracer_A2, lag_c_ps, collective_per_ion_A2, info: dict | None, path) -> Path:
    """Tracer MSD and the collective (charge-displacement) MSD divided by N, Å², vs lag, ps (equal for
    uncorrelated ions; their slope ratio is the inverse Haven ratio)."""
    info = info or {}
    with plt.rc_context(STYLE):
        fig, ax = plt.subplots()
        ax.plot(lag_ps, tracer_A2, label="tracer MSD")
        ax.plot(lag_c_ps, collective_per_ion_A2, label="collective MSD / N")
        h, he = info.get("haven_ratio"), info.get("haven_ratio_err")
        if h is not None:
            ax.set_title(f"Haven ratio {h:.2f}" + (f" ± {he:.2f}" if he is not None else ""), fontsize=8)
        ax.set_xlabel("lag time (ps)")
        ax.set_ylabel("MSD (Å²)")
        ax.legend(frameon=False, fontsize=7)
        return save_figure(fig, path)


def plot_region_transport(regions: dict, path) -> Path:
    """D (cm²/s, left) and Nernst–Einstein sigma (mS/cm, right) per region with 1-sigma error bars;
    flagged regions (no numbers) are left empty and named in grey."""
    names = list(regions)
    x = np.arange(len(names))

    def col(key):
        return np.array([np.nan if regions[n].get(key) is None else regions[n][key] for n in names], float)

    with plt.rc_context({**STYLE, "figure.figsize": (6.4, 2.8)}):
        fig, (a1, a2) = plt.subplots(1, 2)
        a1.bar(x, col("D_cm2_s"), yerr=col("D_err_cm2_s"), color="C0", capsize=2)
        a2.bar(x, col("sigma_mS_cm"), yerr=col("sigma_err_mS_cm"), color="C1", capsize=2)
        a1.set_ylabel("D (cm²/s)")
        a2.set_ylabel("sigma (mS/cm)")
        for ax in (a1, a2):
            ax.set_xticks(x)
            ax.set_xticklabels(names, rotation=35, ha="right", fontsize=6)
            for t, n in zip(ax.get_xticklabels(), names):
                if regions[n].get("flags") and regions[n].get("D_cm2_s") is None:
                    t.set_color("0.6")
        fig.tight_layout()
        return save_figure(fig, path)


def save_all(results, out_dir) -> dict[str, str]:
    """All figures of an :class:`~interforge.analysis.pipeline.AnalysisResults` into out_dir (PNG)."""
    out = Path(out_dir)
    planes = results.interfaces.planes_A if results.interfaces is not None else None
    sp = results.species
    figs = {"msd": plot_msd(results.diffusion[sp], out / "msd.png"),
            "density": plot_density_map(results.density, out / "density_z_t.png", sp),
            "hops": plot_hops(results.hops, out / "hops_z.png", planes),
            "displacement": plot_displacement(results.displacement, out / "displacement.png")}
    if results.rdfs:
        figs["rdf"] = plot_rdf(results.rdfs, out / "rdf.png")
    if results.cn is not None:
        figs["cn_profile"] = plot_cn_profile(results.cn, out / "cn_z.png", planes)
    if results.polyhedra:
        figs["csm_volume"] = plot_csm_volume(results.polyhedra, out / "csm_volume.png")
    if results.collective is not None:
        m = results.diffusion[sp].msd
        c = results.collective
        figs["collective"] = plot_collective(m.lag_ps, m.total, c.lag_ps, c.msd_collective_A2,
                                             {"haven_ratio": c.haven_ratio, "haven_ratio_err": c.haven_ratio_err},
                                             out / "collective.png")
    if results.regions and any(r.D_cm2_s is not None for r in results.regions.values()):
        figs["regions"] = plot_region_transport({k: v.as_dict() for k, v in results.regions.items()},
                                                out / "regions.png")
    return {k: str(v) for k, v in figs.items()}
