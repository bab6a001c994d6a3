"""The diagnostic figures as pure functions over feature arrays (numpy in, numbers out).

Conventions: features are rows of float32 arrays [n, D]; labels are contiguous
class indices [n]; "cosine" means inner product of L2-normalised rows
(``knn.KnnIndex``); distances between centres are Euclidean in feature space.
Undefined values (an empty class, a constant distribution) are NaN; the
writer turns them into JSON null.
"""

from __future__ import annotations

from typing import Sequence

import numpy as np

from zs.evaluate.diagnose.knn import KnnIndex


def mean_by_class(values: np.ndarray, labels: np.ndarray, classes: Sequence[int]) -> np.ndarray:
    """[C] mean of ``values`` [n] over each class's items (NaN for a class without items)."""
    out = np.full(len(classes), np.nan)
    for j, c in enumerate(classes):
        sel = labels == c
        if sel.any():
            out[j] = float(values[sel].mean())
    return out


def class_centres(feats: np.ndarray, labels: np.ndarray, classes: Sequence[int]) -> np.ndarray:
    """[C, D] mean feature of each class (NaN rows for classes without items)."""
    out = np.full((len(classes), feats.shape[1]), np.nan)
    for j, c in enumerate(classes):
        sel = labels == c
        if sel.any():
            out[j] = feats[sel].astype(np.float64).mean(0)
    return out


def pairwise_distances(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """Euclidean distances [A, B] between the rows of a [A, D] and b [B, D]."""
    a, b = np.asarray(a, np.float64), np.asarray(b, np.float64)
    d2 = (a * a).sum(1)[:, None] + (b * b).sum(1)[None, :] - 2.0 * a @ b.T  # [A, B]
    return np.sqrt(np.maximum(d2, 0.0))


def mean_pairwise_distance(dist: np.ndarray) -> float:
    """Mean of the strict upper triangle of a square distance matrix (NaN if fewer than 2 rows)."""
    iu = np.triu_indices(len(dist), k=1)
    vals = dist[iu]
    vals = vals[np.isfinite(vals)]
    return float(vals.mean()) if len(vals) else float("nan")


def spread(feats: np.ndarray, labels: np.ndarray, classes: Sequence[int]) -> np.ndarray:
    """[C] mean Euclidean distance of each class's features to the class centre."""
    centres = class_centres(feats, labels, classes)
    out = np.full(len(classes), np.nan)
    for j, c in enumerate(classes):
        sel = labels == c
        if sel.any():
            out[j] = float(np.linalg.norm(feats[sel] - centres[j], axis=1).mean())
    return out


def knn_label_agreement(neighbour_labels: np.ndarray, labels: np.ndarray, k: int) -> np.ndarray:
    """[m] share of each item's first k neighbours (neighbour_labels [m, >=k]) carrying its label."""
    return (neighbour_labels[:, :k] == labels[:, None]).mean(1)


def nearest_prototype(queries: np.ndarray, prototypes: np.ndarray, proto_labels: np.ndarray,
                      device: str = "cpu") -> np.ndarray:
    """[m] label of each query's nearest prototype (cosine), prototypes [P, D] with labels [P]."""
    ok = np.isfinite(prototypes).all(1)
    index = KnnIndex(prototypes[ok], device=device)
    _, idx = index.search(queries, 1)  # [m, 1]
    return np.asarray(proto_labels)[ok][idx[:, 0]]


def k_occurrence(idx: np.ndarray, num_base: int) -> np.ndarray:
    """[num_base] N_k: how often each base item appears among the queries' k nearest neighbours."""
    return np.bincount(idx[idx >= 0].ravel(), minlength=num_base)


def skewness(x: np.ndarray) -> float:
    """Sample skewness E[(x - mu)^3] / sigma^3 (Radovanovic et al.'s hubness measure); NaN if constant."""
    x = np.asarray(x, np.float64)
    sigma = x.std()
    if len(x) < 2 or sigma == 0:
        return float("nan")
    return float(((x - x.mean()) ** 3).mean() / sigma**3)


def mmd(fake: np.ndarray, real: np.ndarray) -> float:
    """The generator loss's multi-bandwidth MMD (``zs.generate.losses.mmd_loss``) of two feature sets."""
    import torch

    from zs.generate.losses import mmd_loss

    if len(fake) == 0 or len(real) == 0:
        return float("nan")
    with torch.no_grad():
        return float(mmd_loss(torch.from_numpy(np.asarray(fake, np.float64)),
                              torch.from_numpy(np.asarray(real, np.float64))))


def mmd_floor(real: np.ndarray, rng: np.random.Generator) -> float:
    """MMD between two random halves of one real class: the estimator's level for equal distributions."""
    if len(real) < 4:
        return float("nan")
    perm = rng.permutation(len(real))
    half = len(real) // 2
    return mmd(real[perm[:half]], real[perm[half:2 * half]])


def per_class_mmd(syn: np.ndarray, syn_labels: np.ndarray, real: np.ndarray, real_labels: np.ndarray,
                  classes: Sequence[int], *, max_real: int, seed: int) -> tuple[np.ndarray, np.ndarray]:
    """([C] MMD synthetic vs real, [C] real-vs-real floor) per class; real capped at ``max_real`` rows."""
    rng = np.random.default_rng(seed)
    out, floor = np.full(len(classes), np.nan), np.full(len(classes), np.nan)
    for j, c in enumerate(classes):
        r = real[real_labels == c]
        if len(r) > max_real:
            r = r[rng.choice(len(r), max_real, replace=False)]
        out[j] = mmd(syn[syn_labels == c], r)
        floor[j] = mmd_floor(r, rng)
    return out, floor
