"""Labels needed to reach a hold-out force-RMSE target: query by committee + farthest-point selection
against random selection with the same per-iteration budget, from the same seed data, in one run.

    python -m bench active [-- CONFIG [ITERATIONS]]      (default: examples/small/interforge.toml, 5)

Goal (issue 8): the committee needs at most half the labels random selection needs.
"""

from __future__ import annotations

import shutil
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def _run(cfg, workdir: Path, structures, iterations: int) -> list[dict]:
    from interforge.active import ActiveLearner
    from interforge.active.project import open_store

    learner = ActiveLearner(cfg, workdir, open_store(cfg, workdir), structures)
    rows = []
    for i in range(iterations):
        m = learner.run_iteration(i)
        n_labels = learner.store.count(status="ok") - len(learner.holdout_hashes)
        rows.append({"iteration": i, "n_train_labels_before": m["n_train"],
                     "rmse_meV_A": m["holdout_force_rmse_meV_A"], "n_labels_after": n_labels})
        if m["converged"]:
            break
    return rows


def labels_to_reach(rows: list[dict], target: float) -> int | None:
    """Training labels in use when the hold-out RMSE first drops to ``target`` (None if never)."""
    for r in rows:
        if r["rmse_meV_A"] is not None and r["rmse_meV_A"] <= target:
            return r["n_train_labels_before"]
    return None


def main(argv: list[str] | None = None) -> None:
    from interforge.active.project import open_store, project_structures
    from interforge.active.seed import run_seed
    from interforge.config import load_config

    argv = argv or []
    config = Path(argv[0]) if argv else ROOT / "examples" / "small" / "interforge.toml"
    iterations = int(argv[1]) if len(argv) > 1 else 5
    cfg = load_config(config)
    base = Path(tempfile.mkdtemp(prefix="bench-active-"))
    t0 = time.perf_counter()
    seed_dir = base / "seed"
    structures = project_structures(cfg, seed_dir)
    run_seed(cfg, seed_dir, open_store(cfg, seed_dir), structures)
    results = {}
    for mode in ("committee", "random"):
        work = base / mode
        shutil.copytree(seed_dir, work)
        mcfg = cfg.model_copy(deep=True)
        mcfg.active.selection = mode
        mcfg.active.max_iterations = iterations
        results[mode] = _run(mcfg, work, structures, iterations)
        print(f"{mode:9s} " + "  ".join(f"it{r['iteration']}: {r['n_train_labels_before']} labels, "
                                         f"{r['rmse_meV_A']:.0f} meV/Å" for r in results[mode]))
    best_committee = min(r["rmse_meV_A"] for r in results["committee"])
    target = max(best_committee, min(r["rmse_meV_A"] for r in results["random"]))
    n_c = labels_to_reach(results["committee"], target)
    n_r = labels_to_reach(results["random"], target)
    print(f"target hold-out force RMSE: {target:.0f} meV/Å (the worse of the two best values)")
    print(f"labels to reach it: committee {n_c}, random {n_r}")
    if n_c and n_r:
        print(f"ratio committee / random: {n_c / n_r:.2f} (goal <= 0.5)")
    print(f"wall time {time.perf_counter() - t0:.0f} s; outputs in {base}")


if __name__ == "__main__":
    main(sys.argv[1:])
