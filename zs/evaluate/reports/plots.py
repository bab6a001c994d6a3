"""Report plots as PNG bytes (matplotlib, Agg backend; no window, no file)."""

from __future__ import annotations

import io
from typing import Sequence

import numpy as np

SEEN_COLOR = "#4C72B0"
UNSEEN_COLOR = "#DD8452"


def _figure(width: float, height: float):
    from matplotlib.figure import Figure  # no pyplot: no global backend state, PNG via Agg

    return Figure(figsize=(width, height), dpi=100)


def _png(fig) -> bytes:
    buf = io.BytesIO()
    fig.savefig(buf, format="png", bbox_inches="tight")
    return buf.getvalue()


def per_class_bar_png(names: Sequence[str], values: Sequence[float], unseen: Sequence[bool],
                      metric: str = "PQ") -> bytes:
    """Per-class bars sorted by value, seen and unseen coloured apart; values are fractions."""
    order = np.argsort(-np.asarray(values, dtype=float), kind="stable")
    vals = np.asarray(values, dtype=float)[order] * 100  # [C] percent
    colors = [UNSEEN_COLOR if unseen[i] else SEEN_COLOR for i in order]
    fig = _figure(max(6.0, 0.22 * len(vals) + 1.5), 3.6)
    ax = fig.add_subplot(1, 1, 1)
    ax.bar(np.arange(len(vals)), vals, color=colors)
    ax.set_xticks(np.arange(len(vals)))
    ax.set_xticklabels([names[i] for i in order], rotation=90, fontsize=7)
    ax.set_ylabel(f"{metric} (%)")
    ax.set_ylim(0, 100)
    ax.set_title(f"Per-class {metric}: seen vs unseen")
    from matplotlib.patches import Patch

    ax.legend(handles=[Patch(color=SEEN_COLOR, label="seen"), Patch(color=UNSEEN_COLOR, label="unseen")],
              loc="upper right", fontsize=8)
    return _png(fig)


def confusion_png(gt_labels: Sequence[str], pred_labels: Sequence[str], matrix, unit: str = "segments",
                  max_cols: int = 25) -> bytes:
    """Heat map of unseen GT classes (rows) vs predicted classes (cols), rows normalised.

    Only the ``max_cols`` columns with the largest totals are drawn (plus
    the GT classes themselves, so the diagonal is visible).
    """
    m = np.asarray(matrix, dtype=float)  # [U, C]
    keep = _columns_to_keep(gt_labels, pred_labels, m, max_cols)
    m = m[:, keep]  # [U, C']
    totals = np.asarray(matrix, dtype=float).sum(axis=1, keepdims=True)  # [U, 1]
    frac = np.divide(m, totals, out=np.zeros_like(m), where=totals > 0)  # [U, C']
    fig = _figure(max(5.0, 0.4 * len(keep) + 2.5), max(2.5, 0.4 * len(gt_labels) + 1.5))
    ax = fig.add_subplot(1, 1, 1)
    im = ax.imshow(frac, cmap="viridis", vmin=0, vmax=1, aspect="auto")
    ax.set_xticks(np.arange(len(keep)))
    ax.set_xticklabels([pred_labels[j] for j in keep], rotation=90, fontsize=7)
    ax.set_yticks(np.arange(len(gt_labels)))
    ax.set_yticklabels([f"{g} (n={int(t)})" for g, t in zip(gt_labels, totals[:, 0])], fontsize=7)
    for i in range(frac.shape[0]):
        for j in range(frac.shape[1]):
            if frac[i, j] >= 0.05:
                ax.text(j, i, f"{100 * frac[i, j]:.0f}", ha="center", va="center", fontsize=6,
                        color="white" if frac[i, j] < 0.6 else "black")
    ax.set_xlabel("predicted class")
    ax.set_ylabel("unseen ground-truth class")
    ax.set_title(f"Where unseen {unit} went (% of each row)")
    fig.colorbar(im, ax=ax, fraction=0.03)
    return _png(fig)


def _columns_to_keep(gt_labels, pred_labels, m: np.ndarray, max_cols: int) -> list[int]:
    by_total = [int(j) for j in np.argsort(-m.sum(axis=0), kind="stable") if m[:, j].sum() > 0][:max_cols]
    own = [j for j, p in enumerate(pred_labels) if p in set(gt_labels)]
    return sorted(set(by_total) | set(own))


GROUP_COLORS = {"seen": SEEN_COLOR, "unseen": UNSEEN_COLOR, "HM": "#55A868"}


def _grouped_bars(ax, labels: Sequence[str], series: dict, colors: dict) -> None:
    """Bars of ``series`` = {name: (means, stds)} side by side per label; None -> no bar, no error bar."""
    width = 0.8 / max(1, len(series))
    x = np.arange(len(labels))
    for k, (name, (means, stds)) in enumerate(series.items()):
        m = np.array([np.nan if v is None else v for v in means], dtype=float)
        e = np.array([np.nan if v is None else v for v in stds], dtype=float)  # nan: no error bar drawn
        ax.bar(x + (k - (len(series) - 1) / 2) * width, np.nan_to_num(m), width, yerr=e, capsize=2,
               color=colors.get(name), label=name, error_kw={"elinewidth": 0.8})
    ax.set_xticks(x)
    ax.set_xticklabels(labels, rotation=30, ha="right", fontsize=8)
    ax.grid(axis="y", alpha=0.3)


def metric_bars_png(labels: Sequence[str], panels: dict) -> bytes:
    """One subplot per metric (``panels`` = {metric: {group: (means, stds)}}), bars per method, seed error bars.

    Values are percentages; a std of None (one seed) draws no error bar.
    """
    fig = _figure(11.5, 3.8)  # ~1150 px: the report's width, unscaled
    for i, (metric, series) in enumerate(panels.items()):
        ax = fig.add_subplot(1, len(panels), i + 1)
        _grouped_bars(ax, labels, series, GROUP_COLORS)
        ax.set_title(metric)
        ax.set_ylabel("%" if i == 0 else "")
        if i == len(panels) - 1:
            ax.legend(fontsize=8, loc="upper left", bbox_to_anchor=(1.0, 1.0))  # outside: never over a bar
    fig.tight_layout()
    return _png(fig)


def heatmap_png(row_labels: Sequence[str], col_labels: Sequence[str], values, title: str,
                vmax: float = 100.0) -> bytes:
    """Rows x columns heat map of percentages with the value written in each cell; None -> blank."""
    m = np.array([[np.nan if v is None else v for v in row] for row in values], dtype=float)  # [R, C]
    fig = _figure(max(5.0, 0.55 * len(col_labels) + 2.5), max(2.2, 0.4 * len(row_labels) + 1.6))
    ax = fig.add_subplot(1, 1, 1)
    im = ax.imshow(np.ma.masked_invalid(m), cmap="viridis", vmin=0, vmax=vmax, aspect="auto")
    ax.set_xticks(np.arange(len(col_labels)))
    ax.set_xticklabels(col_labels, rotation=60, ha="right", fontsize=7)
    ax.set_yticks(np.arange(len(row_labels)))
    ax.set_yticklabels(row_labels, fontsize=8)
    for i in range(m.shape[0]):
        for j in range(m.shape[1]):
            if not np.isnan(m[i, j]):
                ax.text(j, i, f"{m[i, j]:.0f}", ha="center", va="center", fontsize=6,
                        color="white" if m[i, j] < 0.6 * vmax else "black")
    ax.set_title(title)
    fig.colorbar(im, ax=ax, fraction=0.03)
    return _png(fig)


def beside_png(labels: Sequence[str], left: dict, right: dict, left_title: str, right_title: str) -> bytes:
    """Two grouped-bar subplots side by side over the same methods: metrics (left), what explains them (right)."""
    fig = _figure(11.5, 3.8)
    palette = ["#4C72B0", "#DD8452", "#55A868", "#C44E52", "#8172B3", "#937860"]
    for k, (series, title) in enumerate(((left, left_title), (right, right_title))):
        ax = fig.add_subplot(1, 2, k + 1)
        _grouped_bars(ax, labels, series, {n: palette[j % len(palette)] for j, n in enumerate(series)})
        ax.set_title(title, fontsize=10)
        ax.set_ylabel("%")
        ax.legend(fontsize=7, loc="upper center", bbox_to_anchor=(0.5, -0.3), ncol=2)
    fig.tight_layout()
    return _png(fig)
