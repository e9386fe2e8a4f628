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
    p.add_argument("--no-validate", action="store_true", help="skip validation of the final model against the teacher")
    p.set_defaults(func=run)


def run(args):
    from interforge.active import ActiveLearner
    from interforge.active.seed import run_seed
    from interforge.workflow import make_executor

    cfg, workdir, store, structures = open_project(args)
    with make_executor(cfg.workflow, run_dir=workdir / "runinfo") as executor:
        seed = run_seed(cfg, workdir, store, structures, executor)
        learner = ActiveLearner(cfg, workdir, store, structures, executor)
        result = learner.run(args.max_iterations)
    rows = [{k: it.get(k) for k in ("iteration", "n_train", "n_candidates", "n_selected", "n_failed",
                                     "holdout_force_rmse_meV_A")} for it in result.iterations]
    for r in rows:
        print("iteration {iteration}: train {n_train}, candidates {n_candidates}, selected {n_selected}, "
              "failed {n_failed}, hold-out force RMSE {holdout_force_rmse_meV_A} meV/Å".format(**r))
    out = {"workdir": str(workdir), "store": store.url, "seed": {"n_selected": seed.n_selected,
                                                                 "n_labelled": seed.n_labelled},
           "iterations": rows, "converged": result.converged, "final_models": result.final_models,
           "summary": result.summary_path}
    if not args.no_validate and result.final_models:
        out["validation"] = _validate(cfg, workdir, learner, structures, result.final_models[0])
    print(f"{'converged' if result.converged else 'stopped'} after {len(rows)} iteration(s); summary: {result.summary_path}")
    return out


def _validate(cfg, workdir, learner, structures, model):
    from interforge.active.validate import validate_model
    from interforge.teacher import make_calculator

    bulk = {k: v for k, v in structures.items() if "__" not in k}
    neb = [k for k in bulk if "Li2ZrCl6" in k][: cfg.active.validate_neb_phases]
    rep = validate_model(model, make_calculator(cfg.teacher), bulk, learner.holdout_set(), workdir / "validation",
                         neb_phases=neb, relax_steps=cfg.active.validate_relax_steps)
    return {"holdout_rmse": rep.holdout_rmse, "phase_energies_meV_atom": rep.phase_energies_meV_atom,
            "neb": [{"phase": n.phase, "barrier_nep_eV": n.barrier_nep_eV, "barrier_teacher_eV": n.barrier_teacher_eV}
                    for n in rep.neb],
            "ev": [{"phase": c.phase, "v0_teacher": c.v0_teacher, "v0_nep": c.v0_nep, "b_teacher_GPa": c.b_teacher_GPa,
                    "b_nep_GPa": c.b_nep_GPa} for c in rep.ev_curves]}
