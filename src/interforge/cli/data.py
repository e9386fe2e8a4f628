"""``interforge data import|export|stats``: the labelled-data store."""

from __future__ import annotations

from interforge.cli.common import config_of, print_json, workdir_of
from interforge.data import LabelStore


def register(sub, parents):
    p = sub.add_parser("data", help="labelled-data store: import, export, stats", description="The labelled-data store.")
    dsub = p.add_subparsers(dest="data_verb", metavar="ACTION", required=True)

    def add_db(sp):
        sp.add_argument("--db", help="SQLite file or postgresql:// URL (default: the config's [data] db in the workdir)")

    ip = dsub.add_parser("import", parents=parents, help="import labelled extxyz / GPUMD train.xyz frames")
    ip.add_argument("files", nargs="+", help="extended XYZ files with energy and forces")
    add_db(ip)
    ip.add_argument("--source", default="", help="provenance: where the structures came from (default: file name)")
    ip.add_argument("--stage", default="import", help="provenance: pipeline stage (default: import)")
    ip.add_argument("--teacher", default="import", help="provenance: label method")
    ip.set_defaults(func=run_import)

    ep = dsub.add_parser("export", parents=parents, help="write GPUMD train.xyz / test.xyz")
    add_db(ep)
    ep.add_argument("--out", required=True, help="directory for train.xyz and test.xyz")
    ep.add_argument("--test-fraction", type=float, help="held-out fraction (default: config [data] test_fraction)")
    ep.add_argument("--query", default="", help="ASE database query restricting the export, e.g. 'stage=seed'")
    ep.set_defaults(func=run_export)

    sp = dsub.add_parser("stats", parents=parents, help="counts by status, stage, source, teacher, formula")
    add_db(sp)
    sp.set_defaults(func=run_stats)


def open_store(args, create: bool = True) -> LabelStore:
    """The store named by --db, else the config's [data] db resolved in the working directory.

    Read-only verbs pass ``create=False``: a missing store is an error, never created empty."""
    if args.db:
        return LabelStore(args.db, create=create)
    from interforge.active.project import open_store as project_store

    return project_store(config_of(args), workdir_of(args), create=create)


def run_import(args):
    from interforge.data import read_labelled_xyz

    read = {f: read_labelled_xyz(f) for f in args.files}  # every file is readable before the store is touched
    store = open_store(args)
    totals = {"read": 0, "added": 0, "duplicates": 0}
    per_file = {}
    for f in args.files:
        res = store.import_xyz(f, source=args.source, stage=args.stage, teacher=args.teacher, frames=read[f])
        per_file[f] = res
        for k in totals:
            totals[k] += res[k]
    print(f"read {totals['read']} frames, added {totals['added']}, skipped {totals['duplicates']} duplicates -> {store.url}")
    return {"store": store.url, **totals, "files": per_file}


def run_export(args):
    store = open_store(args, create=False)
    frac = args.test_fraction if args.test_fraction is not None else config_of(args).data.test_fraction
    query = [args.query] if args.query else []
    res = store.export_gpumd(args.out, frac, config_of(args).data.split_seed, *query)
    print(f"wrote {res.train} train and {res.test} test structures to {args.out} ({res.failed_skipped} failed rows skipped)")
    return vars(res)


def run_stats(args):
    stats = open_store(args, create=False).stats()
    print_json(stats)
    return stats
