"""Terminations of a plane: where a stoichiometric block of oriented cells may be cut.

A block is a whole number of oriented unit cells, so its composition is exactly the bulk's. The
termination is the position of the cut along the plane normal: atoms are grouped into layers (by
height, within ``layer_tol``), and a cut may fall in any gap between consecutive layers. The
layer just above the cut is the block's bottom face, the one just below is its top face. Cuts
giving the same pair of face compositions are merged (a cheap stand-in for a full symmetry test);
wider gaps (fewer bonds cut) come first.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass

import numpy as np
from pymatgen.core import Composition

from interforge.interfaces.planes import OrientedCell


@dataclass(frozen=True)
class Termination:
    """One cut of an oriented cell.

    shift: fractional coordinate along the cell's c vector at which the block is cut (0–1).
    gap_A: width of the gap the cut falls in, Å (a proxy for how many bonds are broken).
    bottom / top: reduced compositions of the atomic layer on the block's bottom / top face.
    """

    shift: float
    gap_A: float
    bottom: str
    top: str

    @property
    def label(self) -> str:
        return f"{self.bottom}/{self.top}"

    def to_dict(self) -> dict:
        return {**asdict(self), "label": self.label}


def _layer_label(species: list[str]) -> str:
    return Composition(" ".join(species)).formula.replace(" ", "")


def find_terminations(cell: OrientedCell, max_terminations: int = 3, layer_tol: float = 0.3) -> list[Termination]:
    """The distinct cuts of ``cell`` (ordered structure), widest gap first, at most ``max_terminations``."""
    struct = cell.structure
    if not struct.is_ordered:
        # Disordered sites have no defined layer composition; label by site species strings.
        species = [site.species_string for site in struct]
    else:
        species = [site.specie.symbol for site in struct]
    h = cell.height
    z = np.mod(struct.frac_coords[:, 2], 1.0) * h
    order = np.argsort(z, kind="stable")
    zs = z[order]
    # Start counting just above the widest gap so that no layer straddles the cell boundary.
    gaps = np.append(np.diff(zs), zs[0] + h - zs[-1])
    start = (int(np.argmax(gaps)) + 1) % len(zs)
    order = np.roll(order, -start)
    zr = np.mod(z[order] - z[order[0]], h)  # heights from the first atom above the widest gap
    layers: list[list[int]] = [[0]]
    for k in range(1, len(zr)):
        if zr[k] - zr[k - 1] < layer_tol:
            layers[-1].append(k)
        else:
            layers.append([k])
    cuts: dict[tuple[str, str], Termination] = {}
    n = len(layers)
    for k in range(n):
        lower, upper = layers[k], layers[(k + 1) % n]
        top_z = zr[lower[-1]]
        bot_z = zr[upper[0]] + (h if k == n - 1 else 0.0)
        gap = bot_z - top_z
        shift = float(np.mod((z[order[0]] + top_z + gap / 2) / h, 1.0))
        term = Termination(
            shift=round(shift, 6), gap_A=round(float(gap), 4),
            bottom=_layer_label([species[order[i]] for i in upper]),
            top=_layer_label([species[order[i]] for i in lower]),
        )
        key = (term.bottom, term.top)
        if key not in cuts or cuts[key].gap_A < term.gap_A:
            cuts[key] = term
    ranked = sorted(cuts.values(), key=lambda t: (-t.gap_A, t.shift))
    return ranked[:max_terminations]
