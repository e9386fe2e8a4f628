"""``interforge validate --model nep.txt --config project.toml``: the validation gates of one model."""

from __future__ import annotations

from pathlib import Path

from interforge.cli.common import config_of, workdir_of
from interforge.errors import InterforgeError


def register(sub, parents):
    p = sub.add_parser("validate", parents=parents, help="validation gates of a NEP against its teacher",
                       description="Measure a NEP against the project's teacher on data it never saw: force parity and "
                                   "pressure on independent teacher MD frames, NPT density and solidity at the production "
                                   "temperatures, phase order and the Li-hop barrier. Thresholds come from [validation]. "
                                   "Writes OUT/validation.json and a record beside the model that `md` and production "
                                   "read. Exit code 3 when a gate fails.")
    p.add_argument("--model", required=True, metavar="NEP", help="the nep.txt to validate (its dispersion sidecar is used)")
    p.add_argument("--out", metavar="DIR", help="output folder (default: WORKDIR/validation)")
    p.set_defaults(func=run)


def run(args):
    from interforge.validation.project import validate_in_project

    model = Path(args.model)
    if not model.is_file():
        raise InterforgeError(f"model file not found: {model}")
    cfg = config_of(args)
    workdir = workdir_of(args)
    out = Path(args.out) if args.out else workdir / "validation"
    from interforge.workflow import make_executor

    with make_executor(cfg.workflow, run_dir=workdir / "runinfo") as executor:
        rec = validate_in_project(cfg, workdir, model, out, executor)
    d = rec.to_dict()
    for name, g in d["gates"].items():
        print(f"{name:12s} {'pass' if g['passed'] else 'FAIL'}  value {_fmt(g['value'])}  threshold {g['threshold']}")
    print(f"{'all gates passed' if rec.passed else 'FAILED: ' + ', '.join(d['failed'])}; record: {out / 'validation.json'}")
    args.exit_code = 0 if rec.passed else 3
    return d


def _fmt(v):
    return "n/a" if v is None else f"{v:.4g}"
