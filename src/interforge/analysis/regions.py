"""Interface-versus-bulk summaries of the z profiles: the share of under-coordinated ions (CN < 6)
and the hop rate in each region (paper, sections 2.3-2.4)."""

from __future__ import annotations

from dataclasses import asdict, dataclass

import numpy as np

from interforge.analysis.profiles import HopProfile, region_labels
from interforge.analysis.structure import CNProfile


@dataclass
class RegionSummary:
    """Per region ('interface': within ``width_A`` of a plane; 'bulk': the rest).

    cn_lt6_fraction: share of ions with total CN < 6 (time-averaged). hop_rate_per_ion_ns: hops
    (displacement > threshold over lag_ps) per ion per ns. ions: mean ions per frame in the region.
    """

    region: str
    ions: float
    cn_lt6_fraction: float
    hop_probability: float
    hop_rate_per_ion_ns: float

    def as_dict(self) -> dict:
        return asdict(self)


def region_summary(cn: CNProfile, hops: HopProfile, planes: np.ndarray, cell_z: float,
                   width_A: float = 8.0) -> list[RegionSummary]:
    """Aggregate CN classes and hops of each z bin into interface and bulk regions."""
    out = []
    cn_reg = region_labels(np.asarray(cn.z_A), np.asarray(planes), cell_z, width_A)
    hop_reg = region_labels(np.asarray(hops.z_A), np.asarray(planes), cell_z, width_A)
    for name in ("interface", "bulk"):
        m = cn_reg == name
        ions = float(np.sum(cn.ions[m]))
        lt6 = float(np.sum(cn.classes["lt6"][m]))
        h = hop_reg == name
        h_ions = float(np.sum(hops.ions[h]))
        h_hops = float(np.sum(hops.hops[h]))
        p = h_hops / h_ions if h_ions > 0 else float("nan")
        rate = p / hops.lag_ps * 1000.0 if hops.lag_ps > 0 else float("nan")
        out.append(RegionSummary(name, ions, lt6 / ions if ions > 0 else float("nan"), p, rate))
    return out
