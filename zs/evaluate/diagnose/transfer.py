"""Transfer probe: can a linear map from text to features place the unseen classes?

Generator-independent context for the prototype figures. A ridge-regularised
affine map from the classes' L2-normalised semantic (text) embeddings to the
real class centres is fitted on the seen classes only: both sides are centred
on their seen means (the intercept), then kernel ridge ``W = A_s^T (A_s A_s^T +
lam I)^-1 C_s`` on the centred rows, with ``lam`` chosen by
leave-one-seen-class-out Euclidean centre error (no unseen data is used to fit
or choose anything). It predicts unseen centres ``mean(C_s) + (A_u - mean(A_s)) W``. Real unseen features are then assigned to the nearest centre among
{predicted unseen centres, real seen centres}: the same protocol as
``prototype_acc_with_seen``, with the synthetic means replaced by the linear
prediction. The oracle does the same with the real unseen centres.

Reading: a generator whose ``prototype_acc_with_seen`` is far below the probe
is leaving transfer on the table; when the probe itself is near 0 while the
oracle is not, the store's features of unseen classes are not predictable from
the text embeddings by a ridge-regularised affine map fitted on the seen
classes. (The λ criterion is Euclidean centre error, the accuracy is by cosine
nearest centre, as ``prototype_acc_with_seen``.)
"""

from __future__ import annotations

import numpy as np

from zs.evaluate.diagnose import figures as F

LAMBDAS = (1e-3, 1e-2, 1e-1, 1.0, 10.0)


def _normalise(a: np.ndarray) -> np.ndarray:
    a = np.asarray(a, np.float64)
    return a / np.maximum(np.linalg.norm(a, axis=1, keepdims=True), 1e-12)


def ridge_predict(a_train: np.ndarray, c_train: np.ndarray, a_test: np.ndarray, lam: float) -> np.ndarray:
    """Kernel ridge (no intercept): text [n, Dt] -> centres [n, D] fitted; ``a_test`` [m, Dt] -> [m, D]."""
    k = a_train @ a_train.T  # [n, n]
    alpha = np.linalg.solve(k + lam * np.eye(len(k)), c_train)  # [n, D]
    return (a_test @ a_train.T) @ alpha  # [m, D]


def affine_ridge_predict(a_train: np.ndarray, c_train: np.ndarray, a_test: np.ndarray, lam: float) -> np.ndarray:
    """:func:`ridge_predict` on rows centred on the training means, the centre mean added back (intercept)."""
    a_mu, c_mu = a_train.mean(0), c_train.mean(0)
    return c_mu + ridge_predict(a_train - a_mu, c_train - c_mu, a_test - a_mu, lam)  # [m, D]


def choose_lambda(a_seen: np.ndarray, c_seen: np.ndarray, lambdas=LAMBDAS) -> float:
    """The ridge strength with the smallest leave-one-seen-class-out centre error."""
    best, best_err = lambdas[0], np.inf
    n = len(a_seen)
    for lam in lambdas:
        err = 0.0
        for i in range(n):
            rest = np.arange(n) != i
            pred = affine_ridge_predict(a_seen[rest], c_seen[rest], a_seen[i:i + 1], lam)
            err += float(np.linalg.norm(pred[0] - c_seen[i]))
        if err < best_err:
            best, best_err = lam, err
    return float(best)


def transfer_probe(real: np.ndarray, real_labels: np.ndarray, text: np.ndarray, unseen: list[int],
                   seen: list[int], device: str = "cpu") -> dict:
    """Linear text -> centre probe on real features; figures as ``(overall, per unseen class)`` plus scalars.

    real [N, D], real_labels [N], text [K, Dt] (rows by vocabulary index).
    """
    a = _normalise(text)
    c_seen = F.class_centres(real, real_labels, seen).astype(np.float64)  # [S, D]
    ok = np.isfinite(c_seen).all(1)
    seen_ok = [c for c, good in zip(seen, ok) if good]
    c_seen = c_seen[ok]
    lam = choose_lambda(a[seen_ok], c_seen)
    pred_u = affine_ridge_predict(a[seen_ok], c_seen, a[unseen], lam)  # [U, D]
    real_u = F.class_centres(real, real_labels, unseen).astype(np.float64)  # [U, D]
    sel = np.isin(real_labels, unseen)
    q, y = real[sel], real_labels[sel]
    labels = np.asarray(unseen + seen_ok)
    hits = {}
    for name, centres_u in (("text_ridge_acc_with_seen", pred_u), ("oracle_acc_with_seen", real_u)):
        protos = np.concatenate([centres_u, c_seen]).astype(np.float32)
        pred = F.nearest_prototype(q, protos, labels, device)
        hit = (pred == y).astype(float)
        hits[name] = (float(hit.mean()) if len(hit) else float("nan"), F.mean_by_class(hit, y, unseen))
    shift = np.linalg.norm(pred_u - real_u, axis=1)  # [U]
    hits["text_ridge_centre_shift"] = (float(np.nanmean(shift)), shift)
    return {"per_class": hits, "ridge_lambda": lam}
