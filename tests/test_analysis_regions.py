"""Interface-vs-bulk aggregation of CN and hop profiles, against a hand count."""

import numpy as np
import pytest

from interforge.analysis.profiles import HopProfile
from interforge.analysis.regions import region_summary
from interforge.analysis.structure import CNProfile


def test_region_summary_matches_a_hand_count():
    z = np.arange(0.5, 40.0, 1.0)  # 40 bins of 1 Å in a 40 Å cell, one plane at z = 10
    ions = np.ones_like(z)
    lt6 = np.where(np.abs(z - 10) <= 8, 0.5, 0.1)  # half under-coordinated near the plane
    cn = CNProfile(z, ions, {}, np.full_like(z, 5.5), {"lt6": lt6 * ions, "eq6": (1 - lt6) * ions, "gt6": 0 * z},
                   3.5, [0])
    hops = HopProfile(z, np.where(np.abs(z - 10) <= 8, 0.2, 0.05), ions, ions * 0, np.zeros(3), 1.25, 10.0, 5, (0, 50))
    # Interface bins: z within 8 Å of 10 (periodic, 40 Å cell): 2.5..17.5 -> 16 bins.
    summary = {s.region: s for s in region_summary(cn, hops, np.array([10.0]), 40.0, 8.0)}
    assert summary["interface"].ions == 16 and summary["bulk"].ions == 24
    assert summary["interface"].cn_lt6_fraction == pytest.approx(0.5)
    assert summary["bulk"].cn_lt6_fraction == pytest.approx(0.1)
    # 0.2 hops per ion per 10 ps pair = 20 per ion per ns
    assert summary["interface"].hop_rate_per_ion_ns == pytest.approx(20.0)
    assert summary["bulk"].hop_rate_per_ion_ns == pytest.approx(5.0)
