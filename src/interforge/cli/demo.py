"""``interforge demo``: the main job on embedded defaults, or the paper-scale production inputs."""

from __future__ import annotations

from pathlib import Path


def register(sub, parents):
    p = sub.add_parser("demo", parents=parents, help="run the whole pipeline on embedded defaults (HTML report)",
                       description="Bulk phases -> a small ZrO2/Li2ZrCl6 interface -> seed data labelled by the embedded "
                                   "teacher -> active learning -> MD with the learned NEP -> analysis -> report.html. "
                                   "Resumes after a kill. `--scale paper` writes the production inputs without running them.")
    p.add_argument("--out", default="demo-output", help="output folder (default: demo-output)")
    p.add_argument("--scale", default="laptop", choices=["laptop", "tiny", "paper"],
                   help="laptop: the full pipeline in < 30 min on 2 cores; tiny: a few minutes (tests); "
                        "paper: write GPUMD/NEP/Slurm inputs at the paper's scale")
    p.set_defaults(func=run)


def run(args):
    out = Path(args.out)
    if args.workdir is None:
        args.workdir = str(out)  # the log file goes with the outputs
    if args.scale == "paper":
        from interforge.demo.paper import write_paper_inputs

        res = write_paper_inputs(out)
        print(f"paper-scale inputs written to {out.resolve()} (see {out.resolve() / 'README.md'})")
        return res
    from interforge.demo import run_demo

    res = run_demo(out, args.scale)
    print(f"demo finished: report {res.report}")
    print(f"all outputs in {res.out_dir}")
    return {"out_dir": res.out_dir, "report": res.report, "timings_s": res.manifest.get("timings_s"),
            "arrhenius": {k: {kk: v.get(kk) for kk in ("Ea_eV", "Ea_err_eV", "sigma_RT_mS_cm", "sigma_RT_low_mS_cm",
                                                       "sigma_RT_high_mS_cm")}
                          for k, v in res.manifest["analysis"]["arrhenius"].items()},
            "interface": res.manifest["analysis"]["interface"]}
