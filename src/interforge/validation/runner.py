"""``interforge validate``: measure a NEP against its teacher on what production will ask of it.

Inputs the NEP never saw: teacher NVT at each gate temperature with a seed of its own (hold-out frames
for the force and pressure gates), NEP NPT at the same temperatures and, longer, at a margin above the
top one (density and solid gates, the teacher re-evaluating some of its frames), relaxed phase energies and a Li-hop NEB. Each piece is
cached in the validation folder, so a killed validation resumes. The record is written to
``OUT/validation.json`` and, in short, beside the model as ``<model>.validation.json``; ``md`` and
production read it from there.
"""

from __future__ import annotations

import json
import logging
import os
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
from ase import Atoms
from ase.calculators.singlepoint import SinglePointCalculator
from ase.io import read, write

from interforge.config import InterforgeConfig
from interforge.errors import InterforgeError
from interforge.fileio import atomic_path, atomic_write_json
from interforge.validation import gates as G

log = logging.getLogger(__name__)

RECORD_SUFFIX = ".validation.json"
_GPA = 160.21766208  # eV/Å³ -> GPa


@dataclass
class ValidationRecord:
    model: str
    gates: list[G.Gate]
    figures: list[str] = field(default_factory=list)
    extras: dict = field(default_factory=dict)

    @property
    def passed(self) -> bool:
        return all(g.passed for g in self.gates)

    def to_dict(self) -> dict:
        return {"model": self.model, **G.summarise(self.gates), "details": {g.name: g.to_dict() for g in self.gates},
                "figures": self.figures, **self.extras}


def record_path(model_path: str | os.PathLike) -> Path:
    p = Path(model_path)
    return p.with_name(p.stem + RECORD_SUFFIX)


def read_record(model_path: str | os.PathLike) -> dict | None:
    """The validation summary stored beside a model, or None when it was never validated."""
    p = record_path(model_path)
    if not p.is_file():
        return None
    try:
        return json.loads(p.read_text())
    except ValueError:
        return None


def production_check(model_path: str | os.PathLike) -> tuple[bool, str]:
    """(ok, message): whether the model passed every gate; the message names the failed gates or says
    that no validation record exists."""
    rec = read_record(model_path)
    if rec is None:
        return False, f"{model_path} has no validation record (run `interforge validate`)"
    if rec.get("passed"):
        return True, "passed every validation gate"
    return False, f"{model_path} failed validation gate(s): {', '.join(rec.get('failed', [])) or '?'}"


def _pressure_GPa(stress) -> float:
    """Virial pressure (GPa) from an ASE stress (eV/Å³, positive = tensile)."""
    s = np.asarray(stress, float)
    return float(-s[:3].mean() * _GPA) if s.shape == (6,) else float(-np.trace(s) / 3 * _GPA)


def _label(atoms: Atoms, calc) -> Atoms:
    a = atoms.copy()
    a.calc = calc
    res = {"energy": float(a.get_potential_energy()), "forces": np.array(a.get_forces()),
           "stress": np.array(a.get_stress())}
    b = atoms.copy()
    b.calc = SinglePointCalculator(b, **res)
    return b


class Validator:
    """Runs the gates for one model. ``phases``: name → bulk cell (all library phases of the project, for
    the phase order); ``teacher``: an ASE calculator; ``out_dir``: the cache and the outputs.
    ``teacher_is_project_teacher``: ``teacher`` is ``cfg.teacher``'s calculator, so the executor's workers may
    build it again for the hold-out runs (a teacher passed in by other means runs here)."""

    def __init__(self, model_path: str | os.PathLike, cfg: InterforgeConfig, phases: dict[str, Atoms], teacher,
                 out_dir: str | os.PathLike, executor=None, teacher_is_project_teacher: bool = False):
        from interforge.nep import NEPCalculator

        self.model_path = str(Path(model_path).resolve())
        self.model_key = _model_key(self.model_path)
        self.cfg = cfg
        self.v = cfg.validation
        self.phases = phases
        self.teacher = teacher
        self.nep = NEPCalculator(model_path)
        self.out = Path(out_dir)
        self.out.mkdir(parents=True, exist_ok=True)
        self.temps = cfg.gate_temperatures_K
        # the density and solid gates also look above the top gate temperature (none without a margin)
        self.stability_T = self.v.stability_temperature(self.temps)
        names = cfg.gate_phases
        missing = [n for n in names if n not in phases]
        if missing:
            raise InterforgeError(f"validation phases {missing} are not among the project's bulk phases {sorted(phases)}")
        self.md_phases = names
        self.seed = cfg.project.seed + self.v.seed_offset
        self.executor = executor  # runs the NEP NPT MD (None: here, one after another)
        self.teacher_executor = executor if teacher_is_project_teacher else None
        # ...and the protocol of the NPT runs: another run length, cell or barostat recomputes them
        from interforge.data import settings_hash

        protocol = {k: getattr(self.v, k) for k in ("npt_ps", "npt_equilibration_ps", "npt_target_atoms",
                                                    "npt_equilibration_barostat_tau_fs", "solid_species",
                                                    "n_teacher_frames_npt", "stability_npt_ps",
                                                    "stability_equilibration_ps")}
        # "rows": the numbers a run's window.json holds (2: the per-frame pressures of the pressure gate)
        self.npt_key = settings_hash({**protocol, "md": cfg.md.model_dump(), "seed": self.seed, "rows": 2})[:8]

    def cached(self, what: str, atoms: Atoms, compute):
        """A teacher-only result (relaxed energies, NEB barrier, E–V energies) from ``OUT/teacher_cache.json``,
        computed by ``compute()`` when absent (a ``None`` result is not stored). The key holds the
        teacher's settings, the structure and the relaxation length, so a later model validated in the
        same folder reuses the teacher's side and any change recomputes it."""
        from interforge.data import settings_hash

        key = what + ":" + settings_hash({"teacher": self.cfg.teacher.model_dump(exclude={"calibration"}), "steps": self.v.relax_steps,
                                          "cell": np.round(atoms.cell[:], 6).tolist(), "symbols": atoms.get_chemical_symbols(),
                                          "positions": np.round(atoms.positions, 6).tolist()})
        path = self.out / "teacher_cache.json"
        cache = json.loads(path.read_text()) if path.is_file() else {}
        if key in cache:
            return cache[key]
        value = compute()
        if value is not None:
            cache[key] = value
            atomic_write_json(path, cache)
        return value

    def independent(self) -> tuple[bool, str]:
        """Whether the gate temperatures differ from every temperature the training data came from."""
        from interforge.active.gated import gate_temperatures, stability_gate_temperature

        a, s = self.cfg.active, self.cfg.sampling
        used = set(s.temperatures_K) | set(a.nvt_temperatures_K) | set(a.npt_temperatures_K)
        if a.gate_rounds or a.gate_data_each_iteration:
            used |= set(gate_temperatures(self.cfg)) | {stability_gate_temperature(self.cfg)} - {None}
        clash = sorted(set(self.temps) & used)
        if clash:
            return False, f"gate temperatures {clash} K also produced training frames"
        return True, f"hold-out from teacher NVT at {self.temps} K, seed {self.seed}+k, none used in training"

    # -- NEP NPT ----------------------------------------------------------------------------------
    def _npt_dir(self, phase: str, T: float) -> Path:
        # Keyed by the model's content (and its D3 sidecar): another model validated in the same folder
        # must not inherit these runs.
        return self.out / "nep_npt" / self.model_key / self.npt_key / f"{phase}_{T:g}K"

    def _npt_job(self, phase: str, T: float, k: int, pressure_bar: float | None = None, sub: str = "",
                 repeat: int = 0) -> tuple:
        """Arguments of :func:`nep_npt_md` for one phase and temperature (at ``pressure_bar``, default [md]'s,
        into the subfolder ``sub`` of the run folder); ``repeat`` r > 0 draws the r-th independent seed."""
        from interforge.structures.supercell import supercell_for

        eq, steps = self.v.npt_steps(self.cfg.md.timestep_fs, stability=T == self.stability_T)
        cell = supercell_for(self.phases[phase], max(self.v.npt_target_atoms, len(self.phases[phase])))
        md = self.cfg.md.model_dump()
        if pressure_bar is not None:
            md["pressure_bar"] = pressure_bar
        return (self.model_path, cell, str(self._npt_dir(phase, T) / sub), T, steps, max(1, steps // 100),
                self.seed + 100 + k + 1000 * repeat, md, eq, self.v.npt_equilibration_barostat_tau_fs)

    def _window_row(self, phase: str, T: float, bulk_modulus_GPa: float, md: dict | None) -> dict:
        """Density and solid numbers of one NEP NPT run (``md``: what :func:`nep_npt_md` returned) and the
        teacher's pressure on its frames, cached in the run folder as ``window.json``."""
        from interforge.analysis.solid import sublattice_order
        from interforge.trajectory import TrajectoryReader

        done = self._npt_dir(phase, T) / "window.json"
        if done.is_file():
            return json.loads(done.read_text())
        rd = TrajectoryReader(md["trajectory"])
        n = len(rd.symbols)
        keep = np.arange(rd.n_frames)  # the equilibration ran apart (its own folder), before this trajectory
        row = {"completed": md["stopped_by"] is None, "stopped_by": md["stopped_by"], "n_atoms": n,
               "trajectory": md["trajectory"]}
        if len(keep) < 4:
            row.update(deviation=float("nan"), volume_drift=float("nan"), lindemann=float("nan"))
            atomic_write_json(done, row)
            return row
        cells = rd.cells(keep)
        vols = np.abs(np.linalg.det(cells))
        species = [i for i, s in enumerate(rd.symbols) if s == self.v.solid_species]
        order = sublattice_order(rd.positions(keep, species if species else None), cells)
        # The teacher on NEP frames of the second half: the pressure it would feel at the NEP's volume.
        second = keep[len(keep) // 2:]
        pick = second[np.linspace(0, len(second) - 1, min(self.v.n_teacher_frames_npt, len(second))).astype(int)]
        p_t, p_n = [], []
        for i in pick:
            a = rd.atoms(int(i))
            a.calc = self.teacher
            p_t.append(_pressure_GPa(a.get_stress()))
            a.calc = self.nep
            p_n.append(_pressure_GPa(a.get_stress()))
        dP = float(np.mean(np.subtract(p_t, p_n)))
        v_nep = float(vols.mean())
        # Teacher volume to first order with the teacher's 0 K modulus: V_t = V_nep (1 + dP / B). Kept for
        # comparison; the hot crystal is softer, so this understates a large deviation (see _teacher_pressure_job).
        v_linear = v_nep * (1.0 + dP / bulk_modulus_GPa)
        row.update(volume_A3_atom=v_nep / n, teacher_volume_A3_atom=v_linear / n,
                   teacher_volume_linear_A3_atom=v_linear / n, teacher_volume_method="linear, 0 K modulus",
                   deviation=v_nep / v_linear - 1.0, volume_drift=order.volume_drift, lindemann=order.lindemann,
                   teacher_minus_nep_GPa=dP, bulk_modulus_GPa=bulk_modulus_GPa,
                   teacher_pressure_frames_GPa=p_t, nep_pressure_frames_GPa=p_n,
                   initial_volume_A3_atom=self.phases[phase].get_volume() / len(self.phases[phase]),
                   mean_temperature_K=md["mean_temperature_K"])
        atomic_write_json(done, row)
        return row

    def _needs_repeats(self, row: dict) -> bool:
        """Whether the drift of a completed first run is past the limit and not yet averaged over repeats."""
        d = row.get("volume_drift", float("nan"))
        return bool(self.v.density_repeats > 0 and row.get("completed") and np.isfinite(d)
                    and abs(d) > self.v.density_drift_max and "volume_drift_runs" not in row)

    def _with_repeats(self, phase: str, T: float, row: dict, mds: list) -> dict:
        """``row`` with the drift averaged over the first run and its repeats (``mds``: what :func:`nep_npt_md`
        returned for each); a repeat that stopped early marks the case not completed. Cached in ``window.json``."""
        from interforge.analysis.solid import volume_drift
        from interforge.trajectory import TrajectoryReader

        drifts, completed = [row["volume_drift"]], bool(row["completed"])
        for md in mds:
            completed &= md is not None and md["stopped_by"] is None
            if md is not None and md["stopped_by"] is None:
                drifts.append(volume_drift(TrajectoryReader(md["trajectory"]).cells()))
        row = {**row, "volume_drift_first_run": row["volume_drift"], "volume_drift_runs": drifts,
               "volume_drift": float(np.mean(drifts)), "completed": completed}
        atomic_write_json(self._npt_dir(phase, T) / "window.json", row)
        return row

    def _teacher_pressure_job(self, phase: str, T: float, k: int, row: dict) -> tuple:
        """Arguments of :func:`nep_npt_md` for the NEP at the pressure the teacher would need at the NEP's state.

        The teacher is in equilibrium where P_t(V) = P0. With δ(V) = P_t − P_NEP measured on the NEP's frames
        (``teacher_minus_nep_GPa``) and taken as constant over the few per cent between the two volumes, that
        is where P_NEP(V) = P0 − δ: an NPT of the NEP at that pressure. It uses the NEP's own compressibility
        at T, which includes the anharmonic softening that the 0 K modulus misses. The run repeats the first
        one (cell, seed, equilibration) but for the pressure, so their difference is the response to δ and not
        two draws of the volume's noise (with δ = 0 it is the same run)."""
        p0 = self.cfg.md.pressure_bar
        return self._npt_job(phase, T, k, pressure_bar=p0 - row["teacher_minus_nep_GPa"] * 1e4,
                             sub="at_teacher_pressure")

    def _verdict_needs_hot_modulus(self, row: dict) -> bool:
        """Whether the NPT at the teacher's pressure can change the density verdict of ``row``.

        The linear estimate divides the pressure difference by the teacher's 0 K modulus; the hot crystal is
        softer, which scales the deviation up by B_0K / B_T: 1.1-3.2 wherever |P_teacher - P_NEP| exceeded
        0.06 GPa in the demo's validations (docs/validation.md). Below a third of the gate's limit even three
        times the linear deviation passes, so the second run is spent only where the verdict may depend on it
        (and where the first run has no pressure, never)."""
        dev = row.get("deviation", float("nan"))
        return bool(np.isfinite(row.get("teacher_minus_nep_GPa", float("nan"))) and np.isfinite(dev)
                    and abs(dev) > self.v.density_max_deviation / 3)

    def _with_teacher_volume(self, phase: str, T: float, row: dict, md: dict | None) -> dict:
        """``row`` with the teacher volume from the NEP's NPT at the teacher's pressure (``md``: that run, or None
        when it failed or was not needed: the linear estimate stays and the row says why); cached as
        ``result.json``."""
        from interforge.trajectory import TrajectoryReader

        row = dict(row)
        if md is None and "teacher_volume_method" in row and not self._verdict_needs_hot_modulus(row):
            row["teacher_volume_method"] += " (below a third of the gate's limit: no NPT at the teacher's pressure)"
        elif md is not None and md["stopped_by"] is None:
            rd = TrajectoryReader(md["trajectory"])
            v_t = float(np.abs(np.linalg.det(rd.cells())).mean()) / len(rd.symbols)
            row.update(teacher_volume_A3_atom=v_t, deviation=row["volume_A3_atom"] / v_t - 1.0,
                       teacher_volume_method="NEP NPT at P0 - (P_teacher - P_NEP)")
        elif md is not None:
            row["teacher_volume_method"] += f" (the NPT at the teacher's pressure stopped: {md['stopped_by']})"
        atomic_write_json(self._npt_dir(phase, T) / "result.json", row)
        return row

    def _run_jobs(self, jobs: dict, stage: str) -> dict:
        """:func:`run_npt_jobs` with this model's ledger for ``stage``."""
        ledger = self.out / "nep_npt" / self.model_key / self.npt_key / f"ledger_{stage}"
        return run_npt_jobs(jobs, self.executor, ledger, stage, {"model": self.model_key})

    def npt_runs(self, moduli: dict[str, float]) -> dict[str, dict]:
        """Every NEP NPT run ("phase@TK" → numbers): the run at P0, the teacher's pressure on its frames, then
        the NEP at the teacher's pressure for the teacher's volume. The MD goes through ``self.executor`` when
        one is given (the runs are independent: a pool runs them on every core), the teacher's part stays here."""
        cases = []
        for phase in self.md_phases:
            b = moduli.get(phase)
            b = b if b is not None and np.isfinite(b) and b > 1 else self.cfg.md.bulk_modulus_GPa
            for T in self.temps + ([self.stability_T] if self.stability_T is not None else []):
                cases.append((phase, T, len(cases), b))
        final = {(p, T): json.loads(f.read_text()) for p, T, _, _ in cases
                 if (f := self._npt_dir(p, T) / "result.json").is_file()}
        todo = [c for c in cases if (c[0], c[1]) not in final]
        first = self._run_jobs({(p, T): self._npt_job(p, T, k) for p, T, k, _ in todo
                                if not (self._npt_dir(p, T) / "window.json").is_file()}, "window")
        rows = {(p, T): self._window_row(p, T, b, first.get((p, T))) for p, T, _, b in todo}
        n_rep = self.v.density_repeats
        repeat = [(p, T, k) for p, T, k, _ in todo if self._needs_repeats(rows[(p, T)])]
        again = self._run_jobs({(p, T, r): self._npt_job(p, T, k, sub=f"repeat_{r}", repeat=r)
                                for p, T, k in repeat for r in range(1, n_rep + 1)}, "repeat")
        for p, T, _ in repeat:
            rows[(p, T)] = self._with_repeats(p, T, rows[(p, T)], [again.get((p, T, r)) for r in range(1, n_rep + 1)])
        second = self._run_jobs({(p, T): self._teacher_pressure_job(p, T, k, rows[(p, T)]) for p, T, k, _ in todo
                                 if self._verdict_needs_hot_modulus(rows[(p, T)])}, "teacher_pressure")
        for key, r in rows.items():
            final[key] = self._with_teacher_volume(*key, r, second.get(key))
        return {f"{p}@{T:g}K": final[(p, T)] for p, T, _, _ in cases}

    def _pressure_gate(self, runs: dict, p_n_holdout: dict, p_t_holdout: dict) -> G.Gate:
        """The pressure gate on the frames of the NEP's own NPT at each gate temperature, labelled by the teacher.

        Those frames sit where production runs: at T, at the volume the model holds there. The hold-out's
        teacher NVT runs in the 0 K cell, several per cent denser than either model's volume at T (ideal
        Li2ZrCl6: 8-9 %), where no production run goes; its numbers stay in the detail as a second view
        (``holdout_nvt_at_0K_cell``), outside the verdict (docs/validation.md)."""
        p_n = {k: r.get("nep_pressure_frames_GPa", []) for k, r in runs.items()}
        p_t = {k: r.get("teacher_pressure_frames_GPa", []) for k, r in runs.items()}
        gate = G.pressure_gate(p_n, p_t, self.v.pressure_max_GPa)
        gate.detail = {"nep_npt_frames": gate.detail,
                       "holdout_nvt_at_0K_cell": G.pressure_gate(p_n_holdout, p_t_holdout, self.v.pressure_max_GPa).detail}
        gate.note = ("teacher pressure on the NEP's NPT frames at each gate temperature (the state production "
                     "runs in); the hold-out NVT in the 0 K cell is in the detail")
        return gate

    # -- the whole set ----------------------------------------------------------------------------
    def run(self) -> ValidationRecord:
        from interforge.active.validate import (ev_curve, li_hop_endpoints, neb_run, relaxed_energy_per_atom,
                                                teacher_ev_energies)
        from interforge.nep import NEPCalculator

        v = self.v
        gates: list[G.Gate] = []
        figures: list[str] = []
        # 1. Hold-out frames from independent teacher MD: forces and pressure.
        f_n, f_t, p_n, p_t = [], [], {}, {}
        for key, frames in holdout_frames(self.cfg, self.phases, self.teacher, self.out, self.teacher_executor).items():
            p_n[key], p_t[key] = [], []
            for fr in frames:
                ev = self.nep.model.evaluate(fr)
                f_n.append(ev.forces)
                f_t.append(fr.get_forces())
                p_n[key].append(_pressure_GPa(ev.stress))
                p_t[key].append(_pressure_GPa(fr.get_stress()))
            log.info("validation: %s, %d teacher frames", key, len(frames))
        indep, why = self.independent()
        f_n, f_t = np.concatenate(f_n), np.concatenate(f_t)
        gates.append(G.forces_gate(f_n, f_t, v.force_slope_range, v.force_rmse_max_meV_A, indep, why))
        figures.append(str(_parity_figure(f_t, f_n, self.out / "forces_holdout.png")))
        # 2. E-V with relaxed internal coordinates (teacher and NEP): the bulk modulus and the figure.
        curves = []
        for name in self.md_phases:
            atoms = self.phases[name]
            e_t = self.cached(f"ev:{name}", atoms, lambda a=atoms: teacher_ev_energies(a, self.teacher, v.relax_steps))
            curves.append(ev_curve(name, atoms, self.nep, self.teacher, relax_steps=v.relax_steps, teacher_energies=e_t))
        from interforge.report.learning import plot_ev_curves

        figures.append(str(plot_ev_curves(curves, self.out / "ev_curves.png")))
        moduli = {c.phase: c.b_teacher_GPa for c in curves}
        # 3. NEP NPT: density and solid.
        runs = self.npt_runs(moduli)
        gates.append(self._pressure_gate(runs, p_n, p_t))
        gates.append(G.density_gate(runs, v.density_drift_max, v.density_max_deviation))
        gates.append(G.solid_gate(runs, v.lindemann_max))
        figures.append(str(_volume_figure(runs, self.out / "npt_volumes.png")))
        # 4. Phase order (relaxed cells) among polymorphs of one composition.
        formula = {n: a.get_chemical_formula(empirical=True) for n, a in self.phases.items()}
        groups: dict[str, list[str]] = {}
        for n, f in formula.items():
            groups.setdefault(f, []).append(n)
        poly = [n for g in groups.values() if len(g) > 1 for n in g]
        if poly:
            e = {"nep": {}, "teacher": {}}
            for n in poly:
                e["nep"][n] = relaxed_energy_per_atom(self.phases[n], self.nep, steps=v.relax_steps)
                e["teacher"][n] = self.cached(f"relaxed:{n}", self.phases[n], lambda n=n: relaxed_energy_per_atom(
                    self.phases[n], self.teacher, steps=v.relax_steps))
            rel = {m: {n: (x - min(vals[o] for o in groups[formula[n]])) * 1000 for n, x in vals.items()}
                   for m, vals in e.items()}
            gates.append(G.phase_order_gate(rel["nep"], rel["teacher"], v.phase_order_tol_meV_atom))
        # 5. Li-hop barrier.
        neb, conv = {}, {}
        for name in [p for p in self.md_phases if "Li" in self.phases[p].get_chemical_symbols()][: v.neb_phases]:
            ini, fin, _ = li_hop_endpoints(self.phases[name])
            nb = dict(n_images=v.neb_images, fmax=v.neb_fmax_eV_A, steps=v.relax_steps)
            band = neb_run(ini, fin, lambda: NEPCalculator(self.model_path), **nb)
            t = self.cached(f"neb2:{name}:{v.neb_images}:{v.neb_fmax_eV_A:g}", ini, lambda ini=ini, fin=fin: _band_summary(
                neb_run(ini, fin, lambda: self.teacher, **nb)))
            neb[name] = (band.barrier_eV, t["barrier_eV"])
            conv[name] = (band.converged, t["converged"])
        if neb:
            gates.append(G.barrier_gate(neb, v.barrier_tol_eV, conv))
        extras = {"temperatures_K": self.temps, "phases": self.md_phases,
                  "ev_curves": [c.__dict__ for c in curves], "dispersion": _dispersion_of(self.model_path)}
        rec = ValidationRecord(self.model_path, gates, figures, extras)
        atomic_write_json(self.out / "validation.json", rec.to_dict())
        atomic_write_json(record_path(self.model_path), {**G.summarise(gates), "record": str((self.out / "validation.json").resolve())})
        for g in gates:
            log.info("gate %-12s %s  value %s  threshold %s", g.name, "PASS" if g.passed else "FAIL", g.value, g.threshold)
        return rec


def _band_summary(band) -> dict:
    """What the teacher cache keeps of an NEB band (JSON): barrier eV, image energies eV, converged."""
    return {"barrier_eV": float(band.barrier_eV), "energies": [float(e) for e in band.energies],
            "converged": bool(band.converged)}


def bulk_npt(cell: Atoms, calc, md, T: float, steps: int, out_dir, every: int, seed: int,
             equilibration_steps: int = 0, equilibration_tau_fs: float | None = None):
    """NPT of a bulk ``cell`` at ``T`` K with the settings of an ``[md]`` section ``md`` (isotropic coupling,
    no checkpoints, a frame and a thermo line every ``every`` steps); returns the :class:`~interforge.md.MDResult`
    of the ``steps`` in ``out_dir``. With ``equilibration_steps`` these are preceded by an equilibration with
    the barostat time constant ``equilibration_tau_fs`` (fs), written to ``out_dir/equilibration``."""
    from interforge.md import MDSettings, run_with

    settings = MDSettings.from_section(md, ensemble="npt", temperature_K=T, dump_interval=every, thermo_interval=every,
                                       seed=seed, barostat_mode="isotropic", checkpoint_interval=0,
                                       equilibration_steps=equilibration_steps,
                                       equilibration_barostat_tau_fs=equilibration_tau_fs)
    return run_with(cell, calc, settings, steps, out_dir)


def run_npt_jobs(jobs: dict, executor, ledger_dir: str | os.PathLike, stage: str, spec: dict | None = None) -> dict:
    """Run ``jobs`` ((phase, T[, repeat]) → :func:`nep_npt_md` arguments) through ``executor`` when there is one
    (its ledger in ``ledger_dir``; ``spec`` joins each task's identity), else here; returns key → its result.
    A job that fails in its worker is run here."""
    from interforge.workflow.ledger import Task, in_workers

    tasks = {key: Task(name=f"{key[0]}_{key[1]:g}K{''.join(f'_{x}' for x in key[2:])}_{stage}", fn=nep_npt_md,
                       args=args, spec={**(spec or {}), "phase": key[0], "T": key[1], "stage": stage,
                                        **({"repeat": list(key[2:])} if len(key) > 2 else {})})
             for key, args in jobs.items()}
    out = in_workers(executor, ledger_dir, tasks, f"NEP NPT ({stage})")
    for key, args in jobs.items():
        if key not in out:
            out[key] = nep_npt_md(*args)
    return out


def nep_npt_md(model_path: str, cell: Atoms, run_dir: str, T: float, steps: int, every: int, seed: int,
               md: dict, equilibration_steps: int = 0, equilibration_tau_fs: float | None = None) -> dict:
    """One NEP NPT run of the validation (``md``: the ``[md]`` section as a dict; see :func:`bulk_npt` for the
    equilibration); picklable, so a pool or Parsl worker can run it. Returns the trajectory path (the gate
    window only), the guard that stopped it (or None) and the mean temperature (K)."""
    from interforge.config.md import MdSection
    from interforge.nep import NEPCalculator

    res = bulk_npt(cell.copy(), NEPCalculator(model_path), MdSection(**md), T, steps, run_dir, every, seed,
                   equilibration_steps, equilibration_tau_fs)
    return {"trajectory": str(res.trajectory_path), "stopped_by": res.stopped_by,
            "mean_temperature_K": res.mean_temperature_K}


def teacher_frames(cfg: InterforgeConfig, atoms: Atoms, phase: str, T: float, k: int, teacher,
                   out_dir: str | os.PathLike) -> list[Atoms]:
    """Hold-out frames of a teacher NVT run of ``atoms`` at ``T`` K with the validation's seed ``+ k``,
    cached in ``out_dir/teacher_frames`` as extxyz with the teacher's labels."""
    from interforge.md import MDSettings, run_with
    from interforge.trajectory import TrajectoryReader

    v, out = cfg.validation, Path(out_dir)
    path = out / "teacher_frames" / f"{phase}_{T:g}K.xyz"
    if path.is_file():
        return read(path, ":")
    dt = cfg.md.timestep_fs
    steps = int(round(v.teacher_md_ps * 1000 / dt))
    every = max(1, int(round(v.frame_interval_ps * 1000 / dt)))
    run_dir = out / "teacher_md" / f"{phase}_{T:g}K"
    settings = MDSettings.from_section(cfg.md, ensemble="nvt", temperature_K=T, dump_interval=every,
                                       thermo_interval=every, seed=cfg.project.seed + v.seed_offset + k,
                                       checkpoint_interval=0)
    res = run_with(atoms.copy(), teacher, settings, steps, run_dir)
    rd = TrajectoryReader(res.trajectory_path)
    t0 = v.teacher_equilibration_ps
    frames = [_label(rd.atoms(i), teacher) for i, t in enumerate(rd.times()) if t >= t0 - 1e-9 and i > 0]
    path.parent.mkdir(parents=True, exist_ok=True)
    with atomic_path(path) as tmp:
        write(tmp, frames, format="extxyz")
    return read(path, ":")


def teacher_frames_job(cfg: InterforgeConfig, atoms: Atoms, phase: str, T: float, k: int,
                       out_dir: str) -> str:
    """:func:`teacher_frames` in a worker process, with the project's teacher built there (a teacher
    calculator does not travel between processes); returns the cached frames' path."""
    from interforge.teacher import make_calculator

    teacher_frames(cfg, atoms, phase, T, k, make_calculator(cfg.teacher), out_dir)
    return str(Path(out_dir) / "teacher_frames" / f"{phase}_{T:g}K.xyz")


def holdout_frames(cfg: InterforgeConfig, phases: dict[str, Atoms], teacher, out_dir: str | os.PathLike,
                   executor=None) -> dict[str, list[Atoms]]:
    """Every independent hold-out set of the validation ("phase@TK" → labelled frames), in the
    Validator's order and with its seeds, so the learning loop and ``validate`` share one cache. With an
    ``executor`` the teacher runs not cached yet go to its workers (one per phase and temperature), which
    build ``cfg.teacher`` there: pass one only when ``teacher`` is that calculator. One that fails there runs
    here."""
    temps, names = cfg.gate_temperatures_K, cfg.gate_phases
    cases = [(phase, T, k) for k, (phase, T) in enumerate((p, T) for p in names for T in temps)]
    out_dir = Path(out_dir)
    todo = [c for c in cases if not (out_dir / "teacher_frames" / f"{c[0]}_{c[1]:g}K.xyz").is_file()]
    if len(todo) > 1:
        from interforge.workflow.ledger import Task, in_workers

        tasks = {(p, T): Task(name=f"{p}_{T:g}K", fn=teacher_frames_job, args=(cfg, phases[p], p, T, k, str(out_dir)),
                              spec={"phase": p, "T": T, "k": k, "teacher": cfg.teacher.model_dump(mode="json")})
                 for p, T, k in todo}
        in_workers(executor, out_dir / "teacher_md" / "ledger", tasks, "hold-out teacher MD")
    return {f"{p}@{T:g}K": teacher_frames(cfg, phases[p], p, T, k, teacher, out_dir) for p, T, k in cases}


def _model_key(model_path: str) -> str:
    """Short content hash of a model file and its dispersion sidecar."""
    import hashlib

    h = hashlib.sha256(Path(model_path).read_bytes())
    h.update(json.dumps(_dispersion_of(model_path), sort_keys=True).encode())
    return h.hexdigest()[:12]


def _dispersion_of(model_path: str) -> dict | None:
    from interforge.nep.dispersion import read_dispersion

    d = read_dispersion(model_path)
    return None if d is None else d.calorine()


def _parity_figure(f_t: np.ndarray, f_n: np.ndarray, path: Path) -> Path:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    from interforge.report.figures import save_figure

    x, y = np.ravel(f_t), np.ravel(f_n)
    slope, rmse = G.force_parity(f_n, f_t)
    fig, ax = plt.subplots(figsize=(4.2, 4))
    ax.plot(x, y, ".", ms=2, alpha=0.4)
    lim = float(np.percentile(np.abs(np.r_[x, y]), 99.9)) * 1.05
    ax.plot([-lim, lim], [-lim, lim], "k--", lw=0.8)
    ax.set(xlim=(-lim, lim), ylim=(-lim, lim), xlabel="teacher force (eV/Å)", ylabel="NEP force (eV/Å)",
           title=f"independent hold-out: slope {slope:.3f}, RMSE {rmse * 1000:.0f} meV/Å")
    return save_figure(fig, path)


def _volume_figure(runs: dict, path: Path) -> Path:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    from interforge.report.figures import save_figure
    from interforge.trajectory import TrajectoryReader

    fig, ax = plt.subplots(figsize=(7.5, 3.6))
    for key, r in runs.items():
        if not r.get("trajectory") or not Path(r["trajectory"]).is_file():
            continue
        rd = TrajectoryReader(r["trajectory"])
        vol = np.abs(np.linalg.det(rd.cells())) / r["n_atoms"]
        line, = ax.plot(rd.times(), vol, lw=1, label=key)
        if np.isfinite(r.get("teacher_volume_A3_atom", np.nan)):
            ax.axhline(r["teacher_volume_A3_atom"], color=line.get_color(), ls=":", lw=1)
    ax.set(xlabel="time (ps)", ylabel="volume (Å³/atom)", title="NEP NPT (dotted: teacher estimate)")
    ax.legend(fontsize=7, loc="center left", bbox_to_anchor=(1.01, 0.5))  # beside the curves, never over them
    fig.tight_layout()
    return save_figure(fig, path)


def validate_model_gates(model_path: str | os.PathLike, cfg: InterforgeConfig, phases: dict[str, Atoms], teacher,
                         out_dir: str | os.PathLike, executor=None) -> ValidationRecord:
    """Run every gate for ``model_path`` (see :class:`Validator`)."""
    return Validator(model_path, cfg, phases, teacher, out_dir, executor).run()
