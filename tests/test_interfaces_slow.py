"""Acceptance: the paper's four orientation pairs on the library's (experimental) lattices, and production cells of
them (slow tier). No cell is scaled: on these lattices three pairs match within 1 % and t(101)/ideal(101) needs
1.03 % (docs/interfaces.md)."""

import json

import numpy as np
import pytest
from pymatgen.core import Composition

from interforge.interfaces import build_interface, load_bulk, production_size, search
from interforge.interfaces.matching import NoMatchError

ZRO2 = ["c-ZrO2", "t-ZrO2", "m-ZrO2", "o-ZrO2-Pca21", "o-ZrO2-Pbca"]
LZC = ["alpha-Li2ZrCl6", "ideal-Li2ZrCl6"]

# The paper's production interfaces (Methods): substrate plane / film plane. The cubic "(22-1)" is in the
# primitive basis; the others are the same in both bases.
PAPER_PAIRS = [
    ("c-ZrO2", (1, 1, 1), "ideal-Li2ZrCl6", (0, 0, 1)),
    ("t-ZrO2", (1, 0, 1), "ideal-Li2ZrCl6", (1, 0, 1)),
    ("c-ZrO2", (2, 2, -1), "alpha-Li2ZrCl6", (0, 0, 1)),
    ("m-ZrO2", (0, 1, 0), "alpha-Li2ZrCl6", (2, 0, 1)),
]


def _same_family(bulk, a_primitive, b_primitive):
    """True if two primitive-basis indices are symmetry-equivalent planes of ``bulk`` (pymatgen as reference)."""
    from pymatgen.core.surface import get_symmetrically_equivalent_miller_indices

    from interforge.interfaces.planes import miller_to_conventional, primitive_transformation

    m = primitive_transformation(bulk.structure)
    a, b = miller_to_conventional(a_primitive, m), miller_to_conventional(b_primitive, m)
    eq = {tuple(e) for e in get_symmetrically_equivalent_miller_indices(bulk.structure, b, return_hkil=False)}
    eq |= {tuple(-x for x in e) for e in eq}
    return tuple(a) in eq


#: Strain limit that admits all four pairs on the library lattices with room (largest: t(101)/ideal(101), 1.03 %).
STRAIN = 0.025


@pytest.fixture(scope="module")
def experimental_search():
    bulks = {n: load_bulk(n) for n in ZRO2 + LZC}
    found = []
    for s in ZRO2:
        for f in LZC:
            try:
                found += search(bulks[s], bulks[f], max_miller=2, max_area=200.0, max_strain=STRAIN,
                                max_angle_strain=STRAIN)
            except NoMatchError:
                pass
    return bulks, found


@pytest.mark.slow
def test_search_lists_the_papers_four_pairs(experimental_search):
    bulks, found = experimental_search
    for sub, hkl_p, film, film_p in PAPER_PAIRS:
        hits = [c for c in found if c.substrate == sub and c.film == film
                and _same_family(bulks[sub], c.substrate_miller_primitive, hkl_p)
                and _same_family(bulks[film], c.film_miller_primitive, film_p)]
        assert hits, f"{sub} {hkl_p} / {film} {film_p} missing"
        for c in hits:
            assert c.area_A2 <= 200.0 and c.max_strain < STRAIN and abs(c.angle_strain) <= STRAIN


@pytest.mark.slow
@pytest.mark.parametrize("k", range(4))
def test_production_cells_of_the_paper_pairs(experimental_search, k):
    bulks, found = experimental_search
    sub, hkl_p, film, film_p = PAPER_PAIRS[k]
    cand = next(c for c in found if c.substrate == sub and c.film == film
                and _same_family(bulks[sub], c.substrate_miller_primitive, hkl_p)
                and _same_family(bulks[film], c.film_miller_primitive, film_p))
    lateral, n_s, n_f = production_size(cand, bulks[sub], bulks[film], target_atoms=10000,
                                        substrate_thickness=22.0, film_thickness=45.0)
    cell = build_interface(cand, bulks[sub], bulks[film], lateral=lateral, substrate_layers=n_s, film_layers=n_f)
    atoms = cell.atoms
    assert 7000 < len(atoms) < 14000
    syms = np.array(atoms.get_chemical_symbols())
    blocks = atoms.get_array("block")
    assert Composition(" ".join(syms[blocks == 0])).reduced_formula == "ZrO2"
    assert Composition(" ".join(syms[blocks == 1])).reduced_formula == "Li2ZrCl6"
    # Contacts checked independently of the builder with ASE's neighbour list at 0.7 × (R_i + R_j).
    from ase.data import covalent_radii
    from ase.neighborlist import neighbor_list

    i, j, d = neighbor_list("ijd", atoms, 0.7 * 2 * covalent_radii[[3, 8, 17, 40]].max())
    r = covalent_radii[atoms.numbers]
    assert np.all(d >= 0.7 * (r[i] + r[j]))
    thick = np.ptp(atoms.positions[blocks == 1, 2])
    assert 40.0 < thick < 50.0
    assert len(cell.interfaces_z) == 2
    json.dumps(cell.summary())  # JSON-able


@pytest.mark.slow
def test_m010_alpha201_production_counts_equal_the_papers(experimental_search):
    # Paper interface 4: Zr1536O3072 / Li1152Zr576Cl3456.
    bulks, found = experimental_search
    sub, film = bulks["m-ZrO2"], bulks["alpha-Li2ZrCl6"]
    cand = next(c for c in found if c.substrate == "m-ZrO2" and c.film_miller == (2, 0, 1))
    lateral, n_s, n_f = production_size(cand, sub, film, target_atoms=10000)
    cell = build_interface(cand, sub, film, lateral=lateral, substrate_layers=n_s, film_layers=n_f)
    assert cell.substrate_formula == "O3072Zr1536"
    assert cell.film_formula == "Cl3456Li1152Zr576"
