"""``interforge seed``: teacher MD + perturbations → SOAP/PCA/k-means selection → labels."""

from __future__ import annotations

from interforge.cli.common import open_project


def register(sub, parents):
    p = sub.add_parser("seed", parents=parents, help="generate, select and label the seed training set",
                       description="Teacher MD at the configured temperatures and strain/rattle perturbations of every "
                                   "project structure; SOAP descriptors, PCA (2D) and k-means pick representatives, "
                                   "which the teacher labels into the store. Resumes after a kill.")
    p.set_defaults(func=run)


def run(args):
    from interforge.active.seed import run_seed
    from interforge.workflow import make_executor

    cfg, workdir, store, structures = open_project(args)
    with make_executor(cfg.workflow, run_dir=workdir / "runinfo") as executor:
        res = run_seed(cfg, workdir, store, structures, executor)
    print(f"seed: {res.n_selected} of {res.n_pool} structures selected, {res.n_labelled} labelled, "
          f"{res.n_failed} failed; map: {res.map_path}")
    if res.n_failed:
        # the same verdict as `label` (README's exit codes): a script can tell that labels are missing
        import sys

        print(f"interforge: {res.n_failed} seed structure(s) could not be labelled (reasons in the store)", file=sys.stderr)
        args.exit_code = 5
    return {"n_pool": res.n_pool, "n_selected": res.n_selected, "n_labelled": res.n_labelled,
            "n_failed": res.n_failed, "map": res.map_path, "selected": res.selected_path, "store": store.url}
