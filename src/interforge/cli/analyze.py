"""``interforge analyze TRAJ`` and ``interforge arrhenius RESULT.json...``: ion-transport analysis."""

from __future__ import annotations

import json
from pathlib import Path

from interforge.cli import checks
from interforge.cli.common import config_of, print_table
from interforge.errors import InterforgeError


def register(sub, parents):
    p = sub.add_parser("analyze", parents=parents,
                       help="diffusion, conductivity, z-profiles, polyhedra of a trajectory",
                       description="Analyse ion transport in one MD trajectory (H5MD, extxyz, .traj, LAMMPS dump, "
                                   "XDATCAR); writes figures and results.json into --out.")
    p.add_argument("trajectory", help="trajectory file")
    p.add_argument("--out", required=True, help="output folder for figures and results.json")
    p.add_argument("--species", action="append", metavar="EL",
                   help="mobile species (default: [analysis].species, Li); repeat it for more species: "
                        "the first is profiled, the others get D only")
    p.add_argument("--dt-ps", type=float,
                   help="time between frames, ps, for files that carry no times (XDATCAR, LAMMPS dump, plain XYZ); "
                        "refused when it contradicts the times a file carries (H5MD, extxyz time_ps)")
    p.add_argument("--temperature-K", type=float,
                   help="temperature for the conductivity (default: mean T_K of thermo.dat beside the trajectory)")
    p.add_argument("--anions", nargs="+", metavar="EL", help="coordinating anions (default: O, Cl, ... present)")
    p.add_argument("--equilibration-ps", type=float, metavar="PS",
                   help="discard the first PS ps as equilibration (default: [production] equilibration_ps)")
    p.add_argument("--no-figures", action="store_true", help="skip the figures")
    p.add_argument("--no-cache", action="store_true", help="do not read or write the parsed-trajectory cache")
    p.set_defaults(func=run_analyze)

    a = sub.add_parser("arrhenius", parents=parents, help="Arrhenius fit of several `analyze` results",
                       description="Fit ln D vs 1/T over results.json files of `interforge analyze` and "
                                   "extrapolate D and the conductivity to --T-K (default 300 K).")
    a.add_argument("results", nargs="+", help="results.json files of `interforge analyze`")
    a.add_argument("--species", help="species key in the results (default: the results' species)")
    a.add_argument("--T-K", type=float, default=300.0, help="extrapolation temperature, K (default 300)")
    a.add_argument("--figure", help="write the Arrhenius plot to this path (.png/.pdf)")
    a.set_defaults(func=run_arrhenius)


def run_analyze(args):
    from interforge.analysis.pipeline import analyze, temperature_from_thermo
    from interforge.analysis.readers import load_trajectory
    from interforge.fileio import atomic_write_json

    project = config_of(args)
    cfg = project.analysis
    species = args.species or [cfg.species]
    equil = args.equilibration_ps if args.equilibration_ps is not None else project.production.equilibration_ps
    # finite positions, cells and times, enough frames, the species present (the input rules, docs/inputs.md),
    # checked before the read is logged or cached: a refused file ends with the one error line, no cache left
    traj = load_trajectory(args.trajectory, dt_ps=args.dt_ps, cache=not args.no_cache,
                           check=lambda t: checks.analysable(
                               "trajectory", t, species[0], equil, "--equilibration-ps"
                               if args.equilibration_ps is not None else "[production] equilibration_ps"))
    temp = args.temperature_K or temperature_from_thermo(args.trajectory)
    res = analyze(traj, cfg, species=species[0], temperature_K=temp, anions=args.anions, extra_species=species[1:],
                  equilibration_ps=equil)
    out = Path(args.out)
    result = res.to_json()
    result["trajectory"] = str(Path(args.trajectory).resolve())
    if not args.no_figures:
        from interforge.report import save_all

        result["figures"] = save_all(res, out)
    atomic_write_json(out / "results.json", result)
    sp = res.species
    d = res.diffusion[sp]
    print(f"{traj.path}: {traj.n_frames} frames x {traj.n_atoms} atoms, dt = {traj.dt_ps:g} ps")
    rows = [{"group": k, "D_cm2_s": f"{v.total.D_cm2_s:.3e}", "D_err_cm2_s": f"{v.total.D_err_cm2_s:.1e}",
             "D_xy": f"{v.xy.D_cm2_s:.3e}", "D_z": f"{v.z.D_cm2_s:.3e}", "ions": v.total.n_ions}
            for k, v in res.diffusion.items()]
    print_table(rows, ["group", "D_cm2_s", "D_err_cm2_s", "D_xy", "D_z", "ions"])
    comp, coll = res.conductivity["composite"], res.collective
    if comp["sigma_mS_cm"] is not None:
        print(f"composite sigma({temp:.0f} K) = {comp['sigma_mS_cm']:.3g} ± {comp['sigma_err_mS_cm']:.2g} mS/cm "
              "(Nernst-Einstein, tracer D, whole cell)")
    if coll is not None:
        sig = (f"collective sigma = {coll.sigma_mS_cm:.3g} ± {coll.sigma_err_mS_cm:.2g} mS/cm; "
               if coll.sigma_mS_cm is not None else "")
        hr = (f"Haven ratio {coll.haven_ratio:.2f} ± {coll.haven_ratio_err:.2f}" if coll.haven_ratio is not None
              and coll.haven_ratio_err is not None else "Haven ratio undefined (D_sigma <= 0)")
        print(f"{sig}{hr} ({coll.n_blocks} blocks of {coll.block_ps:g} ps)")
    if res.interfaces is not None:
        print(f"interface planes at z = {', '.join(f'{z:.2f}' for z in res.interfaces.planes_A)} Å (last block)")
    if res.regions:
        def _g(x, fmt):
            return "n/a" if x is None else format(x, fmt)

        print_table([{"region": k, "thickness_A": f"{v.thickness_A:.1f}", "ions": f"{v.ions:.1f}",
                      "n_per_A3": f"{v.n_per_A3:.4f}", "D_cm2_s": _g(v.D_cm2_s, ".2e"),
                      "D_err": _g(v.D_err_cm2_s, ".1e"), "sigma_mS_cm": _g(v.sigma_mS_cm, ".3g"),
                      "flags": "; ".join(v.flags)} for k, v in res.regions.items()],
                    ["region", "thickness_A", "ions", "n_per_A3", "D_cm2_s", "D_err", "sigma_mS_cm", "flags"])
    print(f"hops: {res.hops.rate_per_ion_ns:.3g} per {sp} per ns (> {res.hops.threshold_A:g} Å in "
          f"{res.hops.lag_ps:g} ps, positions averaged over {res.hops.average_ps:g} ps)")
    print(f"displacement classes: {res.displacement.counts}; {len(res.polyhedra)} polyhedra; "
          f"D(fit {d.total.fit_start_ps:g}-{d.total.fit_end_ps:g} ps)")
    print(f"wrote {out / 'results.json'}")
    return result


def _density(result: dict) -> float:
    """The carrier density of an `analyze` results file (composite; older files kept it at the top)."""
    cond = result["conductivity"]
    return cond["composite"]["n_per_A3"] if "composite" in cond else cond["n_per_A3"]


def run_arrhenius(args):
    from interforge.analysis.diffusion import arrhenius_fit

    cfg = config_of(args).analysis
    T, D, E, n, H, excluded = [], [], [], [], [], []
    for path in args.results:
        try:
            r = json.loads(Path(path).read_text())
        except (OSError, json.JSONDecodeError) as err:
            raise InterforgeError(f"cannot read results file {path}: {err}") from None
        sp = args.species or r.get("species", cfg.species)
        try:
            d = r["diffusion"][sp]
            t = r["temperature_K"]
            dens = _density(r)
        except KeyError as err:
            raise InterforgeError(f"{path}: no {err.args[0]!r} in the results") from None
        if not t:
            raise InterforgeError(f"{path}: no temperature; rerun analyze with --temperature-K")
        if not cfg.arrhenius_T_min - 1e-9 <= float(t) <= cfg.arrhenius_T_max + 1e-9:
            excluded.append({"file": str(path), "T_K": float(t)})
            continue
        T.append(float(t))
        D.append(d["D_cm2_s"])
        E.append(d["D_err_cm2_s"] if d["D_err_cm2_s"] is not None else float("nan"))
        n.append(dens)
        coll = r["conductivity"].get("collective") or {}
        H.append(coll.get("haven_ratio"))
    if excluded:
        print(f"left out (outside [analysis] arrhenius_T_min/max = {cfg.arrhenius_T_min:g}-{cfg.arrhenius_T_max:g} K): "
              + ", ".join(f"{e['file']} ({e['T_K']:g} K)" for e in excluded))
    if len(T) < 2:
        raise InterforgeError(f"{len(T)} result(s) within the Arrhenius range {cfg.arrhenius_T_min:g}-"
                              f"{cfg.arrhenius_T_max:g} K; an Arrhenius fit needs 2 (set [analysis] arrhenius_T_min/max)")
    fit = arrhenius_fit(T, D, E)
    n_mean = sum(n) / len(n)
    rt = fit.conductivity_at(args.T_K, n_mean, cfg.charge, cfg.arrhenius_min_significance)
    result = {"Ea_eV": fit.Ea_eV, "Ea_err_eV": fit.Ea_err_eV, "lnD0": fit.lnD0, "lnD0_err": fit.lnD0_err,
              "cov": fit.cov.tolist(), "chi2_red": fit.chi2_red, "T_K": T, "D_cm2_s": D, "D_err_cm2_s": E,
              "T_extrapolated_K": args.T_K, "D_extrapolated_cm2_s": rt.D_cm2_s,
              "D_extrapolated_range_cm2_s": [rt.D_low_cm2_s, rt.D_high_cm2_s], "sigma_mS_cm": rt.sigma_mS_cm,
              "sigma_range_mS_cm": [rt.sigma_low_mS_cm, rt.sigma_high_mS_cm], "n_per_A3": n_mean,
              "sigma_estimator": "Nernst-Einstein with the extrapolated tracer D (Haven ratio 1)",
              "haven_ratio_measured": H, "T_range_K": [cfg.arrhenius_T_min, cfg.arrhenius_T_max],
              "excluded": excluded, "results": [str(p) for p in args.results], "Ea_resolved": rt.resolved}
    print(f"Ea = {fit.Ea_eV:.3f} ± {fit.Ea_err_eV:.3f} eV from {len(T)} temperatures")
    if not rt.resolved:
        result["note"] = rt.note
        print(result["note"] + " ([analysis] arrhenius_min_significance)")
    else:
        print(f"D({args.T_K:g} K) = {rt.D_cm2_s:.3e} cm²/s (1σ {rt.D_low_cm2_s:.2e} – {rt.D_high_cm2_s:.2e})")
        print(f"sigma({args.T_K:g} K) = {rt.sigma_mS_cm:.3g} mS/cm (1σ {rt.sigma_low_mS_cm:.2g} – "
              f"{rt.sigma_high_mS_cm:.2g}), tracer D, Haven ratio 1"
              + (f"; measured Haven ratios {', '.join(f'{h:.2f}' for h in H if h is not None)}" if any(
                  h is not None for h in H) else ""))
    if args.figure:
        from interforge.report import plot_arrhenius

        result["figure"] = str(plot_arrhenius(fit, args.figure, args.T_K, cfg.arrhenius_min_significance))
    return result
