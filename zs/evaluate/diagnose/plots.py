"""Diagnostic plots as PNG bytes (matplotlib Figure + Agg; no pyplot state, no window).

* :func:`scatter_png`: 2-D PCA or t-SNE of real vs synthetic features of the
  unseen classes and their nearest seen classes (the papers' t-SNE figure);
* :func:`centre_heatmap_png`: distances between synthetic unseen centres and real centres;
* :func:`per_class_bars_png`: agreement and prototype accuracy per unseen class.
"""

from __future__ import annotations

from typing import Sequence

import numpy as np

from zs.errors import ConfigError
from zs.evaluate.diagnose.figures import class_centres, pairwise_distances
from zs.evaluate.reports.plots import _figure, _png  # one figure/PNG helper for all report plots

EMBEDDINGS = ("pca", "tsne")


def embed_2d(x: np.ndarray, method: str = "pca", seed: int = 0) -> np.ndarray:
    """[n, D] -> [n, 2] by PCA (SVD of the centred data) or t-SNE (scikit-learn, PCA init)."""
    if method not in EMBEDDINGS:
        raise ConfigError(f"embedding '{method}': expected one of {', '.join(EMBEDDINGS)}")
    x = np.asarray(x, np.float64)
    if method == "tsne" and len(x) > 5:
        from sklearn.manifold import TSNE

        perplexity = float(min(30.0, (len(x) - 1) / 3.0))
        return TSNE(2, perplexity=perplexity, init="pca", random_state=seed).fit_transform(x)
    xc = x - x.mean(0)  # [n, D]
    _, _, vt = np.linalg.svd(xc, full_matrices=False)  # vt [r, D]
    out = xc @ vt[:2].T  # [n, <=2]
    return np.pad(out, ((0, 0), (0, 2 - out.shape[1])))


def nearest_seen_classes(real: np.ndarray, real_labels: np.ndarray, unseen: Sequence[int], seen: Sequence[int],
                         syn: np.ndarray | None = None, syn_labels: np.ndarray | None = None) -> list[int]:
    """Seen classes whose real centre is nearest to an unseen class's real centre, or to its synthetic
    centre when ``syn`` is given (where the generator drifted to); deduplicated, in that order."""
    seen = [c for c in seen if (real_labels == c).any()]
    if not seen:
        return []
    seen_c = class_centres(real, real_labels, seen)  # [S, D]
    anchors = [class_centres(real, real_labels, unseen)]  # [U, D]
    if syn is not None:
        anchors.append(class_centres(syn, syn_labels, unseen))
    out: list[int] = []
    for row in pairwise_distances(np.concatenate(anchors), seen_c):
        if np.isfinite(row).any():
            c = seen[int(np.nanargmin(row))]
            if c not in out:
                out.append(c)
    return out


def _take(labels: np.ndarray, classes: Sequence[int], cap: int, rng) -> np.ndarray:
    keep = []
    for c in classes:
        pos = np.flatnonzero(labels == c)
        keep.append(pos if len(pos) <= cap else np.sort(rng.choice(pos, cap, replace=False)))
    return np.concatenate(keep) if keep else np.zeros(0, np.int64)


def scatter_png(real, real_labels, syn, syn_labels, names: Sequence[str], unseen: Sequence[int],
                seen: Sequence[int], *, method: str = "pca", seed: int = 0, max_points: int = 200) -> bytes:
    """Real (dots) vs synthetic (crosses) features, one colour per class, in a shared 2-D embedding."""
    rng = np.random.default_rng(seed)
    neighbours = nearest_seen_classes(real, real_labels, unseen, seen, syn, syn_labels)
    classes = list(unseen) + neighbours
    r = _take(real_labels, classes, max_points, rng)
    s = _take(syn_labels, unseen, max_points, rng)
    xy = embed_2d(np.concatenate([real[r], syn[s]]), method, seed)  # [nr+ns, 2]
    xy_r, xy_s = xy[: len(r)], xy[len(r):]
    fig = _figure(7.5, 6.0)
    ax = fig.add_subplot(1, 1, 1)
    colours = _colours(len(classes))
    for j, c in enumerate(classes):
        tag = "unseen" if c in unseen else "seen"
        pr = real_labels[r] == c
        ax.scatter(xy_r[pr, 0], xy_r[pr, 1], s=9, color=colours[j], alpha=0.55, marker="o",
                   label=f"{names[c]} ({tag}, real)")
        ps = syn_labels[s] == c
        if ps.any():
            ax.scatter(xy_s[ps, 0], xy_s[ps, 1], s=16, color=colours[j], alpha=0.8, marker="x",
                       label=f"{names[c]} (synthetic)")
    ax.set_title(f"{method.upper()}: real (o) vs synthetic (x) unseen features + nearest seen classes")
    ax.legend(fontsize=6, loc="center left", bbox_to_anchor=(1.01, 0.5), ncol=1 + len(classes) // 16)
    return _png(fig)


def _colours(n: int) -> list:
    from matplotlib import colormaps

    cmap = colormaps["tab20" if n > 10 else "tab10"]
    return [cmap(i % cmap.N) for i in range(n)]


def centre_heatmap_png(matrix, row_labels: Sequence[str], col_labels: Sequence[str], title: str) -> bytes:
    """Heat map of a centre-distance matrix [R, C] with its values written in small cells."""
    m = np.asarray(matrix, float)
    fig = _figure(max(5.0, 0.45 * m.shape[1] + 2.5), max(3.0, 0.4 * m.shape[0] + 1.8))
    ax = fig.add_subplot(1, 1, 1)
    im = ax.imshow(m, cmap="viridis_r", aspect="auto")
    ax.set_xticks(np.arange(m.shape[1]))
    ax.set_xticklabels(col_labels, rotation=90, fontsize=7)
    ax.set_yticks(np.arange(m.shape[0]))
    ax.set_yticklabels(row_labels, fontsize=7)
    if m.size <= 400:
        for (i, j), v in np.ndenumerate(m):
            if np.isfinite(v):
                dark = v > np.nanmean(m)  # viridis_r: large distances are dark
                ax.text(j, i, f"{v:.2g}", ha="center", va="center", fontsize=6, color="white" if dark else "black")
    fig.colorbar(im, ax=ax, label="Euclidean distance")
    ax.set_title(title)
    return _png(fig)


def per_class_bars_png(names: Sequence[str], series: dict[str, Sequence[float]]) -> bytes:
    """Grouped bars (fractions in [0, 1]) per unseen class, one bar per series."""
    x = np.arange(len(names))
    width = 0.8 / max(len(series), 1)
    fig = _figure(max(6.0, 0.6 * len(names) + 2.0), 3.6)
    ax = fig.add_subplot(1, 1, 1)
    for j, (label, vals) in enumerate(series.items()):
        v = np.nan_to_num(np.asarray(vals, float), nan=0.0)
        ax.bar(x + (j - (len(series) - 1) / 2) * width, v, width, label=label)
    ax.set_xticks(x)
    ax.set_xticklabels(names, rotation=90, fontsize=7)
    ax.set_ylim(0, 1.05)
    ax.set_ylabel("fraction")
    ax.legend(fontsize=7)
    ax.set_title("Synthetic unseen features per class")
    return _png(fig)
