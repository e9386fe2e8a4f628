"""The seed-selection chain on the bulk phase library: perturb -> filter -> SOAP -> PCA + k-means -> map."""

import numpy as np
from pymatgen.io.ase import AseAtomsAdaptor

from interforge.config.sampling import SamplingSection
from interforge.sampling import (
    filter_close_contacts, farthest_point_sampling, perturb_from_settings, plot_selection_maps,
    select_by_clustering, soap_descriptors, structure_category,
)
from interforge.structures import build_bulk


def test_seed_selection_chain(tmp_path):
    s = SamplingSection(n_strained=6, rattle_A=0.03, soap_r_cut=4.0, soap_n_max=3, soap_l_max=2, n_select=6)
    pool = []
    for k, name in enumerate(["c-ZrO2", "m-ZrO2", "ideal-Li2ZrCl6"]):
        atoms = AseAtomsAdaptor.get_atoms(build_bulk(name, ordered=True)[0])
        pool += [atoms] + [p.atoms for p in perturb_from_settings(atoms, s, seed=k)]
    flt = filter_close_contacts(pool)
    assert flt.rejected == []  # 1-5 % strain and 0.03 Å rattle never create close contacts in these phases
    desc = soap_descriptors(pool, s)
    sel = select_by_clustering(desc.values, s.n_select, seed=0)
    cats = [structure_category(a) for a in pool]
    assert {cats[i] for i in sel.indices} == {"bulk ZrO2", "bulk Li2ZrCl6"}
    # stratified by category: the budget follows the pool's composition (14 ZrO2, 7 Li2ZrCl6 rows)
    strat = select_by_clustering(desc.values, s.n_select, seed=0, groups=cats)
    assert sorted(cats[i] for i in strat.indices) == ["bulk Li2ZrCl6"] * 2 + ["bulk ZrO2"] * 4
    # FPS continuing from the clustering choice never repeats it and spreads over the pool
    fps = farthest_point_sampling(desc.values, 4, selected=sel.indices)
    assert not set(fps.indices.tolist()) & set(sel.indices.tolist())
    out = plot_selection_maps(desc.values, sel.indices, cats, tmp_path / "seed_map.png", perplexity=s.tsne_perplexity)
    assert out.path.is_file() and np.isfinite(out.tsne).all()
