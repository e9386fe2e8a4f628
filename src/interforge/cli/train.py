"""``interforge train``: train a NEP committee from the labelled-data store."""

from __future__ import annotations

from interforge.cli.common import config_of, print_table, workdir_of
from interforge.errors import InterforgeError


def register(sub, parents):
    p = sub.add_parser("train", parents=parents, help="train a NEP committee (neppo or GPUMD nep)",
                       description="Train a committee of NEP models on the labelled store; writes "
                                   "DIR/member_<i>/nep.txt, parity plots, loss_curves.png and metrics.json.")
    p.add_argument("--db", help="labelled store (SQLite file or postgresql:// URL) or an extxyz/train.xyz file "
                               "(default: the config's [data] db in the workdir)")
    p.add_argument("--out", required=True, help="output directory DIR")
    p.add_argument("--committee", type=int, help="number of members (default: config [nep] committee, 4)")
    p.add_argument("--preset", choices=["paper", "small"], help="architecture preset (small: laptops and tests)")
    p.add_argument("--backend", choices=["neppo", "gpumd"], help="trainer (default: config [nep] backend)")
    p.add_argument("--generation", type=int, help="override the number of training steps / generations")
    p.add_argument("--test-fraction", type=float, help="held-out fraction (default: config [nep] test_fraction)")
    p.add_argument("--init", metavar="NEP_TXT", help="restart / fine-tune every member from this nep.txt")
    p.add_argument("--parallel", type=int, default=1, metavar="N",
                   help="train up to N members at once in local worker processes (default 1: the config's "
                        "[workflow] executor, in this process unless it names a cluster)")
    p.set_defaults(func=run_train)


def run_train(args):
    from interforge.nep import train_committee

    cfg = config_of(args)
    updates = {k: v for k, v in (("preset", args.preset), ("backend", args.backend), ("generation", args.generation),
                                 ("test_fraction", args.test_fraction)) if v is not None}
    try:
        settings = cfg.nep.model_validate({**cfg.nep.model_dump(exclude_unset=True), **updates})
    except Exception as err:  # pydantic ValidationError -> one line
        raise InterforgeError(f"bad training option: {str(err).splitlines()[0]}") from None
    source = args.db
    if source is None:
        source = cfg.data.db
        if "://" not in source and not source.startswith("/"):
            source = str(workdir_of(args) / source)
    if args.parallel < 1:
        raise InterforgeError(f"--parallel must be >= 1, got {args.parallel}")
    from interforge.nep.committee import load_structures
    from interforge.workflow import make_executor

    # the data are read (and refused: too few, unlabelled, labels that are not numbers) before any executor,
    # worker process or output folder starts
    source = load_structures(source)
    if args.init:  # a model to fine-tune must know every element of the data (found after training started)
        from interforge.cli.checks import nep_species
        from interforge.errors import InputError

        known = nep_species(args.init)
        held = sorted({s for atoms in source for s in atoms.get_chemical_symbols()})
        missing = [s for s in held if known and s not in known]
        if missing:
            raise InputError(f"--init: {args.init} cannot be fine-tuned on these data: they hold "
                             f"{', '.join(missing)}, for which it has no parameters (it has {', '.join(known)})")

    # Members are tasks of the configured executor: in this process by default, Slurm/PBS jobs on a cluster.
    workflow = cfg.workflow
    if args.parallel > 1:
        workflow = workflow.model_copy(update={"executor": "processes", "max_workers": args.parallel})
    with make_executor(workflow, run_dir=workdir_of(args) / workflow.run_dir) as executor:
        res = train_committee(source, args.out, settings, committee=args.committee, executor=executor,
                              init_model=args.init)
    rows = [{"member": m.index, "seed": m.seed, "E_train": f"{m.rmse_train['energy_meV_atom']:.1f}",
             "E_test": f"{m.rmse_test['energy_meV_atom']:.1f}", "F_train": f"{m.rmse_train['force_meV_A']:.0f}",
             "F_test": f"{m.rmse_test['force_meV_A']:.0f}", "wall_s": f"{m.wall_s:.1f}"} for m in res.members]
    print(f"trained {len(res.members)} member(s) with {settings.backend} -> {res.out_dir} "
          "(RMSE: E meV/atom, F meV/Å)")
    print_table(rows, ["member", "seed", "E_train", "E_test", "F_train", "F_test", "wall_s"])
    return {"out": res.out_dir, "metrics": res.metrics_path, "loss_curves": res.loss_curves_path,
            "nep": res.nep_paths, "zero_force_baseline_meV_A": res.zero_force_baseline_meV_A,
            "members": [{"index": m.index, "seed": m.seed, "nep": m.nep_path, "rmse_train": m.rmse_train,
                         "rmse_test": m.rmse_test, "wall_s": m.wall_s} for m in res.members]}
