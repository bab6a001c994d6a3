"""The head refits' toy world: a real toy store (``toyworld.store``: 8 classes, star and water unseen,
32-dim queries, 8 queries per image) and a generator that samples near its true class means."""

from __future__ import annotations

import dataclasses

import numpy as np
import torch

from toyworld.store import class_means, default_toy_vocab, matched_queries, write_toy_store
from zs.vocab import Vocabulary


class NearMeanGenerator(torch.nn.Module):
    """``sample(class_ids, n)`` -> ``means[class_ids] + noise * N(0, I)``, [M*n, D] (the generator interface
    the head refits call): what a perfectly trained generator would give on a toy store."""

    def __init__(self, means: np.ndarray, noise: float = 0.6, kind: str = "vae"):
        super().__init__()
        self.register_buffer("means", torch.as_tensor(means, dtype=torch.float32))  # [K, D]
        self.noise = noise
        self.cfg = type("Cfg", (), {"kind": kind, "query_dim": means.shape[1]})()

    def sample(self, class_ids, n=1, generator=None):
        mu = self.means[class_ids].repeat_interleave(n, dim=0)  # [M*n, D]
        eps = torch.randn(mu.shape, generator=generator, device=mu.device)
        return mu + self.noise * eps


def make_adapt_store(path, *, n_train=60, n_val=40, clip=True, vocab=None, seed=0):
    """(store, NearMeanGenerator) for a toy store written at ``path``."""
    store = write_toy_store(path, vocab=vocab, n_train=n_train, n_val=n_val, num_queries=8, seed=seed, clip=clip,
                            mask_shape=(8, 8))
    return store, NearMeanGenerator(class_means(store))


def other_vocab() -> Vocabulary:
    """The toy vocabulary with another unseen set (square and water)."""
    cats = [dict(dataclasses.asdict(c), seen=c.name not in ("square", "water"))
            for c in default_toy_vocab().categories]
    return Vocabulary.from_dict({"name": "other", "categories": cats})


@torch.no_grad()
def matched_accuracy(head, reader, classes) -> float:
    """Top-1 accuracy (argmax over K+1) of the matched queries whose label is in ``classes``."""
    x, y = matched_queries(reader)
    keep = np.isin(y, list(classes))
    pred = head(torch.from_numpy(x[keep])).argmax(-1).numpy()
    return float((pred == y[keep]).mean())
