"""Report sections shared by ``interforge report`` and the demo's report: each takes what a run folder holds
(results files, figures) and returns :class:`~interforge.report.html.Section` objects."""

from __future__ import annotations

import json
import logging
from pathlib import Path
from typing import Any

from interforge.errors import InterforgeError
from interforge.report.html import Figure, Section

log = logging.getLogger(__name__)


def _num(x: Any, fmt: str = ".3g") -> str:
    return "n/a" if x is None else format(x, fmt)


def pm(x, err, digits: int = 3) -> str:
    """'x ± err' with x to ``digits`` significant digits ('n/a' when x is None)."""
    if x is None:
        return "n/a"
    return f"{x:.{digits}g} ± {err:.2g}" if err is not None else f"{x:.{digits}g}"


def figure_if_file(path, caption: str, folder: Path | None = None) -> list[Figure]:
    """[Figure] when ``path`` (or a file of that name inside ``folder``, for moved run folders) exists."""
    if not path:
        return []
    p = Path(path)
    if not p.is_file() and folder is not None:
        p = Path(folder) / p.name
    return [Figure(p, caption)] if p.is_file() else []


def rendered(plot, *args) -> bytes:
    """PNG bytes of a ``plot_*(..., path)`` figure function, drawn in a scratch folder (a report never
    writes into the run folder it describes)."""
    import tempfile

    with tempfile.TemporaryDirectory() as tmp:
        return Path(plot(*args, Path(tmp) / "figure.png")).read_bytes()


def region_rows(regions: dict, run: str | None = None) -> list[dict]:
    """Table rows of per-region transport (``results.json`` key ``regions``)."""
    rows = []
    for name, r in regions.items():
        row = {"run": run} if run else {}
        row.update({"region": name, "thickness (Å)": _num(r.get("thickness_A"), ".1f"),
                    "Li per frame": _num(r.get("ions"), ".1f"), "n (Å⁻³)": _num(r.get("n_per_A3"), ".4f"),
                    "D (cm²/s)": pm(r.get("D_cm2_s"), r.get("D_err_cm2_s")),
                    "D_xy (cm²/s)": pm(r.get("D_xy_cm2_s"), r.get("D_xy_err_cm2_s")),
                    "sigma (mS/cm)": pm(r.get("sigma_mS_cm"), r.get("sigma_err_mS_cm")),
                    "hops per Li per ns": _num(r.get("hop_rate_per_ion_ns")),
                    "flags": "; ".join(r.get("flags") or []) or "—"})
        rows.append(row)
    return rows


def gates_section(val: dict, forced: list[str] | None = None, refused_word: str = "production MD was refused",
                  passed_word: str = "; production MD used it", folder: Path | None = None) -> Section:
    """The validation gates (``validation.json``); a model that failed one says so first. ``folder``: where
    to look for the figures when the recorded paths no longer exist (a moved run folder)."""
    forced = forced or []
    if val.get("passed"):
        head = f"The final NEP passed every validation gate against its teacher{passed_word}."
    elif forced:
        head = (f"WARNING: the final NEP FAILED validation gate(s) {', '.join(forced)}; production MD was forced past "
                "them, so every transport number below comes from a model that does not hold.")
    else:
        head = f"The NEP FAILED validation gate(s) {', '.join(val.get('failed', []))}; {refused_word}."
    rows = [{"gate": k, "value": g["value"], "threshold": g["threshold"], "passed": g["passed"],
             "also": g.get("note", "")} for k, g in val.get("gates", {}).items()]
    dis = val.get("dispersion")
    notes = [head, "Each gate compares the NEP with its teacher on data it was not trained on: force parity on "
             "frames of independent teacher MD, the teacher's pressure on frames of the NEP's own NPT at each gate "
             "temperature, the NEP's NPT volume against the teacher's estimate at the same temperature, anion-sublattice order, relaxed phase energies and a Li-hop NEB barrier.",
             f"Run-time dispersion: {'D3(BJ) ' + str(dis) if dis else 'none'}."]
    figs = [f for p in val.get("figures", []) for f in figure_if_file(p, Path(p).stem.replace("_", " "), folder)]
    return Section("Validation gates", paragraphs=notes, tables=[("gates", rows)], figures=figs)


def settings_section(settings: dict | None, extra: dict | None = None, title: str = "Settings and versions",
                     preformatted: str = "") -> Section:
    """Analysis (or other) settings as a table, and the package versions of this report."""
    from interforge.report.html import package_versions

    tables = []
    if extra:
        tables.append(("run", [{"item": k, "value": v} for k, v in extra.items()]))
    if settings:
        tables.append(("settings used", [{"setting": k, "value": json.dumps(v) if isinstance(v, (list, dict)) else v}
                                         for k, v in settings.items()]))
    tables.append(("versions (this report)", [package_versions()]))
    return Section(title, tables=tables, preformatted=preformatted)


def analysis_sections(res: dict, folder: Path, name: str = "") -> list[Section]:
    """Sections of one ``interforge analyze`` results file (``res``, read from ``folder/results.json``)."""
    from interforge.report.figures import plot_collective, plot_region_transport

    label = f" ({name})" if name else ""
    sp = res.get("species", "Li")
    figs_json = res.get("figures") or {}
    d = (res.get("diffusion") or {}).get(sp, {})
    cond = res.get("conductivity") or {}
    comp = cond.get("composite") or {k: cond.get(k) for k in ("sigma_mS_cm", "sigma_err_mS_cm", "n_per_A3")}
    coll = cond.get("collective") or {}
    T = res.get("temperature_K")
    transport = [{"quantity": f"tracer D({sp}), 3-D (cm²/s)", "value": pm(d.get("D_cm2_s"), d.get("D_err_cm2_s"))},
                 {"quantity": "D_xy / D_z (cm²/s)", "value": f"{pm(d.get('D_xy_cm2_s'), d.get('D_xy_err_cm2_s'))} / "
                                                          f"{pm(d.get('D_z_cm2_s'), d.get('D_z_err_cm2_s'))}"},
                 {"quantity": "Einstein fit window (ps)", "value": f"{_num(d.get('fit_start_ps'), 'g')}–"
                                                                  f"{_num(d.get('fit_end_ps'), 'g')}"},
                 {"quantity": "composite sigma (mS/cm): tracer D, whole cell, H_R = 1",
                  "value": pm(comp.get("sigma_mS_cm"), comp.get("sigma_err_mS_cm"))},
                 {"quantity": "collective sigma (mS/cm): charge-displacement MSD",
                  "value": pm(coll.get("sigma_mS_cm"), coll.get("sigma_err_mS_cm"))},
                 {"quantity": "Haven ratio (measured)", "value": pm(coll.get("haven_ratio"), coll.get("haven_ratio_err"), 2)},
                 {"quantity": f"hops per {sp} per ns", "value": _num((res.get("hops") or {}).get("rate_per_ion_ns"))}]
    figs = []
    for key, cap in (("msd", f"{sp} MSD with the Einstein fit"), ("rdf", "RDF and running CN"),
                     ("cn_profile", f"{sp} coordination along z"), ("density", f"{sp} density along z vs time"),
                     ("hops", f"{sp} hops along z"), ("displacement", "net-displacement classes"),
                     ("csm_volume", "CSM vs polyhedron volume, interface vs bulk")):
        figs += figure_if_file(figs_json.get(key), cap, folder)
    cm = res.get("collective_msd")
    msd = (res.get("msd") or {}).get(sp)
    coll_fig = figure_if_file(figs_json.get("collective"), "Tracer MSD and collective (charge) MSD per ion", folder)
    if not coll_fig and cm and msd:
        coll_fig = [Figure(rendered(plot_collective, msd["lag_ps"], msd["total_A2"], cm["lag_ps"],
                                    cm["collective_per_ion_A2"], coll), "Tracer MSD and collective (charge) MSD per ion")]
    figs += coll_fig
    paragraphs = [f"{res.get('n_frames')} frames every {_num(res.get('dt_ps'), 'g')} ps at "
                  f"{_num(T, 'g')} K; first {_num(res.get('equilibration_ps') or 0.0, 'g')} ps discarded as "
                  "equilibration. Trajectory: " + str(res.get("trajectory", "n/a")) + "."]
    sections = [Section(f"Transport{label}", paragraphs=paragraphs, tables=[("transport", transport)], figures=figs)]
    regions = res.get("regions") or {}
    if regions:
        itf = res.get("interfaces") or {}
        rfigs = figure_if_file(figs_json.get("regions"), "D and sigma by region", folder)
        if not rfigs and any(r.get("D_cm2_s") is not None for r in regions.values()):
            rfigs = [Figure(rendered(plot_region_transport, regions), "D and sigma by region")]
        blocks = itf.get("blocks") or []
        sections.append(Section(f"Regions along the interface normal{label}", paragraphs=[
            f"Interface planes (last block) at z = {', '.join(f'{z:.2f}' for z in itf.get('planes_A') or [])} Å, "
            f"tracked in {len(blocks)} block(s). D from the MSD of ions while they stay in the region; n from the "
            "region's own volume; sigma by Nernst–Einstein (tracer, H_R = 1). Flagged regions get no numbers."],
            tables=[("transport by region", region_rows(regions))], figures=rfigs))
    return sections


def arrhenius_section(fit: dict, folder: Path | None = None, title: str = "Arrhenius fit") -> Section:
    """One ``interforge arrhenius`` result (its ``--json``)."""
    rows = [{"T (K)": t, "D (cm²/s)": pm(d, e)} for t, d, e in zip(fit.get("T_K", []), fit.get("D_cm2_s", []),
                                                                   fit.get("D_err_cm2_s", []))]
    summary = [{"Ea (eV)": pm(fit.get("Ea_eV"), fit.get("Ea_err_eV")), "chi2_red": fit.get("chi2_red"),
                f"D({_num(fit.get('T_extrapolated_K'), 'g')} K) (cm²/s)": _num(fit.get("D_extrapolated_cm2_s")),
                "sigma (mS/cm)": _num(fit.get("sigma_mS_cm")),
                "sigma 1σ range": "–".join(_num(x, ".2g") for x in fit.get("sigma_range_mS_cm") or [])}]
    notes = [fit["note"]] if fit.get("note") else []
    if fit.get("excluded"):
        notes.append("Left out (outside arrhenius_T_min/max): " + ", ".join(
            f"{e['file']} ({e['T_K']:g} K)" for e in fit["excluded"]))
    return Section(title, paragraphs=[fit.get("sigma_estimator", "")], notes=notes,
                   tables=[("fit", summary), ("points", rows)],
                   figures=figure_if_file(fit.get("figure"), "Arrhenius plot", folder))


def learning_sections(workdir: Path) -> list[Section]:
    """The query-by-committee loop of a ``learn`` workdir: iterations, committee deviation, loss curves."""
    workdir = Path(workdir)
    sections = []
    summ = workdir / "summary.json"
    if summ.is_file():
        try:
            s = json.loads(summ.read_bytes().decode("utf-8"))
        except (OSError, ValueError) as err:  # JSONDecodeError, UnicodeDecodeError: not a learn summary
            raise InterforgeError(f"{summ} is not a readable learn summary ({type(err).__name__})") from None
        if not isinstance(s, dict) or not isinstance(s.get("iterations", []), list):
            raise InterforgeError(f"{summ} is not a learn summary (a JSON object with a list of iterations)")
        its = [it for it in s.get("iterations", []) if isinstance(it, dict)]
        figs = figure_if_file(workdir / "summary.png", "Hold-out force RMSE and data across iterations")
        devs = sorted(workdir.glob("iterations/*/deviations.png"))
        for p in devs:
            figs += figure_if_file(p, f"Committee force deviation, iteration {p.parent.name}")
        committees = sorted(workdir.glob("iterations/*/committee")) + sorted(workdir.glob("final/committee"))
        if committees:
            figs += figure_if_file(committees[-1] / "loss_curves.png", "Loss curves of the last committee")
        sections.append(Section("Active learning", paragraphs=[
            f"{sum(not it.get('final') for it in its)} query-by-committee iteration(s), "
            f"{'converged' if s.get('converged') else 'not converged'}."],
            tables=[("iterations", its)], figures=figs))
    return sections
