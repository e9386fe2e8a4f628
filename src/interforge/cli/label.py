"""``interforge label INPUT --db DB [--teacher NAME]``: label structures into the store."""

from __future__ import annotations

from pathlib import Path

from interforge.cli.common import config_of, workdir_of
from interforge.errors import InterforgeError


def register(sub, parents):
    p = sub.add_parser("label", parents=parents, help="label structures with a teacher into the store",
                       description="Label structures (a structure file or an ASE database) with a teacher and "
                                   "store energies, forces and stresses. Failures are stored with reasons; a re-run "
                                   "labels only what is missing. Exit code 5 when any structure failed to label.")
    p.add_argument("input", help="structure file (extxyz, CIF, POSCAR, ...; every frame) or an ASE database (.db)")
    p.add_argument("--db", help="label store: SQLite file or postgresql:// URL (default: the config's [data] db)")
    p.add_argument("--teacher", help="teacher name (default: the config's [teacher] name, i.e. 'default' = "
                                     "CHGNet + D3(BJ))")
    p.add_argument("--model", help="local model file for the nep / model-file teachers")
    p.add_argument("--query", default="", help="ASE database query selecting rows of an input database")
    p.add_argument("--stage", default="seed", help="provenance: pipeline stage (default: seed)")
    p.add_argument("--source", default="", help="provenance: where the structures came from (default: input name)")
    p.add_argument("--iteration", type=int, default=0, help="provenance: active-learning iteration")
    p.add_argument("--executor", choices=["local", "pool", "threads", "processes", "slurm", "pbs"],
                   help="where labelling runs (default: the config's [workflow] executor)")
    p.add_argument("--workers", type=int, help="concurrent local workers (default: the config's max_workers)")
    p.add_argument("--retry-failed", action="store_true", help="label again structures stored as failed")
    p.add_argument("--no-progress", action="store_true", help="no progress bar")
    p.set_defaults(func=run_label)


def read_inputs(path: str, query: str = ""):
    """(structures, per-structure source labels) from a structure file or an ASE database.

    The input is only read (an ASE database is checked read-only first and never modified) and every
    structure must meet the structure rules of :func:`interforge.checks.structure`."""
    import ase.db
    import ase.io

    from interforge import checks
    from interforge.cli.checks import ase_database

    p = Path(path)
    if not p.exists():
        raise InterforgeError(f"input not found: {path}")
    if p.suffix in (".db", ".sqlite"):
        ase_database("input", p)
        try:
            db = ase.db.connect(str(p), create_indices=False)
            rows = list(db.select(query) if query else db.select())
        except Exception as err:  # noqa: BLE001 - a bad query or a damaged database is a bad input
            raise InterforgeError(f"input: cannot read {path}{f' with --query {query!r}' if query else ''}: "
                                  f"{type(err).__name__}: {err}") from None
        frames, sources = [r.toatoms() for r in rows], [f"{p.name}:{r.id}" for r in rows]
    else:
        checks.structure_file("input", p)
        try:
            frames = ase.io.read(str(p), index=":")
        except Exception as err:  # noqa: BLE001 - any reader error is a bad input file
            raise InterforgeError(f"cannot read structures from {path}: {type(err).__name__}: {err}") from None
        if not isinstance(frames, list):
            frames = [frames]
        sources = [f"{p.name}:{i}" for i in range(len(frames))]
    for atoms, src in zip(frames, sources):
        checks.structure(f"input {src}", atoms)
    return frames, sources


def run_label(args):
    from interforge.cli.data import open_store
    from interforge.teacher import label_structures
    from interforge.workflow import make_executor

    cfg = config_of(args)
    teacher = cfg.teacher.model_copy()
    if args.teacher:
        teacher.name = args.teacher
    if args.model:
        teacher.model_path = args.model
    workflow = cfg.workflow.model_copy()
    if args.executor:
        workflow.executor = args.executor
    if args.workers:
        workflow.max_workers = args.workers
    structures, sources = read_inputs(args.input, args.query)
    if not structures:
        raise InterforgeError(f"no structures in {args.input}" + (f" matching '{args.query}'" if args.query else ""))
    if args.source:
        sources = args.source
    store = open_store(args)
    workdir = workdir_of(args)
    with make_executor(workflow, run_dir=workdir / workflow.run_dir) as executor:
        report = label_structures(structures, store, teacher, executor=executor, source=sources, stage=args.stage,
                                  iteration=args.iteration, retry_failed=args.retry_failed,
                                  scratch_root=workdir / "label-scratch", progress=not args.no_progress)
    print(f"{report.teacher} ({report.teacher_hash}): labelled {report.n_labelled}, failed {report.n_failed}, "
          f"already stored {report.n_skipped}"
          + (f", left to other workers {report.n_claimed_elsewhere}" if report.n_claimed_elsewhere else "")
          + f" of {report.n_unique} structures -> {store.url} ({report.labels_per_minute:.1f} labels/min)")
    for f in report.failures[:10]:
        print(f"  failed {f['formula']} {f['struct_hash']}: {f['reason']}")
    if report.n_failed:  # scripts must tell: exit code 5, the count on one line
        args.exit_code = 5
        import sys

        print(f"interforge: {report.n_failed} of {report.n_unique} structures failed to label"
              f"{' (all of them)' if report.n_failed == report.n_unique else ''}; their reasons are stored "
              "(--retry-failed labels them again)", file=sys.stderr)
    return {"store": store.url, **vars(report)}
