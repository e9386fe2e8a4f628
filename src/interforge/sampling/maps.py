"""2D maps of a structure pool: PCA and t-SNE side by side, selected versus pool.

Like the paper's Figure 1b, points are coloured by a category — ``bulk ZrO2``, ``bulk Li2ZrCl6``
or ``interface`` for the reference system (see :func:`structure_category`) — and the selected
structures are drawn on top with a black edge. The figure is drawn with matplotlib's Agg canvas
(no display, no global pyplot state) and written atomically.
"""

from __future__ import annotations

import logging
import os
from dataclasses import dataclass
from pathlib import Path
from typing import Sequence

import numpy as np
from ase import Atoms

from interforge.errors import InterforgeError
from interforge.fileio import atomic_path
from interforge.sampling.selection import _as_matrix, pca_2d

log = logging.getLogger(__name__)

#: Colours of the reference system's categories (as in the paper: ZrO2 blue, Li2ZrCl6 orange, interface green).
CATEGORY_COLOURS = {"bulk ZrO2": "tab:blue", "bulk Li2ZrCl6": "tab:orange", "interface": "tab:green"}
_OTHER_COLOURS = ["tab:red", "tab:purple", "tab:brown", "tab:pink", "tab:olive", "tab:cyan", "tab:gray"]


def structure_category(atoms: Atoms) -> str:
    """Category of a structure for the maps.

    ``atoms.info["category"]`` wins when set; otherwise by composition: only Zr and O →
    ``bulk ZrO2``; only Li, Zr and Cl → ``bulk Li2ZrCl6``; both O and Cl → ``interface``;
    anything else → ``bulk <empirical formula>``.
    """
    if atoms.info.get("category"):
        return str(atoms.info["category"])
    el = set(atoms.get_chemical_symbols())
    if el and el <= {"Zr", "O"}:
        return "bulk ZrO2"
    if el and el <= {"Li", "Zr", "Cl"}:
        return "bulk Li2ZrCl6"
    if "O" in el and "Cl" in el:
        return "interface"
    return f"bulk {atoms.get_chemical_formula(mode='hill', empirical=True)}"


def tsne_2d(x, seed: int = 0, perplexity: float = 30.0) -> np.ndarray:
    """t-SNE embedding (M, 2) of the rows of ``x`` (scikit-learn, PCA initialisation, seeded).

    Rows are first reduced to at most 50 principal components (the usual de-noising step), and
    the perplexity is clamped to ``(M - 1) / 3`` so that small pools still embed.
    """
    from sklearn.decomposition import PCA
    from sklearn.manifold import TSNE

    a = _as_matrix(x, "descriptors")
    m = a.shape[0]
    if m < 3:
        # t-SNE needs a neighbourhood; with 1-2 points the PCA picture is the honest one.
        return pca_2d(a, seed).latent
    if a.shape[1] > 50 and m > 50:
        a = PCA(n_components=50, random_state=seed).fit_transform(a)
    perp = float(min(perplexity, max(1.0, (m - 1) / 3.0 - 1e-9)))
    tsne = TSNE(n_components=2, perplexity=perp, init="pca", random_state=seed, learning_rate="auto")
    return tsne.fit_transform(a)


@dataclass
class SelectionMap:
    """The figure written (``path``), the PCA coordinates of every row (``pca``, (M, 2)) and the
    t-SNE coordinates (``tsne``, (P, 2)) of the rows ``tsne_rows`` (all rows unless the pool was
    subsampled for t-SNE), with each row's ``categories``."""

    path: Path
    pca: np.ndarray
    tsne: np.ndarray
    tsne_rows: np.ndarray
    categories: list[str]
    explained_variance_ratio: np.ndarray


def _colours(categories: Sequence[str]) -> dict[str, str]:
    # The reference categories keep their fixed colours (and legend order); others follow, sorted.
    present = set(categories)
    known = [c for c in CATEGORY_COLOURS if c in present]
    others = sorted(present - set(known))
    out = {c: CATEGORY_COLOURS[c] for c in known}
    out.update({c: _OTHER_COLOURS[k % len(_OTHER_COLOURS)] for k, c in enumerate(others)})
    return out


def plot_selection_maps(
    x,
    selected,
    categories: Sequence[str],
    path: str | os.PathLike,
    seed: int = 0,
    perplexity: float = 30.0,
    max_points: int | None = 5000,
    title: str | None = None,
) -> SelectionMap:
    """Draw PCA and t-SNE maps of descriptor rows ``x`` with ``selected`` rows highlighted.

    ``categories`` gives one label per row (colour). The t-SNE panel embeds at most
    ``max_points`` rows: all selected rows plus a seeded random subset of the rest (t-SNE cost
    grows as M log M). The file format follows the suffix of ``path`` (png, pdf, svg).
    """
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure

    a = _as_matrix(x, "descriptors")
    m = a.shape[0]
    categories = [str(c) for c in categories]
    if len(categories) != m:
        raise InterforgeError(f"{len(categories)} categories for {m} descriptor rows")
    sel = np.unique(np.asarray(selected, dtype=int).ravel())
    if sel.size and (sel.min() < 0 or sel.max() >= m):
        raise InterforgeError(f"selected indices must lie in [0, {m})")
    is_sel = np.zeros(m, dtype=bool)
    is_sel[sel] = True

    proj = pca_2d(a, seed=seed)
    rows = np.arange(m)
    if max_points is not None and m > max_points:
        rest = np.flatnonzero(~is_sel)
        n_rest = max(0, max_points - sel.size)
        pick = np.random.default_rng(seed).choice(rest, size=min(n_rest, rest.size), replace=False)
        rows = np.sort(np.concatenate([sel, pick]))
        log.info("t-SNE map: %d of %d rows (all %d selected kept)", rows.size, m, sel.size)
    emb = tsne_2d(a[rows], seed=seed, perplexity=perplexity)

    colours = _colours(categories)
    cats = np.asarray(categories)
    fig = Figure(figsize=(11.0, 5.0), layout="constrained")
    FigureCanvasAgg(fig)
    panels = [
        (proj.latent, np.arange(m), "PCA (PC1 {:.1%}, PC2 {:.1%})".format(*proj.explained_variance_ratio), ("PC1", "PC2")),
        (emb, rows, "t-SNE", ("t-SNE 1", "t-SNE 2")),
    ]
    for k, (xy, idx, name, labels) in enumerate(panels):
        ax = fig.add_subplot(1, 2, k + 1)
        for cat, col in colours.items():
            pool = (cats[idx] == cat) & ~is_sel[idx]
            chosen = (cats[idx] == cat) & is_sel[idx]
            if pool.any():
                ax.scatter(xy[pool, 0], xy[pool, 1], s=6, c=col, alpha=0.35, linewidths=0, label=f"{cat} (pool)")
            if chosen.any():
                ax.scatter(xy[chosen, 0], xy[chosen, 1], s=28, c=col, edgecolors="black", linewidths=0.6,
                           label=f"{cat} (selected)")
        ax.set_title(name)
        ax.set_xlabel(labels[0])
        ax.set_ylabel(labels[1])
        if k == 1:
            ax.legend(fontsize=7, loc="best", markerscale=1.2, frameon=False)
    fig.suptitle(title or f"{sel.size} selected of {m} structures")
    path = Path(path)
    with atomic_path(path) as tmp:
        fig.savefig(tmp, dpi=150)
    log.info("wrote selection map %s", path)
    return SelectionMap(path=path, pca=proj.latent, tsne=emb, tsne_rows=rows, categories=categories,
                        explained_variance_ratio=proj.explained_variance_ratio)
