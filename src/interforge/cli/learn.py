"""``interforge learn``: the query-by-committee loop (seeding first when the store is empty)."""

from __future__ import annotations

from interforge.cli.common import open_project


def register(sub, parents):
    p = sub.add_parser("learn", parents=parents, help="run the query-by-committee learning loop (resumable)",
                       description="Seed (if needed), then iterate: train a NEP committee, explore with MD, select "
                                   "frames above the force-deviation threshold (close-contact filter, farthest-point "
                                   "selection), label, retrain; stop when no candidate remains or at max_iterations. "
                                   "Re-running after a kill resumes at the step it was in.")
    p.add_argument("--max-iterations", type=int, help="override [active] max_iterations")
    p.add_argument("--no-validate", action="store_true",
                   help="skip the validation gates of the final model (see `interforge validate`) and the gate-directed "
                        "rounds that follow a failed gate ([active] gate_rounds); without it, exit code 3 when a gate "
                        "still fails")
    p.set_defaults(func=run)


def run(args):
    from interforge.active import ActiveLearner
    from interforge.active.seed import run_seed
    from interforge.workflow import make_executor

    cfg, workdir, store, structures = open_project(args)
    with make_executor(cfg.workflow, run_dir=workdir / "runinfo") as executor:
        seed = run_seed(cfg, workdir, store, structures, executor)
        learner = ActiveLearner(cfg, workdir, store, structures, executor)
        result = learner.run(args.max_iterations, validate=not args.no_validate)
    rows = [{k: it.get(k) for k in ("iteration", "n_train", "n_candidates", "n_selected", "n_failed",
                                     "holdout_force_rmse_meV_A", "final")} for it in result.iterations]
    for r in rows:
        print("iteration {iteration}: train {n_train}, candidates {n_candidates}, selected {n_selected}, "
              "failed {n_failed}, hold-out force RMSE {holdout_force_rmse_meV_A} meV/Å".format(**r))
    out = {"workdir": str(workdir), "store": store.url, "seed": {"n_selected": seed.n_selected,
                                                                 "n_labelled": seed.n_labelled},
           "iterations": rows, "converged": result.converged, "final_models": result.final_models,
           "summary": result.summary_path}
    if result.validation is not None:
        out["validation"] = result.validation
        passed = bool(result.validation.get("passed"))
        rounds = sum(1 for it in result.iterations if it.get("gate_round"))
        print(f"validation gates: {'all passed' if passed else 'FAILED ' + ', '.join(result.validation['failed'])}"
              f" after {rounds} gate-directed round(s) ({workdir / 'validation' / 'validation.json'})")
        args.exit_code = 0 if passed else 3
    print(f"{'converged' if result.converged else 'stopped'} after {len(rows)} iteration(s); summary: {result.summary_path}")
    return out
