"""``interforge label INPUT --db DB [--teacher NAME]``: label structures into the store."""

from __future__ import annotations

from pathlib import Path

from interforge.cli.common import config_of, workdir_of
from interforge.errors import InterforgeError


def register(sub, parents):
    p = sub.add_parser("label", parents=parents, help="label structures with a teacher into the store",
                       description="Label structures (a structure file or an ASE database) with a teacher and "
                                   "store energies, forces and stresses. Failures are stored with reasons; a re-run "
                                   "labels only what is missing.")
    p.add_argument("input", help="structure file (extxyz, CIF, POSCAR, ...; every frame) or an ASE database (.db)")
    p.add_argument("--db", help="label store: SQLite file or postgresql:// URL (default: the config's [data] db)")
    p.add_argument("--teacher", help="teacher name (default: the config's [teacher] name, i.e. 'default' = "
                                     "CHGNet + D3(BJ))")
    p.add_argument("--model", help="local model file for the nep / model-file teachers")
    p.add_argument("--query", default="", help="ASE database query selecting rows of an input database")
    p.add_argument("--stage", default="seed", help="provenance: pipeline stage (default: seed)")
    p.add_argument("--source", default="", help="provenance: where the structures came from (default: input name)")
    p.add_argument("--iteration", type=int, default=0, help="provenance: active-learning iteration")
    p.add_argument("--executor", choices=["local", "threads", "processes", "slurm", "pbs"],
                   help="where labelling runs (default: the config's [workflow] executor)")
    p.add_argument("--workers", type=int, help="concurrent local workers (default: the config's max_workers)")
    p.add_argument("--retry-failed", action="store_true", help="label again structures stored as failed")
    p.add_argument("--no-progress", action="store_true", help="no progress bar")
    p.set_defaults(func=run_label)


def read_inputs(path: str, query: str = ""):
    """(structures, per-structure source labels) from a structure file or an ASE database."""
    import ase.db
    import ase.io

    p = Path(path)
    if not p.exists():
        raise InterforgeError(f"input not found: {path}")
    if p.suffix in (".db", ".sqlite"):
        db = ase.db.connect(str(p))
        rows = list(db.select(query) if query else db.select())
        return [r.toatoms() for r in rows], [f"{p.name}:{r.id}" for r in rows]
    try:
        frames = ase.io.read(str(p), index=":")
    except Exception as err:  # noqa: BLE001 - any reader error is a bad input file
        raise InterforgeError(f"cannot read structures from {path}: {type(err).__name__}: {err}") from None
    if not isinstance(frames, list):
        frames = [frames]
    return frames, [f"{p.name}:{i}" for i in range(len(frames))]


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
    return {"store": store.url, **vars(report)}
