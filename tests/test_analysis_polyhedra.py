"""CSM against cosymlib and ideal shapes; convex-hull volumes against analytic values."""

import numpy as np
import pytest
from cosymlib.shape import Shape
from cosymlib.shape.tools import get_reference_structure

from interforge.analysis.polyhedra import SHAPES, best_shape, csm, hull_volume, polyhedra


def ideal(label, bond=2.5):
    n = int(label.rsplit("-", 1)[1])
    ref = np.asarray(get_reference_structure(label, central_atom=n + 1).get_positions())
    v = ref[:n] - ref[n]
    return v / np.linalg.norm(v, axis=1).max() * bond


@pytest.mark.parametrize("label", ["OC-6", "T-4", "vOC-5", "SPY-5", "TBPY-5", "TPR-6", "SP-4"])
def test_csm_zero_for_ideal_shape_any_orientation_scale_and_order(label):
    rng = np.random.default_rng(0)
    v = ideal(label, 2.3)
    q, _ = np.linalg.qr(rng.normal(size=(3, 3)))
    q *= np.sign(np.linalg.det(q))  # a proper rotation
    v = (v @ q.T)[rng.permutation(len(v))] * 1.37
    assert csm(v, label) < 1e-8
    vals, shape = best_shape(v[None], len(v))
    assert vals[0] < 1e-8 and shape[0] == label


def test_square_pyramid_with_li_in_base_plane_is_voc5():
    # Hand-built: 4 ligands in the Li plane at 2.5 Å and one apex above Li.
    v = np.array([[2.5, 0, 0], [0, 2.5, 0], [-2.5, 0, 0], [0, -2.5, 0], [0, 0, 2.5]])
    vals, shape = best_shape(v[None], 5)
    assert shape[0] == "vOC-5" and vals[0] < 1e-10


@pytest.mark.parametrize("cn", [4, 5, 6])
def test_csm_matches_cosymlib_on_distorted_polyhedra(cn):
    rng = np.random.default_rng(cn)
    for label in SHAPES[cn]:
        base = ideal(label)
        for _ in range(3):
            v = base + rng.normal(0, 0.3, base.shape)
            ref = Shape(np.vstack([v, [[0.0, 0.0, 0.0]]])).measure(label, central_atom=cn + 1)
            assert csm(v, label) == pytest.approx(ref, abs=1e-3)


def test_hull_volumes_of_ideal_polyhedra():
    r = 2.5
    assert hull_volume(ideal("OC-6", r)) == pytest.approx(4 / 3 * r ** 3)  # octahedron: 4/3 r³
    assert hull_volume(ideal("T-4", r)) == pytest.approx(8 * r ** 3 / (9 * np.sqrt(3)))  # tetrahedron
    assert hull_volume(ideal("SP-4", r)) == 0.0  # flat
    assert hull_volume(ideal("vOC-5", r)) == pytest.approx(2 * r * r * r / 3)  # square pyramid, base 2r²


def test_polyhedra_of_rocksalt_are_octahedra_across_periodic_boundaries():
    from interforge.analysis.synthetic import rocksalt_interface

    a = 5.14
    nums, pos, cell, _ = rocksalt_interface(n_xy=2, n_z_each=2, a_cl=a, a_o=a)
    li = np.flatnonzero(nums == 3)
    cl = np.flatnonzero(nums == 17)
    # only the Li block, made periodic on its own: cut the cell to the LiCl half
    z0 = pos[cl, 2].min()
    cell2 = cell.copy()
    cell2[2, 2] = 2 * a
    polys = polyhedra(pos[li] - [0, 0, z0], pos[cl] - [0, 0, z0], cell2, 3.2, li, "Li")
    assert len(polys) == len(li)
    for p in polys:
        assert p.cn == 6 and p.shape == "OC-6" and p.csm < 1e-8
        assert p.volume_A3 == pytest.approx(4 / 3 * (a / 2) ** 3)
