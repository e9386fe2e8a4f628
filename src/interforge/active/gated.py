"""Gate-directed data: when a model fails a validation gate, label what that gate measures.

Query by committee labels where the members disagree. A gate can fail where they all agree and are
wrong together: a per-phase energy offset (phase order), a saddle no band ever sampled (barrier), a
volume the model drifts to in NPT that no teacher frame covers (density, pressure). So after a failed
validation the model itself is taken to the configurations each failed gate looks at, and the teacher
labels them (store stage ``gate``):

- ``density``, ``pressure``, ``solid``, ``forces``: frames of NEP NPT of every validation phase at every
  gate temperature plus ``[active] gate_temperature_offset_K`` (never at a gate temperature, so the
  force gate's hold-out stays independent), and of a longer run above the validation's stability
  temperature, on the validation's supercell;
- ``phase_order``: the model's own relaxation path and minimum of every polymorph;
- ``barrier``: the model's converged NEB bands of Li vacancy hops other than the gate's (the gate's
  vacancy, the first Li, is never used).
"""

from __future__ import annotations

import logging
from pathlib import Path

import numpy as np
from ase import Atoms

from interforge.config import InterforgeConfig

log = logging.getLogger(__name__)

NPT_GATES = ("density", "pressure", "solid", "forces")
# one gate of each kind of data: NPT frames, relaxed polymorphs, NEB bands (what an iteration labels with
# [active] gate_data_each_iteration)
ALL_GATE_DATA = ("density", "phase_order", "barrier")


def _bare(atoms: Atoms, origin: str) -> Atoms:
    a = Atoms(atoms.get_chemical_symbols(), positions=atoms.get_positions(), cell=atoms.get_cell(), pbc=True)
    a.wrap()
    a.info["origin"] = origin
    return a


def gate_temperatures(cfg: InterforgeConfig) -> list[float]:
    """The temperatures (K) gate rounds run NPT at: each gate temperature plus the offset."""
    return [T + cfg.active.gate_temperature_offset_K for T in cfg.gate_temperatures_K]


def stability_gate_temperature(cfg: InterforgeConfig) -> float | None:
    """The temperature (K) of the longer gate-data NPT: the validation's stability temperature plus
    ``[active] gate_stability_offset_K``, or None when either run is switched off."""
    v, a = cfg.validation, cfg.active
    top = v.stability_temperature(cfg.gate_temperatures_K)
    if top is None or not a.gate_stability_ps:
        return None
    return top + a.gate_stability_offset_K


def npt_frames(calc, cfg: InterforgeConfig, phases: dict[str, Atoms], out_dir: Path,
               seed: int, executor=None) -> list[Atoms]:
    """``gate_frames`` frames of a NEP NPT run (``gate_md_ps``) per validation phase and gate-round
    temperature, and ``gate_stability_frames`` of a longer one (``gate_stability_ps``) above the stability
    temperature, on the validation's supercell, after the validation's own NPT equilibration
    (``[validation] npt_equilibration_ps`` with its fast barostat).

    The frames must sit at the volume the model holds at T, which is what the density gate judges: from
    the 0 K cell the production barostat needs picoseconds to get there, and frames taken on the way (as
    before 2026-11-30, from the second half of 2 ps) teach the model a volume it never stays at. The longer
    run's frames are spread over all of it: a model that swells there is followed as it drifts.

    With an ``executor`` and a model file behind ``calc`` (an :class:`~interforge.nep.NEPCalculator`), the runs go
    to its workers; a run that fails there runs here."""
    from interforge.md.guards import GUARD_MARGIN
    from interforge.structures.supercell import supercell_for
    from interforge.trajectory import TrajectoryReader

    a, md, v = cfg.active, cfg.md, cfg.validation
    names = cfg.gate_phases
    eq, _ = v.npt_steps(md.timestep_fs)  # the validation's own equilibration
    runs = [(T, a.gate_md_ps, a.gate_frames) for T in gate_temperatures(cfg)]
    if (hot := stability_gate_temperature(cfg)) is not None:
        runs.append((hot, a.gate_stability_ps, a.gate_stability_frames))
    cases = []
    for k, (name, (T, ps, n)) in enumerate((n, r) for n in names for r in runs):
        steps = max(2, int(round(ps * 1000 / md.timestep_fs)))
        cell = supercell_for(phases[name], max(v.npt_target_atoms, len(phases[name])))
        cases.append((name, T, seed + k, cell, steps, max(1, steps // (4 * n)), n))
    out: list[Atoms] = []
    for (name, T, *_, n), (trajectory, stopped_by) in zip(cases, _npt_runs(calc, cases, cfg, out_dir, eq, executor)):
        rd = TrajectoryReader(trajectory)
        window = np.arange(1, rd.n_frames)  # frame 0 is the equilibration's last state
        if stopped_by:
            # the frames just before a guard fired are already unphysical (thousands of K, tens of eV/Å): the
            # run is labelled up to the share of it production analysis would read
            window = window[: int(len(window) * (1 - GUARD_MARGIN))]
            log.warning("gate data: NEP NPT of %s at %g K stopped (%s); its first %.0f %% are labelled",
                        name, T, stopped_by, 100 * (1 - GUARD_MARGIN))
        if len(window) == 0:
            continue
        pick = np.unique(window[np.linspace(0, len(window) - 1, n).astype(int)])
        out += [_bare(rd.atoms(int(i)), f"gate/npt/{name}@{T:g}K#{int(i)}") for i in pick]
    return out


def _npt_runs(calc, cases: list, cfg: InterforgeConfig, out_dir: Path, eq: int,
              executor=None) -> list[tuple[str, str | None]]:
    """(trajectory, stopped_by) of the NEP NPT of each (name, T, seed, cell, steps, dump interval, frames) case,
    in order: with a model file behind ``calc`` through :func:`~interforge.validation.runner.run_npt_jobs` (the
    executor's workers when there is one), else here with ``calc``."""
    from interforge.validation.runner import bulk_npt, run_npt_jobs

    tau = cfg.validation.npt_equilibration_barostat_tau_fs
    folder = {(c[0], c[1]): out_dir / "npt" / f"{c[0]}_{c[1]:g}K" for c in cases}
    path = getattr(calc, "path", None)
    if path is not None:
        md = cfg.md.model_dump()
        jobs = {(n, T): (str(path), cell, str(folder[(n, T)]), T, steps, every, s, md, eq, tau)
                for n, T, s, cell, steps, every, _ in cases}
        done = run_npt_jobs(jobs, executor, out_dir / "npt" / "ledger", "gate", {"model": str(path)})
        return [(done[(c[0], c[1])]["trajectory"], done[(c[0], c[1])]["stopped_by"]) for c in cases]
    runs = [bulk_npt(cell, calc, cfg.md, T, steps, folder[(n, T)], every, s, eq, tau)
            for n, T, s, cell, steps, every, _ in cases]
    return [(str(r.trajectory_path), r.stopped_by) for r in runs]


def relaxed_frames(calc, cfg: InterforgeConfig, polymorphs: dict[str, Atoms]) -> list[Atoms]:
    """The model's relaxation path (cell and positions) and minimum of every polymorph."""
    from interforge.active.anchors import AnchorSettings, relaxation_anchors

    st = AnchorSettings(relax_steps=cfg.validation.relax_steps, path_frames=2)
    out: list[Atoms] = []
    for name, atoms in polymorphs.items():
        path, _ = relaxation_anchors(atoms, calc, f"gate/relax/{name}", st)
        out += path[1:]  # the start is the library cell, labelled as an anchor already
    return out


def neb_frames(calc, cfg: InterforgeConfig, phases: dict[str, Atoms]) -> list[Atoms]:
    """Interior images of the model's climbing-image NEB bands of ``gate_hops`` Li vacancy hops per
    barrier phase (never the gate's own vacancy)."""
    from interforge.active.anchors import hop_pairs, vacancy_hop
    from interforge.active.validate import neb_run

    v = cfg.validation
    names = [n for n in cfg.gate_phases if "Li" in phases[n].get_chemical_symbols()]
    out: list[Atoms] = []
    for name in names[: v.neb_phases]:
        for vac, hopper in hop_pairs(phases[name], cfg.active.gate_hops, 4.0, avoid_first=True):
            ini, fin = vacancy_hop(phases[name], vac, hopper)
            band = neb_run(ini, fin, lambda: calc, 3, steps=v.relax_steps).images
            out += [_bare(im, f"gate/neb/{name}/{vac}-{hopper}/{j}") for j, im in enumerate(band)][1:-1]
    return out


def gate_structures(failed: list[str], calc, cfg: InterforgeConfig, phases: dict[str, Atoms],
                    out_dir: str | Path, seed: int, executor=None) -> list[Atoms]:
    """Unlabelled structures aimed at the ``failed`` gates (see the module docstring); ``calc`` is the model
    being mended (an ASE calculator: a :class:`~interforge.nep.NEPCalculator` in the loop); ``executor`` runs
    the NPT runs in its workers."""
    out_dir = Path(out_dir)
    out: list[Atoms] = []
    if any(g in NPT_GATES for g in failed):
        out += npt_frames(calc, cfg, phases, out_dir, seed, executor)
    if "phase_order" in failed:
        formula = {n: a.get_chemical_formula(empirical=True) for n, a in phases.items()}
        poly = {n: a for n, a in phases.items() if list(formula.values()).count(formula[n]) > 1}
        out += relaxed_frames(calc, cfg, poly)
    if "barrier" in failed:
        out += neb_frames(calc, cfg, phases)
    log.info("gate round: %d structures for the failed gates %s", len(out), ", ".join(failed))
    return out
