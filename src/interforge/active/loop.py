"""The query-by-committee loop: train → evaluate → explore → select → label, one folder per iteration.

``WORKDIR/iterations/NNN/manifest.json`` records the finished steps; every step writes its outputs
before it is marked, so ``ActiveLearner.run()`` after a kill resumes at the step it was in.
Exploration runs are workflow tasks in a content-addressed ledger (a re-run skips finished ones);
labelling skips structures already in the store. With fixed seeds an interrupted run ends with
the same store as an uninterrupted one.
"""

from __future__ import annotations

import json
import logging
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
from ase import Atoms
from ase.io import read, write

from interforge.active.explore import run_exploration
from interforge.active.gated import ALL_GATE_DATA, gate_structures
from interforge.active.manifest import Manifest, Timer
from interforge.active.schedule import exploration_tasks
from interforge.active.select import Candidates, collect_candidates, random_selection, select_for_labelling
from interforge.config import InterforgeConfig
from interforge.data import LabelStore, split_fraction
from interforge.errors import InterforgeError
from interforge.fileio import atomic_path, atomic_write_json

log = logging.getLogger(__name__)


@dataclass
class LoopResult:
    """Outcome of ``ActiveLearner.run``: the per-iteration manifests and whether the loop converged."""

    iterations: list[dict] = field(default_factory=list)  # the last is the final committee when one was trained
    converged: bool = False
    final_models: list[str] = field(default_factory=list)
    summary_path: str = ""
    validation: dict | None = None  # the last validation record of the final model (``run(validate=True)``)


def _errors(structures: list[Atoms], calc) -> tuple[float | None, float | None, int]:
    """(force RMSE meV/Å, energy RMSE meV/atom, count) of ``calc`` against the labels of ``structures``."""
    if not structures:
        return None, None, 0
    df, de = [], []
    for atoms in structures:
        probe = atoms.copy()
        probe.calc = calc
        df.append((probe.get_forces() - atoms.get_forces()).ravel())
        de.append((probe.get_potential_energy() - atoms.get_potential_energy()) / len(atoms))
    return (float(np.sqrt(np.mean(np.concatenate(df) ** 2)) * 1000), float(np.sqrt(np.mean(np.square(de))) * 1000),
            len(structures))


def _write_xyz(structures: list[Atoms], path: Path) -> None:
    with atomic_path(path) as tmp:
        write(tmp, structures, format="extxyz")


class ActiveLearner:
    """Runs the loop for ``config`` in ``workdir`` on the labelled store ``store``.

    ``structures`` maps a name to an exploration cell (bulk phases, interfaces); ``executor`` is a
    :mod:`interforge.workflow` executor (in-process when None).
    """

    def __init__(self, config: InterforgeConfig, workdir: str | Path, store: LabelStore,
                 structures: dict[str, Atoms], executor=None):
        if not structures:
            raise InterforgeError("the learning loop needs at least one exploration structure")
        self.cfg = config
        self.workdir = Path(workdir)
        self.store = store
        self.executor = executor
        self.structure_paths = self._freeze_structures(structures)
        self.holdout_hashes = self._freeze_holdout()
        self._independent: dict[str, list[Atoms]] | None = None  # the validation's frames, read on first use
        self._cells: dict[str, Atoms] | None = None  # the project's bulk cells, built on first use

    # -- fixed inputs ---------------------------------------------------------------------
    def _freeze_structures(self, structures: dict[str, Atoms]) -> dict[str, str]:
        folder = self.workdir / "explore_structures"
        folder.mkdir(parents=True, exist_ok=True)
        paths = {}
        for name, atoms in structures.items():
            path = folder / f"{name}.xyz"
            if not path.exists():
                _write_xyz([atoms], path)
            paths[name] = str(path.resolve())
        return paths

    def _freeze_holdout(self) -> set[str]:
        """The hold-out set, frozen on disk at the first start: the seed step's hold-out labels (stage
        ``holdout``) when there are any, else a hash-chosen fraction of the labels present."""
        path = self.workdir / "holdout.json"
        if path.exists():
            return set(json.loads(path.read_text())["struct_hashes"])
        dedicated = sorted({r.struct_hash for r in self.store.rows(status="ok", stage="holdout")})
        if dedicated:
            atomic_write_json(path, {"source": "seed pool", "struct_hashes": dedicated})
            return set(dedicated)
        frac = self.cfg.active.holdout_fraction
        rows = [r.struct_hash for r in self.store.rows(status="ok")]
        chosen = sorted(h for h in rows if split_fraction(h, "holdout") < frac)
        if frac > 0 and not chosen and len(rows) >= 2:
            chosen = sorted(rows, key=lambda h: split_fraction(h, "holdout"))[:1]
        atomic_write_json(path, {"fraction": frac, "struct_hashes": chosen})
        return set(chosen)

    def training_set(self) -> list[Atoms]:
        return [a for a in self.store.labelled() if a.info["struct_hash"] not in self.holdout_hashes]

    def holdout_set(self) -> list[Atoms]:
        return [a for a in self.store.labelled() if a.info["struct_hash"] in self.holdout_hashes]

    # -- the loop ---------------------------------------------------------------------------
    def run(self, max_iterations: int | None = None, validate: bool = False) -> LoopResult:
        """Iterate (resuming finished steps), train the final committee and, with ``validate``, validate it and
        run gate-directed rounds while a gate fails (``[active] gate_rounds``)."""
        n_max = max_iterations or self.cfg.active.max_iterations
        result = LoopResult()
        for i in range(n_max):
            manifest = self.run_iteration(i)
            result.iterations.append(dict(manifest.data))
            result.final_models = manifest["models"]
            if manifest["converged"]:
                result.converged = True
                log.info("converged at iteration %d: no candidate above %.3g eV/Å over the whole schedule",
                         i, self.cfg.active.threshold)
                break
        final = self._final_committee(len(result.iterations))
        if final is not None:
            result.iterations.append(final)
            result.final_models = final["models"]
        if validate and result.final_models:
            self._validate_and_mend(result)
        result.summary_path = str(self._write_summary(result))
        return result

    def _validate_and_mend(self, result: LoopResult) -> None:
        """Validate the final model; while a gate fails and rounds are left, label what the failing gates
        measure (:mod:`interforge.active.gated`), train a new final committee on every label and validate
        it. Each round is a resumable step list in ``WORKDIR/gates/NN``."""
        from interforge.validation.project import validate_in_project

        rounds = self.cfg.active.gate_rounds
        project_cells = self._project_cells
        for r in range(rounds + 1):
            m = Manifest(self.workdir / "gates" / f"{r:02d}", r)
            model = result.final_models[0]
            if not m.done("validate"):
                t = Timer()
                rec = validate_in_project(self.cfg, self.workdir, model, self.workdir / "validation", self.executor,
                                          project_cells())
                m.mark("validate", t.elapsed, model=model, validation=rec.to_dict())
            result.validation = m["validation"]
            failed = result.validation.get("failed", [])
            if not failed:
                log.info("gate round %d: the model passed every gate", r)
                return
            if r == rounds:
                log.warning("the final model still fails %s after %d gate round(s)", ", ".join(failed), rounds)
                return
            seed = self.cfg.project.seed + 7000 + 100 * r
            if not m.done("data"):
                t = Timer()
                from interforge.nep import NEPCalculator

                frames = gate_structures(failed, NEPCalculator(model), self.cfg, project_cells(), m.dir, seed,
                                         self.executor)
                _write_xyz(frames, m.dir / "gate_structures.xyz")
                m.mark("data", t.elapsed, n_gate_structures=len(frames), failed=failed)
            if not m.done("label"):
                t = Timer()
                frames = read(m.dir / "gate_structures.xyz", ":") if m["n_gate_structures"] else []
                n_ok, n_failed = self._label(frames, len(result.iterations) + r, stage="gate")
                m.mark("label", t.elapsed, n_labelled=n_ok, n_failed=n_failed)
            if not m.done("train"):
                t = Timer()
                train = self.training_set()
                committee = self._train(train, m.dir / "committee", seed, bootstrap=False,
                                        init_models=self._finetune_from(result.final_models))
                m.mark("train", t.elapsed, models=committee.best_first(), n_train=len(train), final=True,
                       gate_round=r + 1)
            if not m.done("evaluate"):
                t = Timer()
                errors = self._evaluate_holdout(m["models"])
                m.mark("evaluate", t.elapsed, **errors)
            result.iterations.append(dict(m.data))
            result.final_models = m["models"]

    def _final_committee(self, index: int) -> dict | None:
        """A last committee trained on every label, when the last iteration labelled structures after its
        own training (otherwise those labels would never be learned). Resumable like an iteration."""
        last = Manifest(self.iteration_dir(index - 1), index - 1)
        if not last["n_labelled"]:
            return None
        m = Manifest(self.workdir / "final", index)
        if not m.done("train"):
            t = Timer()
            train = self.training_set()
            # Every member sees every label (no bootstrap): a resample would leave about a third of the
            # structures (anchors among them) out of the production model, which is the member with the
            # lowest test loss (listed first).
            committee = self._train(train, m.dir / "committee", self.cfg.project.seed + 1000 * index,
                                    bootstrap=False)
            m.mark("train", t.elapsed, models=committee.best_first(), n_train=len(train),
                   train_metrics=committee.metrics_path, final=True)
        if not m.done("evaluate"):
            t = Timer()
            errors = self._evaluate_holdout(m["models"])
            m.mark("evaluate", t.elapsed, **errors)
        return dict(m.data)

    def iteration_dir(self, i: int) -> Path:
        return self.workdir / "iterations" / f"{i:03d}"

    def run_iteration(self, i: int) -> Manifest:
        d = self.iteration_dir(i)
        m = Manifest(d, i)
        if m.complete:
            return m
        log.info("iteration %d in %s (done so far: %s)", i, d, ", ".join(m["steps_done"]) or "nothing")
        seed = self.cfg.project.seed + 1000 * i

        if not m.done("train"):
            t = Timer()
            train = self.training_set()
            committee = self._train(train, d / "committee", seed)
            m.mark("train", t.elapsed, models=committee.nep_paths, n_train=len(train),
                   train_metrics=committee.metrics_path)
        models = m["models"]

        if not m.done("evaluate"):
            t = Timer()
            errors = self._evaluate_holdout(models)
            m.mark("evaluate", t.elapsed, **errors)

        if not m.done("explore"):
            t = Timer()
            outcomes = self._explore(d / "explore", models, seed)
            m.mark("explore", t.elapsed, explore=outcomes)

        if not m.done("select"):
            t = Timer()
            trajs = [(o["task_id"], Path(o["trajectory"])) for o in m["explore"] if o.get("trajectory")]
            a = self.cfg.active
            cands = collect_candidates(trajs, a.threshold, a.threshold_upper)
            if a.selection == "random":
                sel = random_selection(trajs, a.budget, a.close_contact_factor, seed)
                sel.n_candidates = len(cands.structures)  # convergence is still judged by the committee
            else:
                sel = select_for_labelling(cands, models[0], self.training_set(), a.budget, a.close_contact_factor, seed)
            _write_xyz(sel.structures, d / "selected.xyz")
            np.save(d / "deviations.npy", np.asarray(cands.all_deviations, dtype=float))
            self._plot_iteration(d, cands)
            m.mark("select", t.elapsed, n_candidates=sel.n_candidates, n_close_contact=sel.n_close_contact,
                   n_selected=len(sel.structures), selected_origins=sel.origins,
                   converged=sel.n_candidates == 0)

        if self.cfg.active.gate_data_each_iteration and not m.done("gate_data"):
            t = Timer()
            from interforge.nep import NEPCalculator

            frames = gate_structures(list(ALL_GATE_DATA), NEPCalculator(models[0]), self.cfg, self._project_cells(),
                                     d, seed + 500, self.executor)
            _write_xyz(frames, d / "gate_structures.xyz")
            m.mark("gate_data", t.elapsed, n_gate_structures=len(frames))

        if not m.done("label"):
            t = Timer()
            selected = read(d / "selected.xyz", ":") if m["n_selected"] else []
            n_ok, n_failed = self._label(selected, i)
            if m.done("gate_data") and m["n_gate_structures"]:
                g_ok, g_failed = self._label(read(d / "gate_structures.xyz", ":"), i, stage="gate")
                n_ok, n_failed = n_ok + g_ok, n_failed + g_failed
            m.mark("label", t.elapsed, n_labelled=n_ok, n_failed=n_failed)
        return m

    def _project_cells(self) -> dict:
        """Name → bulk cell of every project and validation phase, built once (a resumed loop may need none)."""
        if self._cells is None:
            from interforge.validation.project import project_phases

            self._cells = project_phases(self.cfg)
        return self._cells

    # -- steps ---------------------------------------------------------------------------
    def _finetune_from(self, models: list[str]) -> list[str] | None:
        """The previous committee's members when gate rounds fine-tune (``gate_finetune_fraction`` > 0)."""
        return list(models) if self.cfg.active.gate_finetune_fraction > 0 and len(models) == self.cfg.nep.committee else None

    def _train(self, train: list[Atoms], out: Path, seed: int, bootstrap: bool | None = None,
               init_models: list[str] | None = None):
        """A committee on ``train``; with ``init_models`` each member fine-tunes its predecessor for
        ``gate_finetune_fraction`` of the steps from a tenth of the learning rate."""
        from interforge.nep import train_committee
        from interforge.nep.committee import resolve_preset

        # A new seed per iteration: members are independent draws, not re-runs of the previous committee.
        update = {"seed": seed} if bootstrap is None else {"seed": seed, "bootstrap": bootstrap and self.cfg.nep.bootstrap}
        if init_models:
            nep = resolve_preset(self.cfg.nep)
            update.update(generation=max(1, int(round(nep.generation * self.cfg.active.gate_finetune_fraction))),
                          learning_rate=[nep.learning_rate[0] / 10, nep.learning_rate[1]])
        settings = self.cfg.nep.model_copy(update=update)
        return train_committee(train, out, settings, executor=self.executor, init_model=init_models)

    def _evaluate_holdout(self, models: list[str]) -> dict:
        """Committee errors on the seed hold-out labels and on the independent validation frames; the
        headline ``holdout_*`` keys follow ``[active] holdout``."""
        from interforge.nep import CommitteeCalculator

        calc = CommitteeCalculator(models)
        seed = _errors(self.holdout_set(), calc)
        out = {"seed_holdout_force_rmse_meV_A": seed[0], "seed_holdout_energy_rmse_meV_atom": seed[1],
               "n_seed_holdout": seed[2]}
        if self.cfg.active.holdout == "independent":
            frames = [a for fr in self.independent_holdout().values() for a in fr]
            ind = _errors(frames, calc)
            out.update(independent_holdout_force_rmse_meV_A=ind[0], independent_holdout_energy_rmse_meV_atom=ind[1],
                       n_independent_holdout=ind[2])
            head = ind
        else:
            head = seed
        out.update(holdout_force_rmse_meV_A=head[0], holdout_energy_rmse_meV_atom=head[1], n_holdout=head[2],
                   holdout_kind=self.cfg.active.holdout)
        return out

    def independent_holdout(self) -> dict[str, list[Atoms]]:
        """The validation's teacher NVT frames (computed once, cached in ``WORKDIR/validation``)."""
        if self._independent is None:
            from interforge.active.project import bulk_cell
            from interforge.teacher import make_calculator
            from interforge.validation.runner import holdout_frames

            phases = {n: bulk_cell(n, self.cfg) for n in self.cfg.gate_phases}
            self._independent = holdout_frames(self.cfg, phases, make_calculator(self.cfg.teacher),
                                               self.workdir / "validation", self.executor)
        return self._independent

    def _explore(self, out: Path, models: list[str], seed: int) -> list[dict]:
        from interforge.workflow import make_executor
        from interforge.workflow.ledger import Ledger, Task, run_tasks

        tasks = exploration_tasks(sorted(self.structure_paths), self.cfg.active, self.cfg.md.timestep_fs)
        ledger = Ledger(out)
        work = [
            Task(name=t.task_id, fn=run_exploration,
                 spec={"task": t.to_dict(), "models": models, "seed": seed + k},
                 args=(t.to_dict(), self.structure_paths[t.structure], models, self.cfg.md, seed + k),
                 pass_task_dir=True)
            for k, t in enumerate(tasks)
        ]
        executor = self.executor or make_executor(None)
        outcomes = run_tasks(executor, ledger, work, progress=True)
        summary = []
        for t, o in zip(tasks, outcomes):
            row = {"task_id": t.task_id, "state": o.state, "error": o.error}
            if o.state == "done":
                row.update(o.result)
            summary.append(row)
        failed = [s for s in summary if s["state"] != "done"]
        if failed:
            log.warning("%d exploration task(s) failed: %s", len(failed), "; ".join(f"{s['task_id']}: {s['error']}" for s in failed))
        return summary

    def _label(self, structures: list[Atoms], iteration: int, stage: str = "active") -> tuple[int, int]:
        if not structures:
            return 0, 0
        from interforge.teacher import label_structures

        report = label_structures(structures, self.store, self.cfg.teacher, executor=self.executor,
                                  stage=stage, iteration=iteration,
                                  source=f"iteration {iteration:03d}" if stage == "active" else f"{stage} {iteration:03d}")
        return report.n_labelled, report.n_failed

    # -- figures ---------------------------------------------------------------------------
    def _plot_iteration(self, d: Path, cands: Candidates) -> None:
        from interforge.report.learning import plot_deviation_histogram

        plot_deviation_histogram(np.asarray(cands.all_deviations), self.cfg.active.threshold, d / "deviations.png",
                                 title=f"iteration {d.name}")

    def _write_summary(self, result: LoopResult) -> Path:
        from interforge.report.learning import plot_learning_summary

        rows = [{k: it.get(k) for k in ("iteration", "n_train", "n_candidates", "n_selected", "n_failed",
                                         "holdout_force_rmse_meV_A", "holdout_energy_rmse_meV_atom", "converged", "final",
                                         "gate_round")}
                for it in result.iterations]
        summary = {"converged": result.converged, "iterations": rows, "final_models": result.final_models}
        if result.validation is not None:
            summary.update(gates_passed=result.validation.get("passed"), gates_failed=result.validation.get("failed"))
        path = atomic_write_json(self.workdir / "summary.json", summary)
        plot_learning_summary(rows, self.workdir / "summary.png")
        return path
