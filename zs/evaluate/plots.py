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
