"""Parity data, RMSE and plots of a NEP model against reference labels.

Units: energies per atom eV/atom, forces eV/Å (all Cartesian components), virial per atom
eV/atom (6 Voigt components xx yy zz yz xz xy; virial = -stress x volume). RMSEs are reported
in meV/atom and meV/Å.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from pathlib import Path
from typing import Sequence

import numpy as np
from ase import Atoms

from interforge.fileio import atomic_path

log = logging.getLogger(__name__)


@dataclass
class ParityData:
    """Reference and predicted values, flattened per quantity."""

    energy_ref: np.ndarray
    energy_pred: np.ndarray
    force_ref: np.ndarray
    force_pred: np.ndarray
    virial_ref: np.ndarray
    virial_pred: np.ndarray

    def rmse(self) -> dict[str, float]:
        """RMSE in meV/atom (energy, virial) and meV/Å (force); NaN when a quantity is absent."""
        def r(a, b):
            return float(np.sqrt(np.mean((a - b) ** 2)) * 1000) if len(a) else float("nan")

        return {"energy_meV_atom": r(self.energy_ref, self.energy_pred),
                "force_meV_A": r(self.force_ref, self.force_pred),
                "virial_meV_atom": r(self.virial_ref, self.virial_pred)}


def _virial_voigt(stress6: np.ndarray, volume: float, n: int) -> np.ndarray:
    return -np.asarray(stress6, dtype=float) * volume / n


def parity_data(structures: Sequence[Atoms], evaluate) -> ParityData:
    """Compare ``evaluate(atoms) -> Evaluation`` with the labels held by each structure's calculator."""
    e_r, e_p, f_r, f_p, v_r, v_p = [], [], [], [], [], []
    for a in structures:
        res = a.calc.results
        n = len(a)
        ev = evaluate(a)
        e_r.append(float(res["energy"]) / n)
        e_p.append(ev.energy / n)
        f_r.append(np.asarray(res["forces"]).ravel())
        f_p.append(ev.forces.ravel())
        if res.get("stress") is not None:
            s = np.asarray(res["stress"], dtype=float)
            if s.shape == (3, 3):
                s = s[[0, 1, 2, 1, 0, 0], [0, 1, 2, 2, 2, 1]]
            vol = a.get_volume()
            v_r.append(_virial_voigt(s, vol, n))
            v_p.append(_virial_voigt(ev.stress, vol, n))
    cat = (lambda xs: np.concatenate(xs) if xs else np.zeros(0))
    return ParityData(np.array(e_r), np.array(e_p), cat(f_r), cat(f_p), cat(v_r), cat(v_p))


def plot_parity(data: ParityData, out_dir: str | Path, label: str = "", test: ParityData | None = None) -> list[Path]:
    """Write parity_energy.png, parity_force.png, parity_virial.png (train, and test if given)
    into ``out_dir`` with the RMSE in the legend. Returns the paths written."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    out_dir = Path(out_dir)
    paths = []
    spec = [("energy", "energy (eV/atom)", "meV/atom", "energy_meV_atom"),
            ("force", "force component (eV/Å)", "meV/Å", "force_meV_A"),
            ("virial", "virial component (eV/atom)", "meV/atom", "virial_meV_atom")]
    sets = [("train", data)] + ([("test", test)] if test is not None else [])
    for q, axis_label, unit, key in spec:
        fig, ax = plt.subplots(figsize=(4.2, 4.0), dpi=110)
        lo, hi = np.inf, -np.inf
        for name, d in sets:
            ref, pred = getattr(d, f"{q}_ref"), getattr(d, f"{q}_pred")
            if not len(ref):
                continue
            ax.scatter(ref, pred, s=4, alpha=0.6, label=f"{name}: RMSE {d.rmse()[key]:.1f} {unit}")
            lo, hi = min(lo, ref.min(), pred.min()), max(hi, ref.max(), pred.max())
        if np.isfinite(lo):
            ax.plot([lo, hi], [lo, hi], "k--", lw=0.8)
            ax.legend(fontsize=8, loc="upper left")
        ax.set_xlabel(f"reference {axis_label}")
        ax.set_ylabel(f"NEP {axis_label}")
        ax.set_title(f"{label} {q}".strip(), fontsize=9)
        fig.tight_layout()
        path = out_dir / f"parity_{q}.png"
        with atomic_path(path) as tmp:
            fig.savefig(tmp, format="png")
        plt.close(fig)
        paths.append(path)
    return paths


def plot_loss_curves(histories: dict[str, list[dict[str, float]]], path: str | Path) -> Path:
    """Energy and force RMSE (train solid, test dashed) against the step, one colour per member."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, axes = plt.subplots(1, 2, figsize=(8.5, 3.6), dpi=110)
    for k, (name, hist) in enumerate(histories.items()):
        steps = [h["step"] for h in hist]
        for ax, q, scale in ((axes[0], "energy", 1000), (axes[1], "forces", 1000)):
            for lab, ls in (("train", "-"), ("test", "--")):
                ys = [h.get(f"rmse_{q}_{lab}", np.nan) * scale for h in hist]
                if np.all(np.isnan(ys)):
                    continue
                ax.plot(steps, ys, ls, color=f"C{k}", lw=1, label=f"{name} {lab}")
    axes[0].set_ylabel("energy RMSE (meV/atom)")
    axes[1].set_ylabel("force RMSE (meV/Å)")
    for ax in axes:
        ax.set_xlabel("step / generation")
        ax.set_yscale("log")
    axes[1].legend(fontsize=6, ncol=2)
    fig.tight_layout()
    path = Path(path)
    with atomic_path(path) as tmp:
        fig.savefig(tmp, format="png")
    plt.close(fig)
    return path
