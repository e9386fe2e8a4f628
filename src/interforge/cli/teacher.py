"""``interforge teacher calibrate``: the foundation teacher against DFT, fine-tuned on it (docs/calibrate.md)."""

from __future__ import annotations

from interforge.cli.common import config_of, print_table, workdir_of


def register(sub, parents):
    p = sub.add_parser("teacher", help="teacher tools: calibrate the foundation teacher against DFT",
                       description="Teacher tools.")
    tsub = p.add_subparsers(dest="teacher_verb", metavar="ACTION", required=True)
    cp = tsub.add_parser(
        "calibrate", parents=parents, help="label a few structures with DFT, fine-tune CHGNet on them",
        description="Pick [teacher.calibration] n_structures structures (high-temperature teacher-MD frames of each "
                    "phase, the NEB images of a Li hop), label them with the DFT teacher of [teacher.calibration], "
                    "measure the foundation teacher against DFT on held-out structures, fine-tune CHGNet on the "
                    "rest, measure again, and write the weights of the teacher 'calibrated'. DFT labels are kept in "
                    "WORKDIR/calibration/dft-labels.db: a re-run resumes. Exit code 5 when some DFT labels failed "
                    "(they are recorded and not used).")
    cp.add_argument("--retry-failed", action="store_true", help="label again the structures whose DFT label failed")
    cp.set_defaults(func=run_calibrate)


def run_calibrate(args):
    import sys

    from interforge.teacher.calibrate import calibrate
    from interforge.workflow import make_executor

    cfg = config_of(args)
    workdir = workdir_of(args)
    with make_executor(cfg.workflow, run_dir=workdir / cfg.workflow.run_dir) as executor:
        res = calibrate(cfg, workdir, executor=executor, retry_failed=args.retry_failed)
    rows = [{k: _fmt(v) for k, v in r.items()} for r in res["table"]]
    print(f"{res['dft']['name']} ({res['dft']['hash']}): {res['n_train']} training and {res['n_heldout']} held-out "
          f"structures ({res['n_failed']} failed)")
    print_table(rows, ["measure", "foundation", "calibrated", "reference"])
    print("reference: 1 for the slope, DFT for the barrier (single points on the foundation's NEB images), "
          "the paper's DFT for phase energies")
    if res.get("dft_phase_energies_meV_atom"):
        print("DFT single points at the foundation's relaxed cells (meV/atom): "
              + ", ".join(f"{n} {v:+.1f}" for n, v in res["dft_phase_energies_meV_atom"].items()))
    print(f"weights: {res['calibrated']['weights']} (teacher 'calibrated', identity {res['calibrated']['hash']}); "
          f"to use it: {res['calibrated']['config']}")
    if res["n_failed"]:
        args.exit_code = 5
        print(f"interforge: {res['n_failed']} of {res['n_structures']} DFT labels failed; they were not used "
              "(--retry-failed labels them again)", file=sys.stderr)
    return res


def _fmt(v):
    return "" if v is None else (f"{v:.4g}" if isinstance(v, float) else str(v))
