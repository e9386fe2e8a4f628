"""2D selection maps: the figure is written, PCA agrees with the selection module, t-SNE keeps selected rows."""

import numpy as np
import pytest
from ase import Atoms
from ase.build import bulk

from interforge.errors import InterforgeError
from interforge.sampling import pca_2d, plot_selection_maps, structure_category, tsne_2d


def _data(seed=0):
    rng = np.random.default_rng(seed)
    x = np.vstack([rng.normal(loc=c, scale=0.3, size=(20, 8)) for c in (0.0, 4.0, 8.0)])
    cats = ["bulk ZrO2"] * 20 + ["bulk Li2ZrCl6"] * 20 + ["interface"] * 20
    return x, cats


def test_map_written_and_consistent(tmp_path):
    import matplotlib.image as mpimg

    x, cats = _data()
    out = plot_selection_maps(x, [0, 25, 45], cats, tmp_path / "map.png", seed=1, perplexity=10)
    assert out.path.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    img = mpimg.imread(out.path)
    assert img.shape[1] > img.shape[0] > 100  # two panels side by side
    np.testing.assert_allclose(out.pca, pca_2d(x, seed=1).latent)
    assert out.tsne.shape == (60, 2) and np.all(np.isfinite(out.tsne))
    assert not list(tmp_path.glob(".map.png*"))  # atomic write leaves no temporaries


def test_tsne_separates_well_separated_groups():
    x, cats = _data(1)
    emb = tsne_2d(x, seed=0, perplexity=10)
    labels = np.repeat(np.arange(3), 20)
    # every point's nearest neighbour in the embedding comes from its own group
    d = np.linalg.norm(emb[:, None] - emb[None], axis=-1)
    np.fill_diagonal(d, np.inf)
    assert np.all(labels[np.argmin(d, axis=1)] == labels)


def test_tsne_subsample_keeps_selected(tmp_path):
    x, cats = _data(2)
    sel = [1, 2, 50, 59]
    out = plot_selection_maps(x, sel, cats, tmp_path / "m.svg", max_points=20, perplexity=5)
    assert out.tsne.shape == (20, 2) and set(sel) <= set(out.tsne_rows.tolist())
    assert (tmp_path / "m.svg").read_text().lstrip().startswith("<?xml")


def test_bad_inputs(tmp_path):
    x, cats = _data()
    with pytest.raises(InterforgeError):
        plot_selection_maps(x, [0], cats[:-1], tmp_path / "a.png")
    with pytest.raises(InterforgeError):
        plot_selection_maps(x, [600], cats, tmp_path / "a.png")


def test_structure_category():
    assert structure_category(bulk("ZrO2", "fluorite", a=5.1)) == "bulk ZrO2"
    assert structure_category(Atoms("Li2ZrCl6")) == "bulk Li2ZrCl6"
    assert structure_category(Atoms("Li2Zr2Cl6O4")) == "interface"
    assert structure_category(Atoms("Si2")) == "bulk Si"
    tagged = Atoms("Li2ZrCl6", info={"category": "interface"})
    assert structure_category(tagged) == "interface"
