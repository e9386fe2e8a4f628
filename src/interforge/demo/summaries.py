"""Analysis of the demo's production runs: per-run transport and structure, Arrhenius fits per phase,
room-temperature conductivity, and the interface-versus-bulk summary."""

from __future__ import annotations

import logging
from pathlib import Path

import numpy as np
from ase.data import chemical_symbols

from interforge.config import InterforgeConfig
from interforge.errors import InterforgeError
from interforge.fileio import atomic_write_json
from interforge.md.guards import GUARD_MARGIN

log = logging.getLogger(__name__)


def _f(x):
    return float(x) if x is not None and np.isfinite(x) else None


MIN_FRAMES = 20


def usable_part(traj, stopped_by: str | None):
    """The trajectory, or for a guard-stopped run its first (1 - GUARD_MARGIN) share (None if too short)."""
    from interforge.analysis.readers import Trajectory

    if stopped_by is None:
        return traj
    k = int(traj.n_frames * (1 - GUARD_MARGIN))
    if k < MIN_FRAMES:
        return None
    return Trajectory(traj.numbers, traj.positions[:k], traj.cells[:k], traj.times_ps[:k], traj.path)


def solid_state(traj, cfg: InterforgeConfig) -> dict:
    """Whether a run kept its anion sublattice ordered and its volume steady (the validation's solid gate
    applied to a production run)."""
    from interforge.analysis.solid import sublattice_order

    v = cfg.validation
    idx = [i for i, z in enumerate(traj.numbers) if chemical_symbols[z] == v.solid_species]
    if not idx or traj.n_frames < 4:
        return {"solid": True, "lindemann": None, "volume_drift": None}
    order = sublattice_order(traj.positions[:, idx], traj.cells)
    ok = order.lindemann < v.lindemann_max and abs(order.volume_drift) <= v.density_drift_max
    return {"solid": bool(ok), "lindemann": float(order.lindemann), "volume_drift": float(order.volume_drift)}


def teacher_volumes(validation: dict | None) -> dict[str, dict[float, float]]:
    """phase → {T (K): the teacher's volume there (Å³/atom)}, read from the density gate of a validation record
    (``ValidationRecord.to_dict()``); empty without one."""
    details = (validation or {}).get("details") or {}
    rows = (details.get("density") or {}).get("detail") or {}
    out: dict[str, dict[float, float]] = {}
    for key, row in rows.items():
        phase, _, t = key.rpartition("@")
        v = row.get("teacher_volume_A3_atom") if isinstance(row, dict) else None
        if phase and t.endswith("K") and v is not None and np.isfinite(v):
            out.setdefault(phase, {})[float(t[:-1])] = float(v)
    return out


def volume_state(traj, equilibration_ps: float, reference: dict[float, float] | None, T: float,
                 max_deviation: float) -> dict:
    """A production run's mean volume (Å³/atom, after ``equilibration_ps``) against the teacher's at ``T`` K
    (``reference``: T → Å³/atom from the validation, interpolated linearly between its temperatures; none
    outside them). ``volume_holds`` is None without a reference, else whether |V / V_teacher - 1| is within
    ``max_deviation``, the density gate's limit: a run outside it measured transport at a density the gate
    never vouched for."""
    keep = traj.times_ps >= traj.times_ps[0] + equilibration_ps
    cells = traj.cells[keep] if keep.sum() >= 2 else traj.cells
    v = float(np.abs(np.linalg.det(cells)).mean()) / len(traj.numbers)
    out = {"volume_A3_atom": v, "teacher_volume_A3_atom": None, "volume_vs_teacher": None, "volume_holds": None}
    if reference:
        ts = sorted(reference)
        if ts[0] - 1e-6 <= T <= ts[-1] + 1e-6:
            ref = float(np.interp(T, ts, [reference[t] for t in ts]))
            dev = v / ref - 1.0
            out.update(teacher_volume_A3_atom=ref, volume_vs_teacher=dev, volume_holds=bool(abs(dev) <= max_deviation))
    return out


def room_temperature(fit, n_per_A3: float, s) -> dict:
    """The fit's extrapolation to 300 K (D, Nernst-Einstein sigma in mS/cm with its 1σ range) when it resolves
    Ea, i.e. Ea exceeds ``s.arrhenius_min_significance`` standard errors; otherwise None values and a note
    saying why: a slope indistinguishable from zero (or negative) extrapolates to any conductivity at all."""
    rt = fit.conductivity_at(300.0, n_per_A3, s.charge, s.arrhenius_min_significance)
    out = {"resolved": rt.resolved, "D300_cm2_s": rt.D_cm2_s, "sigma_RT_mS_cm": rt.sigma_mS_cm,
           "sigma_RT_low_mS_cm": rt.sigma_low_mS_cm, "sigma_RT_high_mS_cm": rt.sigma_high_mS_cm}
    return out if rt.resolved else {**out, "note": rt.note}


def _skip_reason(row: dict, T: float, cfg: InterforgeConfig) -> str | None:
    """Why a bulk run at ``T`` K stays out of the Arrhenius fit (not a solid, or a mean volume past the density
    gate's limit from the teacher's), or None when it goes in."""
    v = cfg.validation
    if not row["solid"]:
        return (f"not a solid: {v.solid_species} Lindemann index {row['lindemann']:.3f} (limit {v.lindemann_max:g}), "
                f"volume drift {row['volume_drift']:+.1%}; left out of the Arrhenius fit")
    if row["volume_holds"] is False:
        return (f"mean volume {row['volume_A3_atom']:.2f} Å³/atom, {row['volume_vs_teacher']:+.1%} from the teacher's "
                f"{row['teacher_volume_A3_atom']:.2f} at {T:g} K (the density gate's limit {v.density_max_deviation:.0%}): "
                "transport at a density the gates did not vouch for; left out of the Arrhenius fit")
    return None


def analyse_runs(runs: list[dict], cfg: InterforgeConfig, out_dir: Path,
                 validation: dict | None = None) -> dict:
    """Analyse every finished run; fit Arrhenius per bulk phase; summarise interfaces by region. With the model's
    ``validation`` record, each bulk run's mean volume is compared with the teacher's at its temperature and a
    run outside the density gate's limit stays out of the Arrhenius fit."""
    from interforge.analysis.diffusion import arrhenius_fit
    from interforge.analysis.pipeline import analyze
    from interforge.analysis.readers import load_trajectory
    from interforge.analysis.regions import region_summary
    from interforge.report.figures import plot_arrhenius, save_all

    s = cfg.analysis
    per_run, by_phase, interface = [], {}, []
    reference = teacher_volumes(validation)
    for r in runs:
        if not r.get("trajectory_path"):
            per_run.append({"name": r["name"], "skipped": f"run failed: {r.get('error')}"})
            continue
        traj = usable_part(load_trajectory(r["trajectory_path"]), r.get("stopped_by"))
        if traj is None or traj.n_frames < 4:
            per_run.append({"name": r["name"], "kind": r["kind"], "T_K": r["T"], "stopped_by": r.get("stopped_by"),
                            "skipped": f"too few frames before the {r.get('stopped_by')} guard stopped the run"})
            continue
        try:
            res = analyze(traj, s, temperature_K=r["T"], equilibration_ps=cfg.production.equilibration_ps)
        except InterforgeError as err:
            per_run.append({"name": r["name"], "kind": r["kind"], "T_K": r["T"], "stopped_by": r.get("stopped_by"),
                            "skipped": f"not analysed: {err}"})
            continue
        folder = out_dir / r["name"]
        figs = save_all(res, folder)
        atomic_write_json(folder / "results.json", res.to_json())
        d = res.diffusion[s.species].total
        comp = res.conductivity["composite"]
        coll = res.collective
        row = {"name": r["name"], "kind": r["kind"], "phase": r["phase"], "T_K": r["T"], "stopped_by": r.get("stopped_by"),
               "D_cm2_s": _f(d.D_cm2_s), "D_err_cm2_s": _f(d.D_err_cm2_s), "n_per_A3": comp["n_per_A3"],
               "sigma_mS_cm": _f(comp["sigma_mS_cm"]),
               "sigma_collective_mS_cm": _f(coll.sigma_mS_cm) if coll is not None else None,
               "sigma_collective_err_mS_cm": _f(coll.sigma_err_mS_cm) if coll is not None else None,
               "haven_ratio": _f(coll.haven_ratio) if coll is not None else None,
               "haven_ratio_err": _f(coll.haven_ratio_err) if coll is not None else None,
               "hops_per_ion_ns": _f(res.hops.rate_per_ion_ns), "figures": figs, "n_frames": res.n_frames,
               "results": str(folder / "results.json"), "equilibration_ps": res.equilibration_ps,
               "analysed_ps": float(traj.times_ps[-1] - traj.times_ps[0]) - res.equilibration_ps}
        row.update(solid_state(traj, cfg))
        if r["kind"] == "bulk":
            row.update(volume_state(traj, res.equilibration_ps, reference.get(r["phase"]), r["T"],
                                    cfg.validation.density_max_deviation))
        per_run.append(row)
        if r["kind"] == "bulk":
            by_phase.setdefault(r["phase"], [])
            if (reason := _skip_reason(row, r["T"], cfg)) is not None:
                row["skipped"] = reason
            else:
                by_phase[r["phase"]].append(row)
        if r["kind"] == "interface" and res.cn is not None and res.interfaces is not None and len(res.interfaces.planes_A):
            regions = region_summary(res.cn, res.hops, res.interfaces.planes_A, res.interfaces.cell_z_A, s.interface_width_A)
            interface.append({"name": r["name"], "T_K": r["T"], "planes_A": list(map(float, res.interfaces.planes_A)),
                              "regions": [{k: (_f(v) if isinstance(v, float) else v) for k, v in g.as_dict().items()}
                                          for g in regions],
                              "transport_by_region": {k: {q: (_f(x) if isinstance(x, float) else x)
                                                          for q, x in v.as_dict().items()}
                                                      for k, v in res.regions.items()},
                              "D_by_region": {k: _f(v.D_cm2_s) for k, v in res.regions.items()}})

    arrhenius = {}
    t_lo, t_hi = s.arrhenius_T_min, s.arrhenius_T_max
    for phase, rows in by_phase.items():
        for r in rows:
            if not t_lo - 1e-9 <= r["T_K"] <= t_hi + 1e-9:
                r["skipped"] = f"outside the Arrhenius range {t_lo:g}-{t_hi:g} K ([analysis] arrhenius_T_min/max)"
        rows = [r for r in rows if not r.get("skipped")]
        ok = [r for r in rows if r["D_cm2_s"] and r["D_cm2_s"] > 0]
        entry = {"T_K": [r["T_K"] for r in rows], "D_cm2_s": [r["D_cm2_s"] for r in rows],
                 "D_err_cm2_s": [r["D_err_cm2_s"] for r in rows]}
        if len(ok) >= 2:
            fit = arrhenius_fit([r["T_K"] for r in ok], [r["D_cm2_s"] for r in ok], [r["D_err_cm2_s"] for r in ok])
            figure = plot_arrhenius(fit, out_dir / f"arrhenius_{phase}.png", min_significance=s.arrhenius_min_significance)
            entry.update({"Ea_eV": fit.Ea_eV, "Ea_err_eV": fit.Ea_err_eV, "chi2_red": _f(fit.chi2_red), "figure": str(figure),
                          **room_temperature(fit, float(np.mean([r["n_per_A3"] for r in ok])), s)})
        else:
            entry["note"] = (f"fewer than two temperatures in {t_lo:g}-{t_hi:g} K with a positive D: no Arrhenius fit")
        arrhenius[phase] = entry
    out = {"runs": per_run, "arrhenius": arrhenius, "interface": interface}
    atomic_write_json(out_dir / "summary.json", out)
    return out
