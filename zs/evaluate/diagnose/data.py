"""Inputs of the diagnostics: real matched validation features (read chunk-wise) and synthetic samples."""

from __future__ import annotations

import logging

import numpy as np
from tqdm import tqdm

from zs.errors import StoreError, ZsError

log = logging.getLogger(__name__)


def matched_table(split, num_classes: int):
    """(row [n], query [n], label [n]) of the split's matched queries (label < K), sorted by row."""
    t = split.queries(columns=["row", "query", "label"], filters=[("label", "<", num_classes), ("label", ">=", 0)])
    t = t.sort_values(["row", "query"], kind="stable")
    return (t["row"].to_numpy(np.int64), t["query"].to_numpy(np.int64), t["label"].to_numpy(np.int64))


def subsample_per_class(labels: np.ndarray, cap: int | None, seed: int) -> np.ndarray:
    """Sorted positions keeping at most ``cap`` random items of each label (all when cap is None)."""
    if cap is None:
        return np.arange(len(labels))
    rng = np.random.default_rng(seed)
    keep = []
    for c in np.unique(labels):
        pos = np.flatnonzero(labels == c)
        keep.append(pos if len(pos) <= cap else rng.choice(pos, cap, replace=False))
    return np.sort(np.concatenate(keep)) if keep else np.zeros(0, np.int64)


def read_matched_features(split, rows: np.ndarray, queries: np.ndarray, *, progress: bool = False) -> np.ndarray:
    """query_embed[row, query] for each pair, read one image-chunk at a time: [n, D] float32.

    ``rows`` must be sorted (as :func:`matched_table` returns them).
    """
    out = np.empty((len(rows), split.query_dim), np.float32)
    c = split.chunk_images
    chunks = np.unique(rows // c)
    starts = np.searchsorted(rows, chunks * c)
    ends = np.searchsorted(rows, (chunks + 1) * c)
    for chunk, a, b in tqdm(list(zip(chunks, starts, ends)), desc="real features", disable=not progress):
        lo = int(chunk) * c
        block = split.query_embed(slice(lo, min(lo + c, split.num_images)))  # [c, Q, D]
        out[a:b] = block[rows[a:b] - lo, queries[a:b]]
    return out


def load_real_features(store, split_name: str, *, max_per_class: int | None = None, seed: int = 0,
                       progress: bool = False) -> tuple[np.ndarray, np.ndarray]:
    """Real matched features of ``split_name`` and their labels: ([n, D] float32, [n] int64).

    StoreError when the split is absent or has no matched query of an unseen class.
    """
    if split_name not in store.splits:
        raise StoreError(f"{store.url}: no '{split_name}' split to diagnose against "
                         f"(splits: {', '.join(store.splits) or 'none'})")
    split = store.split(split_name)
    vocab = store.vocab
    rows, queries, labels = matched_table(split, vocab.num_classes)
    unseen = np.asarray(vocab.unseen_indices, np.int64)
    if not np.isin(labels, unseen).any():
        names = ", ".join(vocab.names[i] for i in unseen) or "none in the vocabulary"
        raise StoreError(f"{store.url}: split '{split_name}' has no matched query of an unseen class ({names})")
    keep = subsample_per_class(labels, max_per_class, seed)
    feats = read_matched_features(split, rows[keep], queries[keep], progress=progress)
    log.info("read %d real matched features from %s/%s", len(keep), store.url, split_name)
    return feats, labels[keep]


def sample_synthetic(generator, classes, per_class: int, *, seed: int, device) -> tuple[np.ndarray, np.ndarray]:
    """``per_class`` samples of each class from ``generator.sample``: ([M*n, D] float32, [M*n] int64)."""
    import torch

    if per_class <= 0:
        raise ZsError(f"per_class={per_class}: must be > 0")
    ids = torch.as_tensor(list(classes), dtype=torch.long, device=device)
    rng = torch.Generator().manual_seed(int(seed))  # CPU draws, moved: the same samples on any device
    with torch.no_grad():
        feats = generator.sample(ids, per_class, generator=rng)  # [M*n, D]
    labels = np.repeat(np.asarray(list(classes), np.int64), per_class)
    return feats.detach().float().cpu().numpy(), labels
