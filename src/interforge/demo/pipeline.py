"""The main job: bulk phases → a small interface → seed labels from the embedded teacher → active
learning → production MD with the learned NEP → analysis → one self-contained HTML report.

Every stage is checkpointed in ``OUT/manifest.json``; expensive inner work (MD runs, labels) sits in
ledgers and the store, so ``interforge demo`` after a kill resumes where it stopped.
"""

from __future__ import annotations

import logging
import time
import tomllib
from dataclasses import dataclass
from importlib import resources
from pathlib import Path


from interforge.active.manifest import Manifest, Timer
from interforge.config import InterforgeConfig, config_from_dict
from interforge.errors import InterforgeError

log = logging.getLogger(__name__)

SCALES = ("laptop", "tiny")
STAGES = ("bulk", "seed", "learn", "validate", "md", "analysis", "report")


def demo_config_text(scale: str) -> str:
    if scale not in SCALES:
        raise InterforgeError(f"unknown demo scale '{scale}' (choose from {', '.join(SCALES)}, or 'paper')")
    return resources.files("interforge.demo").joinpath(f"{scale}.toml").read_text()


def demo_config(scale: str = "laptop") -> InterforgeConfig:
    """The embedded configuration of a demo scale (paper defaults for every key it does not set)."""
    return config_from_dict(tomllib.loads(demo_config_text(scale)), source=f"demo/{scale}.toml")


@dataclass
class DemoResult:
    out_dir: str
    report: str
    manifest: dict


class Demo:
    """The demo in ``out_dir`` at ``scale``; ``run()`` executes (or resumes) every stage."""

    def __init__(self, out_dir: str | Path, scale: str = "laptop", force: bool = False):
        self.out = Path(out_dir).resolve()
        self.scale = scale
        self.force = force
        self.cfg = demo_config(scale)
        self.m = Manifest(self.out, -1)
        self.m.data.setdefault("scale", scale)
        self.m.data.setdefault("started", time.strftime("%Y-%m-%d %H:%M:%S"))
        self._executor = None

    # -- helpers ---------------------------------------------------------------------------
    def _store(self):
        from interforge.active.project import open_store

        return open_store(self.cfg, self.out)

    def _structures(self):
        from interforge.active.project import project_structures

        return project_structures(self.cfg, self.out)

    def _stage(self, name: str, fn) -> None:
        if self.m.done(name):
            log.info("demo stage '%s' already done", name)
            return
        log.info("demo stage '%s' ...", name)
        t = Timer()
        results = fn() or {}
        self.m.mark(name, t.elapsed, **{name: results})
        log.info("demo stage '%s' done in %.0f s", name, t.elapsed)

    def run(self) -> DemoResult:
        from interforge.workflow import make_executor

        with make_executor(self.cfg.workflow, run_dir=self.out / "runinfo") as ex:
            self._executor = ex
            self._stage("bulk", self.stage_bulk)
            self._stage("seed", self.stage_seed)
            self._stage("learn", self.stage_learn)
            self._stage("validate", self.stage_validate)
            if self.force and (self.m["md"] or {}).get("refused"):
                self.m.reopen(("md", "analysis", "report"))  # refused before, forced now
            self._stage("md", self.stage_md)
            self._stage("analysis", self.stage_analysis)
            self._stage("report", self.stage_report)
        return DemoResult(str(self.out), str(self.out / "report.html"), self.m.data)

    # -- stages ----------------------------------------------------------------------------
    def stage_bulk(self) -> dict:
        from interforge.structures import build_bulk, enumerate_orderings, get_phase, list_phases, write_structure

        folder = self.out / "bulk"
        phases = []
        for p in list_phases():
            struct, ordering = build_bulk(p.name, ordered=True)
            write_structure(struct, folder / f"{p.name}.cif")
            phases.append({**p.summary(), "n_atoms_ordered_cell": len(struct)})
        alpha = enumerate_orderings(get_phase("alpha-Li2ZrCl6").structure())
        return {"phases": phases, "alpha_orderings": {"n_distinct": len(alpha),
                                                      "top": [o.summary() for o in alpha[:5]]}}

    def stage_seed(self) -> dict:
        from interforge.active.seed import run_seed

        res = run_seed(self.cfg, self.out, self._store(), self._structures(), self._executor)
        return {"n_pool": res.n_pool, "n_selected": res.n_selected, "n_labelled": res.n_labelled,
                "n_failed": res.n_failed, "map": res.map_path}

    def stage_learn(self) -> dict:
        from interforge.active import ActiveLearner

        learner = ActiveLearner(self.cfg, self.out, self._store(), self._structures(), self._executor)
        res = learner.run(validate=True)
        return {"converged": res.converged, "final_models": res.final_models, "summary": res.summary_path,
                "validation": res.validation,
                "iterations": [{k: it.get(k) for k in ("iteration", "n_train", "n_candidates", "n_selected", "n_failed",
                                                       "holdout_force_rmse_meV_A", "holdout_energy_rmse_meV_atom", "final",
                                                       "gate_round")}
                               for it in res.iterations]}

    def _model(self) -> str:
        return self.m["learn"]["final_models"][0]

    def stage_validate(self) -> dict:
        from interforge.validation.project import validate_in_project

        done = self.m["learn"].get("validation")
        if done and done.get("model") == str(Path(self._model()).resolve()):
            return done  # learn validated its final model (and ran the gate rounds)
        rec = validate_in_project(self.cfg, self.out, self._model(), self.out / "validation", self._executor)
        return rec.to_dict()

    def failed_gates(self) -> list[str]:
        """The validation gates the final model failed (empty when it passed every one)."""
        return list(self.m["validate"].get("failed", []))

    def production_runs(self) -> list[dict]:
        """(name, structure, ensemble, T, steps) of every production run."""
        from ase.io import read

        from interforge.active.project import bulk_cell
        from interforge.structures.supercell import supercell_for

        p = self.cfg.production
        dt = self.cfg.md.timestep_fs
        folder = self.out / "production_structures"
        folder.mkdir(parents=True, exist_ok=True)
        runs = []
        for phase in p.bulk_phases:
            path = folder / f"{phase}.xyz"
            if not path.exists():
                supercell_for(bulk_cell(phase, self.cfg), p.bulk_target_atoms).write(path, format="extxyz")
            for t in p.bulk_temperatures_K:
                runs.append({"name": f"{phase}_{t:g}K", "kind": "bulk", "phase": phase, "structure": str(path),
                             "ensemble": p.bulk_ensemble, "T": t, "steps": int(round(p.bulk_ps * 1000 / dt))})
        interfaces = [k for k in self._structures() if "__" in k]
        for name in interfaces:
            src = self.out / "structures" / f"{name}.xyz"
            atoms = read(src)
            path = folder / f"{name}.xyz"
            if not path.exists():
                atoms.repeat((2, 2, 1)).write(path, format="extxyz")
            for t in p.interface_temperatures_K:
                runs.append({"name": f"{name}_{t:g}K", "kind": "interface", "phase": name, "structure": str(path),
                             "ensemble": "nvt", "T": t, "steps": int(round(p.interface_ps * 1000 / dt))})
        return runs

    def stage_md(self) -> dict:
        from interforge.demo.production_md import run_production
        from interforge.workflow.ledger import Ledger, Task, run_tasks

        runs = self.production_runs()
        structures = {r["phase"]: r["structure"] for r in runs}  # the production cells, run or not
        failed = self.failed_gates()
        if failed and not self.force:
            log.error("the final model failed validation gate(s) %s: production MD refused (--force runs it anyway)",
                      ", ".join(failed))
            return {"runs": [], "model": self._model(), "structures": structures, "refused": failed,
                    "forced_past_gates": []}
        dump = max(1, int(round(self.cfg.production.dump_ps * 1000 / self.cfg.md.timestep_fs)))
        model = self._model()
        tasks = [Task(name=r["name"], fn=run_production, spec={**r, "model": model, "dump": dump},
                      args=(r["structure"], model, r["ensemble"], r["T"], r["steps"], dump, self.cfg.md,
                            self.cfg.project.seed + k), pass_task_dir=True)
                 for k, r in enumerate(runs)]
        # The longest runs first (atoms x steps): the interface run is several bulk runs long, and started
        # last it would run alone on one core at the end while the other waits.
        order = sorted(range(len(runs)), key=lambda k: -_n_atoms(runs[k]["structure"]) * runs[k]["steps"])
        ran = run_tasks(self._executor, Ledger(self.out / "md"), [tasks[k] for k in order], progress=True)
        outcomes = [o for _, o in sorted(zip(order, ran), key=lambda pair: pair[0])]
        out = []
        for r, o in zip(runs, outcomes):
            row = {**r, "state": o.state, "error": o.error}
            if o.state == "done":
                row.update({k: o.result.get(k) for k in ("steps_done", "mean_temperature_K", "mean_volume_A3",
                                                           "stopped_by", "trajectory_path", "steps_per_s", "ok")})
            out.append(row)
        return {"runs": out, "model": model, "structures": structures, "refused": [], "forced_past_gates": failed}

    def stage_analysis(self) -> dict:
        from interforge.demo.summaries import analyse_runs

        return analyse_runs(self.m["md"]["runs"], self.cfg, self.out / "analysis",
                            self.m.data.get("validate"))

    def stage_report(self) -> dict:
        from interforge.demo.report import write_demo_report

        path = write_demo_report(self)
        return {"path": str(path)}


def _n_atoms(path: str) -> int:
    from ase.io import read

    return len(read(path))


def run_demo(out_dir: str | Path, scale: str = "laptop", force: bool = False) -> DemoResult:
    """Run (or resume) the demo; returns where the report is. ``force`` runs production MD even when the
    final model failed a validation gate (the report then opens with the failures)."""
    return Demo(out_dir, scale, force).run()


def paper_values() -> dict:
    """The reference paper's results the report compares with (alpha: sigma_RT 0.803 mS/cm, Ea 0.29 eV;
    ideal: 0.066 mS/cm, Ea about 0.20 eV higher; experiment for alpha: 0.29-0.81 mS/cm, 0.35 eV)."""
    return {"alpha-Li2ZrCl6": {"sigma_RT_mS_cm": 0.803, "Ea_eV": 0.29},
            "ideal-Li2ZrCl6": {"sigma_RT_mS_cm": 0.066, "Ea_eV": 0.49},
            "experiment_alpha": {"sigma_RT_mS_cm": "0.29-0.81", "Ea_eV": 0.35}}
