"""Gate arithmetic: arrays in, :class:`Gate` out. No I/O and no calculators here.

Units: pressures GPa, energies meV/atom, barriers eV, forces eV/Å (RMSE reported in meV/Å).
"""

from __future__ import annotations

import math
from dataclasses import asdict, dataclass, field
from typing import Mapping, Sequence

import numpy as np


@dataclass
class Gate:
    """One gate: the measured ``value``, its ``threshold`` (a number, or [low, high] for a range), whether it
    ``passed``, and the per-case numbers behind the value in ``detail``."""

    name: str
    value: float | None
    threshold: float | list[float]
    passed: bool
    detail: dict = field(default_factory=dict)
    note: str = ""

    def to_dict(self) -> dict:
        return asdict(self)


def _finite(x) -> bool:
    return x is not None and math.isfinite(float(x))


def pressure_gate(p_nep: Mapping[str, Sequence[float]], p_teacher: Mapping[str, Sequence[float]],
                  threshold_GPa: float) -> Gate:
    """Mean |P_NEP - P_teacher| per case (phase and temperature), GPa; the value is the worst case.

    The mean of the *signed* difference is kept in ``detail`` too: a bias, not noise, is what swells a cell.
    A case without frames (a run that stopped before its window) fails the gate."""
    detail = {}
    for key in p_nep:
        d = np.asarray(p_nep[key], float) - np.asarray(p_teacher[key], float)
        mean_abs, mean = (float(np.mean(np.abs(d))), float(np.mean(d))) if d.size else (float("nan"), float("nan"))
        detail[key] = {"mean_abs_GPa": mean_abs, "mean_signed_GPa": mean, "n": int(d.size)}
    values = [v["mean_abs_GPa"] for v in detail.values()]
    worst = max((x for x in values if _finite(x)), default=float("nan"))
    ok = bool(values) and all(_finite(x) and x < threshold_GPa for x in values)
    return Gate("pressure", worst, threshold_GPa, ok, detail)


def force_parity(f_nep: np.ndarray, f_teacher: np.ndarray) -> tuple[float, float]:
    """Least-squares slope (through the origin) of NEP against teacher force components, and the
    force RMSE, eV/Å. A slope below 1 is a model softer than its teacher."""
    x = np.asarray(f_teacher, float).ravel()
    y = np.asarray(f_nep, float).ravel()
    slope = float(x @ y / (x @ x)) if x @ x > 0 else float("nan")
    return slope, float(np.sqrt(np.mean((y - x) ** 2)))


def forces_gate(f_nep: np.ndarray, f_teacher: np.ndarray, slope_range: Sequence[float], rmse_max_meV_A: float,
                independent: bool, note: str = "") -> Gate:
    """Force parity on an independent hold-out: the slope inside ``slope_range`` and the RMSE (meV/Å) below
    ``rmse_max_meV_A``. ``independent`` False (frames share a seed or temperature with training) fails."""
    slope, rmse = force_parity(f_nep, f_teacher)
    rmse_meV = rmse * 1000
    lo, hi = slope_range
    ok = _finite(slope) and lo <= slope <= hi and rmse_meV < rmse_max_meV_A and independent
    detail = {"slope": slope, "rmse_meV_A": rmse_meV, "rmse_max_meV_A": rmse_max_meV_A,
              "n_components": int(np.asarray(f_teacher).size), "independent": independent}
    return Gate("forces", slope, [lo, hi], ok, detail, note)


def phase_order_gate(e_nep: Mapping[str, float], e_teacher: Mapping[str, float], tol_meV_atom: float) -> Gate:
    """Relative phase energies (meV/atom, each relative to the lowest polymorph): the NEP must order the
    phases as the teacher does, and each relative energy must be within ``tol_meV_atom``. Phases whose
    teacher energies lie within the tolerance of each other may swap without failing."""
    names = sorted(e_teacher)
    diffs = {k: float(e_nep[k] - e_teacher[k]) for k in names}
    worst = max((abs(v) for v in diffs.values()), default=0.0)
    swapped = []
    for i, a in enumerate(names):
        for b in names[i + 1:]:
            dt = e_teacher[a] - e_teacher[b]
            dn = e_nep[a] - e_nep[b]
            if abs(dt) > tol_meV_atom and np.sign(dt) != np.sign(dn):
                swapped.append(f"{a}/{b}")
    detail = {"nep_meV_atom": dict(e_nep), "teacher_meV_atom": dict(e_teacher), "difference_meV_atom": diffs,
              "order_swapped": swapped}
    return Gate("phase_order", worst, tol_meV_atom, worst <= tol_meV_atom and not swapped, detail)


def barrier_gate(barriers: Mapping[str, tuple[float, float]], tol_eV: float,
                 converged: Mapping[str, tuple[bool, bool]] | None = None) -> Gate:
    """Li-hop NEB barrier per phase, (NEP, teacher) eV; the value is the worst |difference|. A phase whose
    band did not converge (``converged[phase]``, (NEP, teacher)) fails: its barrier is not a number yet."""
    converged = converged or {}
    detail = {k: {"nep_eV": b[0], "teacher_eV": b[1], "difference_eV": b[0] - b[1],
                  "converged": list(converged.get(k, (True, True)))} for k, b in barriers.items()}
    worst = max((abs(v["difference_eV"]) for v in detail.values()), default=float("nan"))
    bands_converged = all(all(v["converged"]) for v in detail.values())
    ok = _finite(worst) and worst <= tol_eV and bands_converged
    return Gate("barrier", worst, tol_eV, ok, detail, "" if bands_converged else "a band did not converge")


def density_gate(runs: Mapping[str, dict], drift_max: float, deviation_max: float) -> Gate:
    """NEP NPT per case: ``runs[key]`` holds ``volume_drift`` (second half over first, minus 1) and
    ``deviation`` (V_NEP / V_teacher - 1). Both must stay inside their limits in every case; the value
    is the worst |deviation|. A run that stopped early fails."""
    worst_dev = max((abs(r["deviation"]) for r in runs.values() if _finite(r.get("deviation"))), default=float("nan"))
    ok = bool(runs) and all(
        r.get("completed", True) and _finite(r.get("deviation")) and _finite(r.get("volume_drift"))
        and abs(r["deviation"]) <= deviation_max and abs(r["volume_drift"]) <= drift_max
        for r in runs.values())
    worst_drift = max((abs(r["volume_drift"]) for r in runs.values() if _finite(r.get("volume_drift"))),
                      default=float("nan"))
    # The value is the deviation; the drift, the gate's second condition, is named in the note so that a
    # failure by drift alone is not hidden behind a passing value.
    return Gate("density", worst_dev, deviation_max, ok, {k: dict(v) for k, v in runs.items()},
                f"worst volume drift between halves {worst_drift:.1%} (limit {drift_max:.0%})")


def solid_gate(runs: Mapping[str, dict], lindemann_max: float) -> Gate:
    """Every NEP run keeps its anion sublattice ordered: Lindemann index below ``lindemann_max``."""
    worst = max((r["lindemann"] for r in runs.values() if _finite(r.get("lindemann"))), default=float("nan"))
    ok = bool(runs) and all(_finite(r.get("lindemann")) and r["lindemann"] < lindemann_max for r in runs.values())
    return Gate("solid", worst, lindemann_max, ok, {k: dict(v) for k, v in runs.items()})


def summarise(gates: Sequence[Gate]) -> dict:
    """``{name: {value, threshold, passed}}`` (the stable keys of every ``--json``) plus the failed names."""
    table = {g.name: {"value": g.value, "threshold": g.threshold, "passed": bool(g.passed),
                      **({"note": g.note} if g.note else {})} for g in gates}
    return {"gates": table, "passed": all(g.passed for g in gates), "failed": [g.name for g in gates if not g.passed]}
