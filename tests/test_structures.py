"""Bulk phase library and ordering, checked against spglib, pymatgen's Ewald code and its enumerator."""

import numpy as np
import pytest
import spglib
from ase.neighborlist import neighbor_list
from pymatgen.analysis.ewald import EwaldSummation
from pymatgen.analysis.structure_matcher import StructureMatcher
from pymatgen.transformations.standard_transformations import OrderDisorderedStructureTransformation

from interforge.errors import StructureError
from interforge.structures import build_bulk, enumerate_orderings, get_phase, list_phases, read_structure, write_structure
from interforge.structures.io import to_atoms

# Shortest physically sensible distances (Å) per pair: ionic radii sums minus a generous margin.
MIN_DIST = {("O", "Zr"): 1.9, ("O", "O"): 2.2, ("Cl", "Zr"): 2.3, ("Cl", "Li"): 2.3, ("Cl", "Cl"): 3.0,
            ("Li", "Li"): 2.5, ("Li", "Zr"): 2.8, ("Zr", "Zr"): 3.2}


def _spglib_number(struct):
    # Partially occupied sites are typed by (species, occupancy), as in the disordered parent.
    types = {}
    numbers = [types.setdefault(site.species.formula, len(types)) for site in struct]
    return spglib.get_symmetry_dataset((struct.lattice.matrix, struct.frac_coords, numbers), symprec=1e-3).number


@pytest.mark.parametrize("phase", list_phases(), ids=lambda p: p.name)
def test_parent_space_group_matches_spglib(phase):
    assert _spglib_number(phase.structure()) == phase.spacegroup_number


@pytest.mark.parametrize("phase", list_phases(), ids=lambda p: p.name)
def test_stoichiometry_and_distances_of_ordered_cells(phase):
    struct, _ = build_bulk(phase.name, ordered=True, supercell=(1, 1, 1))
    assert struct.is_ordered
    assert struct.composition.reduced_formula == phase.formula
    atoms = to_atoms(struct)
    i, j, d = neighbor_list("ijd", atoms, 4.0)
    sym = np.array(atoms.get_chemical_symbols())
    assert len(d) > 0
    for a, b, dist in zip(sym[i], sym[j], d):
        key = tuple(sorted((a, b)))
        assert dist > MIN_DIST.get(key, 1.5), f"{phase.name}: {key} at {dist:.3f} Å"


def test_provenance_fields_are_present():
    from interforge.structures.phases import STATUSES

    for p in list_phases():
        row = p.summary()
        assert row["source"] and row["status"] in STATUSES
        assert row["name"] and row["formula"] and row["spacegroup_number"] > 0


#: Space groups as the publications (and the paper's Materials Project ids) give them, independent of the
#: library file: MP-1565 Fm-3m, MP-2574 P4_2/nmc, MP-2858 P2_1/c, MP-556605 Pca2_1 (Kisi et al. 1989 report
#: it in the Pbc2_1 setting, the same group No. 29), MP-1190186 Pbca; Li2ZrCl6 alpha P-3m1, beta C2/m,
#: ideal P-31c (the seed paper, refs 23, 26, 29).
PUBLISHED_SPACE_GROUP = {"c-ZrO2": 225, "t-ZrO2": 137, "m-ZrO2": 14, "o-ZrO2-Pca21": 29, "o-ZrO2-Pbca": 61,
                         "alpha-Li2ZrCl6": 164, "beta-Li2ZrCl6": 12, "ideal-Li2ZrCl6": 163}

#: Cited lattices (a, b, c in Å; β in °) of the phases whose status is `literature`, copied from the
#: publications as the library's source names them, so that the library cannot drift from them unnoticed.
CITED_LATTICE = {
    # Lutterotti & Scardi, J. Appl. Cryst. 23 (1990) 246 (COD 2300612)
    "t-ZrO2": (3.5961, 3.5961, 5.177, 90.0),
    # Whittle et al. 2006 (COD 1528984)
    "m-ZrO2": (5.1462, 5.2082, 5.3155, 99.249),
    # Ohtaka et al., J. Am. Ceram. Soc. 73 (1990) 744
    "o-ZrO2-Pbca": (10.0861, 5.2615, 5.0910, 90.0),
    # Kisi, Howard & Hill, J. Am. Ceram. Soc. 72 (1989) 1757 (295 K): a = 0.5068, b = 0.5260, c = 0.5077 nm
    # in their Pbc2_1 setting; the library stores the standard Pca2_1 setting, where a and b swap.
    "o-ZrO2-Pca21": (5.260, 5.068, 5.077, 90.0),
}

#: Lattices of the `dft-relaxed` phases, from the relaxations their sources name (docs/structures.md).
DFT_LATTICE = {
    # GPAW PBE + D3(BJ), 550 eV, 8x8x8 k: E(a) Birch-Murnaghan minimum (PBE alone: 5.104 A)
    "c-ZrO2": (5.076, 5.076, 5.076, 90.0),
    # GPAW PBE + D3(BJ), 600 eV, 3x3x2 k, cell and positions relaxed in P-31c (stress < 0.01 GPa)
    "ideal-Li2ZrCl6": (6.2796, 6.2796, 11.6623, 90.0),
    # the same DFT on the lowest-Ewald ordering (Li on 4h), 3x2x3 k, C2/m kept (stress < 0.03 GPa)
    "beta-Li2ZrCl6": (6.3829, 10.7378, 6.2605, 111.4837),
    # the same DFT on the lowest-Ewald ordering (27 atoms, C2 kept), 2x2x3 k, cell averaged onto the trigonal
    # metric (ab area and volume kept): a, b, c, gamma = 10.7577, 10.8353, 5.8106, 120.239 before averaging
    "alpha-Li2ZrCl6": (10.7834, 10.7834, 5.8106, 90.0),
}

#: Free coordinates of the dft-relaxed phases from the same relaxations (fractional; docs/structures.md).
DFT_SITES = {
    "ideal-Li2ZrCl6": {"Cl 12i": (0.00877, 0.66717, 0.13004)},
    "beta-Li2ZrCl6": {"Li 4h": (0.0, 0.16463, 0.5), "Cl 4i": (0.23825, 0.0, 0.76506),
                      "Cl 8j": (0.26642, 0.33733, 0.74458)},
    # images of each site in the relaxed C2 ordering averaged back onto P-3m1; the three Cl 6i in library order
    "alpha-Li2ZrCl6": {"Zr 2d": (1 / 3, 2 / 3, 0.49734), "Li 6g": (0.34125, 0.0, 0.0), "Li 6h": (0.32209, 0.0, 0.5),
                       "Cl 6i": [(0.10922, -0.10922, 0.23935), (0.44178, -0.44178, 0.25357),
                                 (0.77526, -0.77526, 0.26046)]},
}


def test_dft_relaxed_free_coordinates_are_the_relaxations():
    for name, sites in DFT_SITES.items():
        p = get_phase(name)
        assert p.status == "dft-relaxed"
        for label, xyz in sites.items():
            species, wyckoff = label.split()
            found = [s["xyz"] for s in p.sites if s["species"] == species and s["wyckoff"] == wyckoff]
            expected = xyz if isinstance(xyz, list) else [xyz]
            assert len(found) == len(expected)
            for got, want in zip(found, expected):
                assert got == pytest.approx(want, abs=1e-4)


def test_every_dft_relaxed_phase_matches_its_relaxation():
    relaxed = [p for p in list_phases() if p.status == "dft-relaxed"]
    assert {p.name for p in relaxed} <= set(DFT_LATTICE)
    for p in relaxed:
        lat = p.structure().lattice
        assert lat.abc == pytest.approx(DFT_LATTICE[p.name][:3], rel=0.01)
        assert lat.beta == pytest.approx(DFT_LATTICE[p.name][3], rel=0.01)
        assert "relaxation" in p.source or "relaxed" in p.source


#: Kisi et al. (1989) atom positions in their Pbc2_1 setting (ICSD 67004, as in AFLOW's prototype library
#: A2B_oP12_29_2a_a-002): the library's Pca2_1 cell must be the same crystal.
KISI_PBC21 = {"abc": (5.068, 5.260, 5.077),
              "sites": [("Zr", (0.733, 0.97, 0.25)), ("O", (0.932, 0.639, 0.106)), ("O", (0.463, 0.771, 0.0))]}


@pytest.mark.parametrize("phase", list_phases(), ids=lambda p: p.name)
def test_space_group_is_the_publications(phase):
    assert _spglib_number(phase.structure()) == PUBLISHED_SPACE_GROUP[phase.name]


@pytest.mark.parametrize("name", sorted(CITED_LATTICE))
def test_lattice_within_one_percent_of_the_cited_values(name):
    lat = get_phase(name).structure().lattice
    a, b, c, beta = CITED_LATTICE[name]
    assert lat.abc == pytest.approx((a, b, c), rel=0.01)
    assert lat.beta == pytest.approx(beta, rel=0.01)


def test_every_literature_phase_has_a_cited_lattice():
    for p in list_phases():
        if p.status == "literature":
            assert p.name in CITED_LATTICE, f"{p.name} is `literature` but the test holds no cited lattice for it"


def test_no_placeholder_positions_are_left():
    assert [p.name for p in list_phases() if p.status == "placeholder"] == []


def test_pca21_is_kisis_refined_structure():
    from pymatgen.core import Lattice, Structure

    a, b, c = KISI_PBC21["abc"]
    species, coords = zip(*KISI_PBC21["sites"])
    kisi = Structure.from_spacegroup("Pbc2_1", Lattice.orthorhombic(a, b, c), list(species), list(coords))
    ours = get_phase("o-ZrO2-Pca21").structure()
    ours.remove_oxidation_states()
    assert StructureMatcher(ltol=0.01, stol=0.01, angle_tol=0.1, primitive_cell=False, scale=False).fit(kisi, ours)
    # seven-fold Zr (the refined structure), not the fluorite-parent placeholder it replaced
    zr = next(i for i, s in enumerate(ours) if s.specie.symbol == "Zr")
    d = sorted(ours.distance_matrix[zr][[i for i, s in enumerate(ours) if s.specie.symbol == "O"]])
    assert 2.0 < d[0] and d[6] < 2.3 < 3.0 < d[7]


def test_every_phase_is_from_a_refinement_or_a_dft_relaxation():
    assert all(p.status in {"literature", "dft-relaxed"} for p in list_phases())


def test_lookup_by_alias_and_unknown_name():
    assert get_phase("MP-2858").name == "m-ZrO2"
    with pytest.raises(StructureError, match="unknown phase 'zro3'"):
        get_phase("zro3")


def test_ewald_energies_equal_a_direct_summation():
    orderings = enumerate_orderings(get_phase("beta-Li2ZrCl6").structure())
    for o in orderings:
        direct = EwaldSummation(o.structure).total_energy
        assert o.energy_eV == pytest.approx(direct, abs=1e-6)
    energies = [o.energy_eV for o in orderings]
    assert energies == sorted(energies)


def _peer_distinct(struct):
    t = OrderDisorderedStructureTransformation(algo=OrderDisorderedStructureTransformation.ALGO_BEST_FIRST)
    ranked = t.apply_transformation(struct, return_ranked_list=100000)
    groups = StructureMatcher().group_structures([r["structure"] for r in ranked])
    return len(ranked), len(groups), min(r["energy"] for r in ranked)


def test_distinct_orderings_match_pymatgen_beta():
    struct = get_phase("beta-Li2ZrCl6").structure()
    n_all, n_distinct, e_min = _peer_distinct(struct)
    ours = enumerate_orderings(struct)
    assert len(ours) == n_distinct
    assert sum(o.multiplicity for o in ours) == n_all
    assert ours[0].energy_eV == pytest.approx(e_min, abs=1e-6)


@pytest.mark.slow
def test_distinct_orderings_match_pymatgen_alpha():
    struct = get_phase("alpha-Li2ZrCl6").structure()
    n_all, n_distinct, e_min = _peer_distinct(struct)
    ours = enumerate_orderings(struct)
    assert (len(ours), sum(o.multiplicity for o in ours)) == (n_distinct, n_all)
    assert ours[0].energy_eV == pytest.approx(e_min, abs=1e-6)


def test_ewald_ranking_is_deterministic_and_independent_of_site_order():
    struct = get_phase("alpha-Li2ZrCl6").structure()
    first = enumerate_orderings(struct)
    again = enumerate_orderings(struct)
    shuffled = struct.copy()
    rng = np.random.default_rng(1)
    order = rng.permutation(len(struct))
    shuffled = type(struct).from_sites([struct[i] for i in order])
    other = enumerate_orderings(shuffled)
    assert [o.occupied for o in first] == [o.occupied for o in again]
    np.testing.assert_allclose([o.energy_eV for o in first], [o.energy_eV for o in other], atol=1e-8)
    matcher = StructureMatcher()
    assert matcher.fit(first[0].structure, other[0].structure)


def test_supercell_enumeration_needs_whole_ion_counts():
    struct = get_phase("alpha-Li2ZrCl6").structure()
    ordered = enumerate_orderings(struct, (1, 1, 2), max_results=3)
    assert ordered[0].structure.composition.reduced_formula == "Li2ZrCl6"
    assert len(ordered[0].structure) == 54


def test_rerank_by_relaxation_orders_by_the_calculators_energy():
    from ase.calculators.lj import LennardJones

    from interforge.structures import rerank_by_relaxation

    orderings = enumerate_orderings(get_phase("beta-Li2ZrCl6").structure())
    calc = LennardJones(sigma=2.3, epsilon=0.01, rc=6.0)
    ranked = rerank_by_relaxation(orderings, calc, k=3, fmax=0.5, steps=20)
    relaxed = [o.relaxed_energy_per_atom_eV for o in ranked[:3]]
    assert relaxed == sorted(relaxed)
    atoms = to_atoms(ranked[0].structure)
    atoms.calc = LennardJones(sigma=2.3, epsilon=0.01, rc=6.0)
    assert atoms.get_potential_energy() / len(atoms) == pytest.approx(relaxed[0], abs=1e-6)
    assert all(o.relaxed_energy_per_atom_eV is None for o in ranked[3:])


@pytest.mark.parametrize("name", ["t.cif", "t.xyz", "POSCAR", "t.vasp"])
def test_write_and_read_back(tmp_path, name):
    struct, _ = build_bulk("m-ZrO2", supercell=(1, 1, 2))
    path = write_structure(struct, tmp_path / name)
    atoms = read_structure(path)
    assert sorted(atoms.get_chemical_symbols()) == sorted(to_atoms(struct).get_chemical_symbols())
    assert atoms.get_volume() == pytest.approx(struct.volume, rel=1e-6)


def test_disordered_phase_cannot_go_to_xyz(tmp_path):
    struct, _ = build_bulk("alpha-Li2ZrCl6")
    with pytest.raises(StructureError, match="partial occupancies"):
        write_structure(struct, tmp_path / "a.xyz")
    assert not (tmp_path / "a.xyz").exists()
    write_structure(struct, tmp_path / "a.cif")  # CIF keeps occupancies
    assert "0.667" in (tmp_path / "a.cif").read_text() or "0.666" in (tmp_path / "a.cif").read_text()
