"""``interforge report DIR``: one self-contained HTML page for any run folder."""

from __future__ import annotations

import json
import logging
from pathlib import Path

from interforge.errors import InterforgeError

log = logging.getLogger(__name__)


def register(sub, parents):
    p = sub.add_parser("report", parents=parents, help="one self-contained HTML page for a run folder",
                       description="Write one HTML page (figures embedded, settings and versions recorded) for a run "
                                   "folder: an `analyze` output, a set of them (Arrhenius fit), an `arrhenius --json` "
                                   "result, a `learn` workdir (iterations, committee deviation, validation gates) or a "
                                   "teacher-calibration folder. Folders that hold several of these get every part.")
    p.add_argument("folder", metavar="DIR", help="the run folder")
    p.add_argument("--out", metavar="HTML", help="where to write the page (default: DIR/report.html)")
    p.add_argument("--title", help="page title (default: from the folder's kind and name)")
    p.set_defaults(func=run)


def _read_json(path: Path, skipped: list[str] | None = None):
    """The JSON in ``path``, or None when it is not a regular file (a FIFO or /dev/zero would block or never
    end) or not readable UTF-8 JSON; such files are listed in ``skipped`` (else logged)."""
    try:
        if not path.is_file():
            raise OSError(f"{path} is not a regular file")
        return json.loads(path.read_bytes().decode("utf-8"))
    except (OSError, ValueError) as err:  # ValueError: JSONDecodeError, UnicodeDecodeError
        reason = f"{path}: {type(err).__name__}: {' '.join(str(err).split())[:120]}"
        if skipped is None:
            log.warning("skipping %s", reason)
        else:
            skipped.append(reason)
        return None


def _is_analysis(d) -> bool:
    return isinstance(d, dict) and "diffusion" in d and "species" in d


def _arrhenius_on_the_fly(results: list[tuple[str, dict]], cfg) -> dict | None:
    """Fit the set of `analyze` results like `interforge arrhenius` does (temperature range from the config)."""
    from interforge.analysis.diffusion import arrhenius_fit
    from interforge.report.figures import plot_arrhenius
    from interforge.report.sections import rendered

    s = cfg.analysis
    pts, excluded = [], []
    for name, r in results:
        sp = r.get("species", s.species)
        d, t = (r.get("diffusion") or {}).get(sp) or {}, r.get("temperature_K")
        if not t or not d.get("D_cm2_s") or d["D_cm2_s"] <= 0:
            continue
        if not s.arrhenius_T_min - 1e-9 <= t <= s.arrhenius_T_max + 1e-9:
            excluded.append({"file": name, "T_K": t})
            continue
        cond = r.get("conductivity") or {}
        n = (cond.get("composite") or cond).get("n_per_A3")
        pts.append((t, d["D_cm2_s"], d.get("D_err_cm2_s") or float("nan"), n))
    if len(pts) < 2:
        return None
    fit = arrhenius_fit([p[0] for p in pts], [p[1] for p in pts], [p[2] for p in pts])
    rt = fit.conductivity_at(300.0, sum(p[3] for p in pts) / len(pts), s.charge, s.arrhenius_min_significance)
    return {"Ea_eV": fit.Ea_eV, "Ea_err_eV": fit.Ea_err_eV, "chi2_red": fit.chi2_red, "T_K": [p[0] for p in pts],
            "D_cm2_s": [p[1] for p in pts], "D_err_cm2_s": [p[2] for p in pts], "T_extrapolated_K": 300.0,
            "Ea_resolved": rt.resolved, **({} if rt.resolved else {"note": rt.note}),
            "D_extrapolated_cm2_s": rt.D_cm2_s, "sigma_mS_cm": rt.sigma_mS_cm,
            "sigma_range_mS_cm": (rt.sigma_low_mS_cm, rt.sigma_high_mS_cm),
            "sigma_estimator": "Nernst–Einstein with the extrapolated tracer D (Haven ratio 1); fitted by "
                               "`interforge report` over the analyze results below",
            "excluded": excluded, "figure_png": rendered(plot_arrhenius, fit)}


def build_sections(folder: Path, cfg) -> tuple[list, list[str], dict]:
    """(sections, kinds found, settings of the first analysis) for a run folder."""
    from interforge.report.html import Figure
    from interforge.report.sections import (
        analysis_sections,
        arrhenius_section,
        gates_section,
        learning_sections,
    )

    sections, kinds, settings = [], [], {}
    skipped: list[str] = []  # unreadable JSON files: named in the error when nothing else is left, else warned
    # a learn workdir (or a demo folder): the loop, then its validation gates
    learn = learning_sections(folder)
    for vpath in (folder / "validation.json", folder / "validation" / "validation.json"):
        if vpath.is_file():
            val = _read_json(vpath, skipped)
            if isinstance(val, dict) and "gates" in val:
                sections.append(gates_section(val, refused_word="production MD would be refused", passed_word="",
                                             folder=vpath.parent))
                kinds.append("validation")
                break
    if learn:
        sections += learn
        kinds.append("learn")
    # analyze outputs: this folder's results.json and those of its sub-folders (an Arrhenius set)
    analyses = []
    top = folder / "results.json"
    candidates = ([top] if top.is_file() else []) + sorted(folder.glob("*/results.json")) + sorted(
        folder.glob("*/*/results.json"))
    from interforge.cli.checks import analysis_result_problem

    for p in candidates:
        r = _read_json(p, skipped)
        if _is_analysis(r):
            problem = analysis_result_problem(r, for_fit=False)
            if problem:  # strings or NaN where numbers belong: a traceback in the figures and tables
                skipped.append(f"{p}: {problem}")
                continue
            analyses.append((p.parent, r))
    # arrhenius --json results lying in the folder
    for p in sorted(folder.glob("*.json")):
        r = _read_json(p, skipped) if p.name != "results.json" else None
        if isinstance(r, dict) and "Ea_eV" in r and "T_K" in r:
            sections.append(arrhenius_section(r, folder, f"Arrhenius fit ({p.name})"))
            kinds.append("arrhenius")
    if len(analyses) >= 2:
        fit = _arrhenius_on_the_fly([(str(p.relative_to(folder)), r) for p, r in analyses], cfg)
        if fit is not None:
            sec = arrhenius_section(fit, None, "Arrhenius fit of the analysed runs")
            sec.figures.append(Figure(fit.pop("figure_png"), "Arrhenius plot"))
            sections.append(sec)
            kinds.append("arrhenius")
    for p, r in analyses:
        name = "" if p == folder else str(p.relative_to(folder))
        sections += analysis_sections(r, p, name)
        settings = settings or r.get("settings") or {}
    if analyses:
        kinds.append("analyze")
    # a teacher calibration folder
    for p in sorted(folder.glob("calibration*.json")):
        cal = _read_json(p, skipped)
        if isinstance(cal, dict):
            from interforge.report.html import Section
            from interforge.report.sections import figure_if_file

            scalars = [{"item": k, "value": v} for k, v in cal.items() if not isinstance(v, (dict, list))]
            tables = [("summary", scalars)] + [(k, v) for k, v in cal.items()
                                                if isinstance(v, list) and v and all(isinstance(x, dict) for x in v)]
            figs = []
            for png in sorted(folder.glob("*.png")):
                figs += figure_if_file(png, png.stem.replace("_", " "))
            sections.append(Section(f"Teacher calibration ({p.name})", tables=tables, figures=figs))
            kinds.append("teacher-calibration")
    if skipped and not sections:
        raise InterforgeError(f"{folder} holds nothing to report; unreadable: {'; '.join(skipped[:3])}")
    for reason in skipped:
        log.warning("skipping %s", reason)
    return sections, kinds, settings


def run(args):
    from interforge.cli.common import config_of
    from interforge.report.html import write_report
    from interforge.report.sections import settings_section

    folder = Path(args.folder)
    if not folder.is_dir():
        raise InterforgeError(f"run folder {folder} not found")
    cfg = config_of(args)
    sections, kinds, settings = build_sections(folder, cfg)
    if not sections:
        raise InterforgeError(f"{folder} holds nothing to report: no results.json of `analyze`, no `arrhenius` "
                              "result, no learn summary.json, no validation.json, no calibration*.json")
    sections.append(settings_section(settings, {"folder": str(folder.resolve()), "kinds": ", ".join(kinds)},
                                     title="Settings and versions"))
    out = Path(args.out) if args.out else folder / "report.html"
    title = args.title or f"interforge report: {folder.resolve().name} ({', '.join(dict.fromkeys(kinds))})"
    path = write_report(out, title, sections, {"run folder": str(folder.resolve())})
    html = path.read_text()
    n_fig = html.count("src='data:image/png;base64,")
    print(f"wrote {path} ({len(sections)} sections, {n_fig} figures; {', '.join(dict.fromkeys(kinds))})")
    return {"report": str(path.resolve()), "kinds": list(dict.fromkeys(kinds)), "n_sections": len(sections),
            "n_figures": n_fig}
