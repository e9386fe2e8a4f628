"""Run-time guards: stop a run that has gone unphysical before it writes garbage for hours."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from interforge.errors import InputError

#: A run that a guard stopped is read (analysed, labelled) only up to this share of its length before the
#: stop: the frames just before a blow-up are already unphysical.
GUARD_MARGIN = 0.2


@dataclass
class Guards:
    """Thresholds; ``None`` disables a guard.

    ``min_distance_A`` closest allowed pair distance, Å (checked every ``distance_interval`` steps, since a
    neighbour search costs about as much as a cheap force call); ``max_force_eV_A`` largest allowed atomic
    force, eV/Å; ``max_volume_change`` largest allowed |V/V0 - 1|; ``max_temperature_factor`` stop when
    T > factor x target T.
    """

    min_distance_A: float | None = 0.5
    max_force_eV_A: float | None = 50.0
    max_volume_change: float | None = 0.5
    max_temperature_factor: float | None = 3.0
    distance_interval: int = 10

    @classmethod
    def from_section(cls, md) -> "Guards":
        return cls(min_distance_A=md.min_distance_A, max_force_eV_A=md.max_force_eV_A,
                   max_volume_change=md.max_volume_change, max_temperature_factor=md.max_temperature_factor)


def min_distance(atoms, cutoff: float) -> float:
    """The shortest interatomic distance below ``cutoff`` (Å), or inf when none is that short."""
    from ase.neighborlist import neighbor_list

    d = neighbor_list("d", atoms, cutoff, self_interaction=False)
    return float(d.min()) if len(d) else float("inf")


def check_start(guards: Guards, atoms) -> tuple[str, str] | None:
    """("min_distance", message) when the starting structure already has a pair closer than
    ``guards.min_distance_A`` (Å), else None: such a run must not start (the periodic check of :func:`check`
    would only see the contact after the first steps, when forces have already blown it apart)."""
    if guards.min_distance_A is None:
        return None
    dmin = min_distance(atoms, guards.min_distance_A)
    if dmin < guards.min_distance_A:
        return "min_distance", f"atoms {dmin:.3f} Å apart (limit {guards.min_distance_A} Å) before the first step"
    return None


class StartRefused(InputError):
    """The starting structure already trips a guard, so no dynamics start (nothing is written).

    ``guard``: the guard's name (``min_distance``); ``reason``: what was measured (one line, Å)."""

    def __init__(self, guard: str, reason: str, name: str | None = None):
        self.guard, self.reason = guard, reason
        where = f"{name}: " if name else ""
        setting = _SETTINGS.get(guard, "[md]")
        super().__init__(f"{where}{reason} ({setting}, the {guard} guard); refusing to start MD")


#: The project-file setting behind each guard (named in the messages).
_SETTINGS = {"min_distance": "[md] min_distance_A", "max_force": "[md] max_force_eV_A",
             "volume": "[md] max_volume_change", "temperature": "[md] max_temperature_factor"}


def require_start(guards: Guards, atoms, name: str | None = None) -> None:
    """Raise :class:`StartRefused` when :func:`check_start` finds the starting structure already beyond a guard
    (a pair closer than ``guards.min_distance_A``, Å); ``name`` (the input, e.g. ``structure``) prefixes the
    message. :class:`~interforge.md.Dynamics` calls it once, before it creates any file; the CLI calls it
    while checking its inputs."""
    tripped = check_start(guards, atoms)
    if tripped:
        raise StartRefused(*tripped, name=name)


def check(guards: Guards, step: int, atoms, forces: np.ndarray, energy: float, temperature_K: float,
          target_K: float, volume_A3: float, volume0_A3: float) -> tuple[str, str] | None:
    """(guard name, message) for the first tripped guard, else None."""
    if not (np.isfinite(energy) and np.all(np.isfinite(forces)) and np.isfinite(temperature_K)):
        return "nonfinite", f"non-finite energy, force or temperature at step {step}"
    if guards.max_force_eV_A is not None:
        fmax = float(np.sqrt((forces * forces).sum(1).max()))
        if fmax > guards.max_force_eV_A:
            return "max_force", f"force {fmax:.3g} eV/Å > {guards.max_force_eV_A} eV/Å at step {step}"
    if guards.max_temperature_factor is not None and target_K > 0:
        if temperature_K > guards.max_temperature_factor * target_K:
            return "temperature", (f"T = {temperature_K:.1f} K > {guards.max_temperature_factor} x "
                                   f"{target_K:.1f} K at step {step}")
    if guards.max_volume_change is not None:
        change = volume_A3 / volume0_A3 - 1.0
        if abs(change) > guards.max_volume_change:
            return "volume", f"volume changed by {100 * change:+.1f} % (limit {100 * guards.max_volume_change:.0f} %) at step {step}"
    if guards.min_distance_A is not None and step % max(1, guards.distance_interval) == 0:
        dmin = min_distance(atoms, guards.min_distance_A)
        if dmin < guards.min_distance_A:
            return "min_distance", f"atoms {dmin:.3f} Å apart (limit {guards.min_distance_A} Å) at step {step}"
    return None
