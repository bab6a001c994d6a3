"""All diagnostic figures of synthetic unseen features against real validation features.

:func:`compute_diagnostics` takes arrays (no store, no generator), so it is the
unit under test; ``run.diagnose`` feeds it from a store and a generator.
"""

from __future__ import annotations

import dataclasses

import numpy as np

from zs.errors import ZsError
from zs.evaluate.diagnose import figures as F
from zs.evaluate.diagnose.knn import KnnIndex
from zs.evaluate.diagnose.transfer import transfer_probe


@dataclasses.dataclass
class FeatureSets:
    """Real matched features (all classes present) and synthetic features (unseen classes)."""

    real: np.ndarray  # [N, D] float32
    real_labels: np.ndarray  # [N] int64
    syn: np.ndarray  # [M, D] float32
    syn_labels: np.ndarray  # [M] int64

    def check(self) -> None:
        if self.real.ndim != 2 or self.syn.ndim != 2 or self.real.shape[1] != self.syn.shape[1]:
            raise ZsError(f"feature shapes do not fit: real {self.real.shape}, synthetic {self.syn.shape}")
        if len(self.real) != len(self.real_labels) or len(self.syn) != len(self.syn_labels):
            raise ZsError("features and labels differ in length")
        if not np.isfinite(self.syn).all():
            raise ZsError("the generator produced non-finite features (NaN/inf)")


def agreement_figures(fs: FeatureSets, unseen: list[int], ks: list[int], device: str) -> dict:
    """Synthetic -> real: share of each synthetic feature's k nearest real features with its class."""
    index = KnnIndex(fs.real, device=device)
    _, idx = index.search(fs.syn, max(ks))  # [M, kmax]
    neighbour_labels = fs.real_labels[idx]  # [M, kmax]
    out = {}
    for k in ks:
        per_item = F.knn_label_agreement(neighbour_labels, fs.syn_labels, k)  # [M]
        out[f"agreement@{k}"] = (float(per_item.mean()), F.mean_by_class(per_item, fs.syn_labels, unseen))
    return out


def prototype_figures(fs: FeatureSets, unseen: list[int], seen: list[int], device: str) -> dict:
    """Real unseen -> nearest prototype: synthetic unseen means, then also real seen means (seen-bias)."""
    sel = np.isin(fs.real_labels, unseen)
    q, y = fs.real[sel], fs.real_labels[sel]  # [n_u, D], [n_u]
    syn_means = F.class_centres(fs.syn, fs.syn_labels, unseen)  # [U, D]
    pred_u = F.nearest_prototype(q, syn_means, np.asarray(unseen), device)
    seen_means = F.class_centres(fs.real, fs.real_labels, seen)  # [S, D] (NaN rows: absent classes)
    protos = np.concatenate([syn_means, seen_means])
    pred_all = F.nearest_prototype(q, protos, np.asarray(unseen + seen), device)
    hit_u, hit_all = (pred_u == y).astype(float), (pred_all == y).astype(float)
    to_seen = np.isin(pred_all, seen).astype(float)
    return {
        "prototype_acc_unseen": (float(hit_u.mean()), F.mean_by_class(hit_u, y, unseen)),
        "prototype_acc_with_seen": (float(hit_all.mean()), F.mean_by_class(hit_all, y, unseen)),
        "classified_seen": (float(to_seen.mean()), F.mean_by_class(to_seen, y, unseen)),
    }


def distance_figures(fs: FeatureSets, unseen: list[int], real_classes: list[int], *, max_real: int,
                     seed: int) -> tuple[dict, dict]:
    """Per-class MMD, centre shift and spread; the centre-distance matrices."""
    syn_c = F.class_centres(fs.syn, fs.syn_labels, unseen)  # [U, D]
    real_c = F.class_centres(fs.real, fs.real_labels, real_classes)  # [C, D]
    syn_vs_real = F.pairwise_distances(syn_c, real_c)  # [U, C]
    syn_pair = F.pairwise_distances(syn_c, syn_c)  # [U, U]
    real_u = real_c[: len(unseen)]  # real_classes starts with the unseen classes
    real_pair = F.pairwise_distances(real_u, real_u)  # [U, U]
    mmd, floor = F.per_class_mmd(fs.syn, fs.syn_labels, fs.real, fs.real_labels, unseen, max_real=max_real,
                                 seed=seed)
    spread_syn = F.spread(fs.syn, fs.syn_labels, unseen)
    spread_real = F.spread(fs.real, fs.real_labels, unseen)
    nearest = nearest_columns(syn_vs_real, real_classes)
    per_class = {
        "mmd": mmd, "mmd_floor": floor, "centre_shift": np.diag(syn_vs_real[:, : len(unseen)]).copy(),
        "spread_synthetic": spread_syn, "spread_real": spread_real,
    }
    centres = {
        "mean_centre_distance_synthetic": F.mean_pairwise_distance(syn_pair),
        "mean_centre_distance_real": F.mean_pairwise_distance(real_pair),
        "synthetic_vs_real": syn_vs_real, "synthetic_pairwise": syn_pair, "real_pairwise_unseen": real_pair,
        "nearest_real_centre": nearest,
    }
    return per_class, centres


def nearest_columns(dist: np.ndarray, columns: list[int]) -> list[int]:
    """For each row of dist [R, C], the column label of its smallest finite entry (-1 if none)."""
    out = []
    for row in dist:
        finite = np.isfinite(row)
        out.append(int(columns[int(np.argmin(np.where(finite, row, np.inf)))]) if finite.any() else -1)
    return out


def hubness_figures(fs: FeatureSets, unseen: list[int], k: int, device: str) -> dict:
    """k-occurrence of synthetic features in the real unseen -> synthetic kNN graph."""
    sel = np.isin(fs.real_labels, unseen)
    index = KnnIndex(fs.syn, device=device)
    _, idx = index.search(fs.real[sel], k)  # [n_u, k]
    counts = F.k_occurrence(idx, len(fs.syn))  # [M]
    return {
        "k": int(min(k, len(fs.syn))),
        "skewness": F.skewness(counts),
        "max_k_occurrence": int(counts.max()) if len(counts) else 0,
        "antihub_share": float((counts == 0).mean()) if len(counts) else float("nan"),
        "per_class_mean_k_occurrence": F.mean_by_class(counts.astype(float), fs.syn_labels, unseen),
    }


def head_figures(head, fs: FeatureSets, unseen: list[int], device) -> dict:
    """Accuracy of a head (argmax over K+1) on synthetic vs real unseen features."""
    import torch

    sel = np.isin(fs.real_labels, unseen)
    out = {}
    for name, x, y in (("head_acc_synthetic", fs.syn, fs.syn_labels),
                       ("head_acc_real", fs.real[sel], fs.real_labels[sel])):
        with torch.no_grad():
            pred = head(torch.from_numpy(np.ascontiguousarray(x)).to(device)).argmax(-1).cpu().numpy()  # [n]
        hit = (pred == y).astype(float)
        out[name] = (float(hit.mean()) if len(hit) else float("nan"), F.mean_by_class(hit, y, unseen))
    return out


def compute_diagnostics(fs: FeatureSets, vocab, *, k: int = 10, device: str = "cpu", max_real_mmd: int = 1000,
                        seed: int = 0, head=None, text: np.ndarray | None = None) -> dict:
    """Every figure: ``{"summary": {...}, "per_class": {name: {...}}, "centres": {...}, "hubness": {...}}``.

    Synthetic features must cover the vocabulary's unseen classes; real
    features are the matched validation queries of every class. With ``text``
    ([K, Dt] semantic embeddings) the linear transfer probe
    (:mod:`zs.evaluate.diagnose.transfer`) is added.
    """
    fs.check()
    unseen = [c for c in vocab.unseen_indices if (fs.syn_labels == c).any()]
    if not unseen:
        raise ZsError("no synthetic features of an unseen class to diagnose")
    present = set(np.unique(fs.real_labels).tolist())
    seen = [c for c in vocab.seen_indices if c in present]
    real_classes = unseen + seen
    ks = sorted({1, int(k)})
    per_class_tuples = {**agreement_figures(fs, unseen, ks, device), **prototype_figures(fs, unseen, seen, device)}
    if head is not None:
        per_class_tuples.update(head_figures(head, fs, unseen, device))
    probe = None
    if text is not None and seen:
        probe = transfer_probe(fs.real, fs.real_labels, text, unseen, seen, device)
        per_class_tuples.update(probe["per_class"])
    dist_pc, centres = distance_figures(fs, unseen, real_classes, max_real=max_real_mmd, seed=seed)
    hub = hubness_figures(fs, unseen, k, device)
    summary = {name: overall for name, (overall, _) in per_class_tuples.items()}
    summary.update({f"{name}_mean": _nanmean(v) for name, v in dist_pc.items()})
    summary["mean_centre_distance_synthetic"] = centres["mean_centre_distance_synthetic"]
    summary["mean_centre_distance_real"] = centres["mean_centre_distance_real"]
    summary["hubness_skewness"] = hub["skewness"]
    if probe is not None:
        summary["text_ridge_lambda"] = probe["ridge_lambda"]
    columns = {name: per for name, (_, per) in per_class_tuples.items()}
    columns.update(dist_pc)
    columns["k_occurrence_mean"] = hub.pop("per_class_mean_k_occurrence")
    columns["n_real"] = np.array([(fs.real_labels == c).sum() for c in unseen])
    columns["n_synthetic"] = np.array([(fs.syn_labels == c).sum() for c in unseen])
    names = vocab.names
    per_class = {names[c]: {key: _scalar(col[j]) for key, col in columns.items()} for j, c in enumerate(unseen)}
    for j, c in enumerate(unseen):
        nearest = centres["nearest_real_centre"][j]
        per_class[names[c]]["nearest_real_centre"] = names[nearest] if nearest >= 0 else None
    centre_block = {
        "synthetic_labels": [names[c] for c in unseen], "real_labels": [names[c] for c in real_classes],
        "real_seen": [False] * len(unseen) + [True] * len(seen),
        "distance": "euclidean",
        "synthetic_vs_real": centres["synthetic_vs_real"], "synthetic_pairwise": centres["synthetic_pairwise"],
        "real_pairwise_unseen": centres["real_pairwise_unseen"],
    }
    counts = {"real": int(len(fs.real)), "real_unseen": int(np.isin(fs.real_labels, unseen).sum()),
              "synthetic": int(len(fs.syn)), "unseen_classes": len(unseen), "seen_classes_in_real": len(seen)}
    return {"summary": summary, "per_class": per_class, "hubness": hub, "counts": counts, "centres": centre_block}


def _nanmean(v: np.ndarray) -> float:
    v = np.asarray(v, float)
    v = v[np.isfinite(v)]
    return float(v.mean()) if len(v) else float("nan")


def _scalar(x):
    x = x.item() if hasattr(x, "item") else x
    return float(x) if isinstance(x, float) else x
