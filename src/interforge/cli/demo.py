"""``interforge demo``: the main job on embedded defaults, or the paper-scale production inputs."""

from __future__ import annotations

from pathlib import Path


def register(sub, parents):
    p = sub.add_parser("demo", parents=parents, help="run the whole pipeline on embedded defaults (HTML report)",
                       description="Bulk phases -> a small ZrO2/Li2ZrCl6 interface -> seed data labelled by the embedded "
                                   "teacher -> active learning -> MD with the learned NEP -> analysis -> report.html. "
                                   "Resumes after a kill. `--scale paper` writes the production inputs without running them.")
    p.add_argument("--out", default="demo-output", help="output folder (default: demo-output)")
    # --config (common option): a project TOML whose keys go on top of the embedded scale's settings
    p.add_argument("--scale", default="laptop", choices=["laptop", "tiny", "paper"],
                   help="laptop: the full pipeline in < 30 min on 2 cores; tiny: a few minutes (tests); "
                        "paper: write GPUMD/NEP/Slurm inputs at the paper's scale")
    p.add_argument("--force", action="store_true",
                   help="run production MD even if the final model failed a validation gate (the report says so first)")
    p.set_defaults(func=run)


def _merged(base: dict, over: dict) -> dict:
    """``over`` on top of ``base``: tables are merged key by key, everything else (arrays of tables too) replaced."""
    out = dict(base)
    for k, v in over.items():
        out[k] = _merged(out[k], v) if isinstance(v, dict) and isinstance(out.get(k), dict) else v
    return out


def demo_config_with(scale: str, path: str | Path):
    """The embedded configuration of ``scale`` with the keys of the project file ``path`` on top
    (``interforge demo --config FILE``); ``scale = "paper"`` starts from the paper's defaults."""
    import tomllib

    from interforge.config import config_from_dict, load_config

    load_config(path)  # the file alone must be valid (one-line errors name the bad key)
    user = tomllib.loads(Path(path).read_text(encoding="utf-8"))
    if scale == "paper":
        return config_from_dict(user, source=str(path), base_dir=Path(path).resolve().parent)
    from interforge.demo.pipeline import demo_config_text

    return config_from_dict(_merged(tomllib.loads(demo_config_text(scale)), user),
                            source=f"demo/{scale}.toml + {path}", base_dir=Path(path).resolve().parent)


def run(args):
    out = Path(args.out)
    if args.workdir is None:
        args.workdir = str(out)  # the log file goes with the outputs
    cfg = demo_config_with(args.scale, args.config) if args.config else None
    if args.scale == "paper":
        from interforge.demo.paper import write_paper_inputs

        res = write_paper_inputs(out, cfg)
        print(f"paper-scale inputs written to {out.resolve()} (see {out.resolve() / 'README.md'})")
        return res
    from interforge.demo.pipeline import Demo

    demo = Demo(out, args.scale, force=args.force)
    if cfg is not None:
        demo.cfg = cfg  # the project file's keys on top of the embedded scale
        demo.m.data["config_file"] = str(Path(args.config).resolve())
    res = demo.run()
    refused = res.manifest["md"].get("refused")
    if refused:
        print(f"production MD refused: the final model failed validation gate(s) {', '.join(refused)} "
              "(--force runs it anyway)")
        args.exit_code = 3
    print(f"demo finished: report {res.report}")
    print(f"all outputs in {res.out_dir}")
    return demo_summary(res)


def demo_summary(res) -> dict:
    """The demo's ``--json``: stable keys ``final_model``, ``model_dispersion``, ``structures``, ``gates``,
    ``transport`` (phase -> Ea_eV, Ea_err_eV, sigma_RT_mS_cm, D_cm2_s by temperature), plus the rest.
    ``sigma_RT_mS_cm`` is null when the fit does not resolve Ea (``Ea_resolved`` false, ``[analysis]
    arrhenius_min_significance``)."""
    from interforge.nep.dispersion import read_dispersion

    m = res.manifest
    model = m["learn"]["final_models"][0]
    disp = read_dispersion(model)
    transport = {}
    for phase, a in m["analysis"]["arrhenius"].items():
        runs = [r for r in m["analysis"]["runs"] if r.get("phase") == phase and r.get("kind") == "bulk"]
        transport[phase] = {"Ea_eV": a.get("Ea_eV"), "Ea_err_eV": a.get("Ea_err_eV"),
                            "sigma_RT_mS_cm": a.get("sigma_RT_mS_cm"), "Ea_resolved": a.get("resolved"),
                            "D_cm2_s": {f"{r['T_K']:g}": r.get("D_cm2_s") for r in runs},
                            "excluded_runs": [r["name"] for r in runs if r.get("skipped")]}
    return {"out_dir": res.out_dir, "report": res.report, "final_model": model,
            "model_dispersion": None if disp is None else disp.calorine(), "structures": m["md"]["structures"],
            "gates": m["validate"]["gates"], "gates_passed": m["validate"]["passed"],
            "forced_past_gates": m["md"].get("forced_past_gates", []), "production_refused": m["md"].get("refused", []),
            "transport": transport, "arrhenius": m["analysis"]["arrhenius"],
            "timings_s": m.get("timings_s"), "interface": m["analysis"]["interface"]}
