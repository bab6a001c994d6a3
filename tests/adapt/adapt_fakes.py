"""Small in-memory stand-ins for a feature store and a generator (the contracts' surface only).

World: K=6 classes (0-3 seen, 4-5 unseen), unit text embeddings A [K, Dt];
class means mu_k = A_k @ M (a fixed map Dt -> D), so seen -> unseen transfer is
learnable. Matched queries = mu_k + noise, unmatched = small noise. CLIP
tokens live in the text space: segment token = A_k + noise, global token =
mean of the image's segment tokens. The seen head is a nearest-mean linear
classifier over seen classes (unseen rows strongly negative).
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import torch

from zs.heads import HeadConfig, LinearHead, save_head
from zs.manifest import hash_obj, make_manifest
from zs.vocab import Vocabulary

K, SEEN, D, DT, Q = 6, 4, 24, 16, 8


def toy_vocab(name="toy", unseen=(4, 5)) -> Vocabulary:
    cats = [{"id": i + 1, "name": f"c{i}", "isthing": int(i < 4), "seen": i not in unseen} for i in range(K)]
    return Vocabulary.from_dict({"name": name, "categories": cats})


class FakeGenerator(torch.nn.Module):
    """Samples near the true class means (the issue's "generator that samples near the true means")."""

    def __init__(self, means: np.ndarray, noise: float = 0.6, kind: str = "vae"):
        super().__init__()
        self.register_buffer("means", torch.as_tensor(means, dtype=torch.float32))
        self.noise = noise
        self.cfg = type("Cfg", (), {"kind": kind, "query_dim": means.shape[1]})()

    def sample(self, class_ids, n=1, generator=None):
        mu = self.means[class_ids].repeat_interleave(n, dim=0)  # [M*n, D]
        eps = torch.randn(mu.shape, generator=generator, device=mu.device)
        return mu + self.noise * eps


class FakeReader:
    def __init__(self, store, name, data):
        self.store, self.name = store, name
        self.embed, self.label, self.segrow = data["embed"], data["label"], data["segrow"]
        self.clip_g, self.clip_s = data["clip_global"], data["clip_segment"]
        self.num_images, self.num_queries, self.query_dim = self.embed.shape
        self.has_clip = self.clip_g is not None
        self.clip_dim = None if self.clip_g is None else self.clip_g.shape[1]

    def clip_segment(self, rows):
        return self.clip_s[np.asarray(rows)]

    def queries(self, columns=None, filters=None):  # the label column is all the fakes' users read
        import pandas as pd

        return pd.DataFrame({"label": self.label.reshape(-1)})

    def matched_batches(self, batch_size, *, seed, labels=None, device="cpu", epochs=None):
        want = self.store.vocab.seen_indices if labels is None else list(labels)
        r, q = np.nonzero(np.isin(self.label, want))
        x, y = self.embed[r, q], self.label[r, q]
        epoch = 0
        while epochs is None or epoch < epochs:
            perm = np.random.default_rng([seed, epoch]).permutation(len(y))
            for s in range(0, len(y), batch_size):
                i = perm[s:s + batch_size]
                yield torch.from_numpy(x[i]).to(device), torch.from_numpy(y[i]).to(device)
            epoch += 1

    def image_batches(self, images_per_batch, *, seed, device="cpu", epochs=None):
        epoch = 0
        while epochs is None or epoch < epochs:
            perm = np.random.default_rng([seed, epoch]).permutation(self.num_images)
            for s in range(0, len(perm), images_per_batch):
                i = np.sort(perm[s:s + images_per_batch])
                yield {
                    "embed": torch.from_numpy(self.embed[i]).to(device),
                    "label": torch.from_numpy(self.label[i]).to(device),
                    "rows": torch.from_numpy(i).to(device),
                    "clip_global": None if self.clip_g is None else torch.from_numpy(self.clip_g[i]).to(device),
                    "segment_clip_rows": torch.from_numpy(self.segrow[i] if self.has_clip else
                                                          np.full_like(self.segrow[i], -1)).to(device),
                }
            epoch += 1


class FakeStore:
    def __init__(self, root: Path, vocab, text, splits, clip=True, segmenter_sha="seg" * 8):
        self.url = str(root)
        self.vocab = vocab
        self._text = text
        self.manifest = {
            "segmenter": {"sha256": segmenter_sha, "query_dim": D, "num_queries": Q, "num_classes": K},
            "vocab_sha256": vocab.sha256,
            "clip": {"model": "fake", "weights_sha256": "c" * 64, "dim": DT} if clip else None,
            "vocabulary": vocab.to_dict(),
        }
        self.sha256 = hash_obj({"seg": segmenter_sha, "vocab": vocab.sha256, "root": str(root)})
        self._splits = {n: FakeReader(self, n, d) for n, d in splits.items()}
        self.seen_head_path = str(root / "seen_head")

    def split(self, name):
        return self._splits[name]

    def text(self, name=None):
        return self._text, {}


def _world(seed):
    rng = np.random.default_rng(seed)
    text = rng.normal(size=(K, DT)).astype(np.float32)
    text /= np.linalg.norm(text, axis=1, keepdims=True)
    m = rng.normal(size=(DT, D)).astype(np.float32)
    means = text @ m  # [K, D]
    means *= 4.0 / np.linalg.norm(means, axis=1, keepdims=True)
    return rng, text, means.astype(np.float32)


def _split(rng, text, means, n_images, classes, clip, spread):
    embed = (0.3 * rng.normal(size=(n_images, Q, D))).astype(np.float32)
    label = np.full((n_images, Q), K, np.int64)
    segrow = np.full((n_images, Q), -1, np.int64)
    clip_s, clip_g = [], []
    for i in range(n_images):
        cls = rng.choice(classes, size=rng.integers(1, 4), replace=False)
        qs = rng.choice(Q, size=len(cls), replace=False)
        toks = []
        for c, q in zip(cls, qs):
            embed[i, q] = means[c] + spread * rng.normal(size=D)
            label[i, q] = c
            segrow[i, q] = len(clip_s)
            tok = text[c] + 0.1 * rng.normal(size=DT)
            clip_s.append(tok)
            toks.append(tok)
        clip_g.append(np.mean(toks, 0) + 0.05 * rng.normal(size=DT))
    return {"embed": embed, "label": label, "segrow": segrow,
            "clip_global": np.asarray(clip_g, np.float32) if clip else None,
            "clip_segment": np.asarray(clip_s, np.float32) if clip else None}


def seen_head_for(vocab, means, store_sha="", segmenter_sha="seg" * 8) -> LinearHead:
    cfg = HeadConfig(kind="linear", query_dim=D, num_classes=K, seen=[bool(s) for s in vocab.seen_mask()],
                     vocab_sha256=vocab.sha256, segmenter_sha256=segmenter_sha, store_sha256=store_sha,
                     method="seen-only")
    head = LinearHead(cfg)
    w = torch.zeros(K + 1, D)
    b = torch.full((K + 1,), -20.0)
    mu = torch.as_tensor(means)
    for k in vocab.seen_indices:
        w[k] = mu[k]
        b[k] = -0.5 * float(mu[k] @ mu[k]) + 4.0
    b[K] = 0.0
    with torch.no_grad():
        head.fc.weight.copy_(w)
        head.fc.bias.copy_(b)
    return head


def make_fake_store(root: Path, *, seed=0, n_train=60, n_val=40, clip=True, spread=0.6, vocab=None):
    """(FakeStore, FakeGenerator near the true means); writes the seen head under root/seen_head."""
    root = Path(root)
    vocab = vocab or toy_vocab()
    rng, text, means = _world(seed)
    splits = {"train": _split(rng, text, means, n_train, vocab.seen_indices, clip, spread),
              "val": _split(rng, text, means, n_val, list(range(K)), clip, spread)}
    store = FakeStore(root, vocab, text, splits, clip=clip)
    save_head(seen_head_for(vocab, means, store.sha256), store.seen_head_path,
              make_manifest("zs-head", method="seen-only"))
    return store, FakeGenerator(means)


@torch.no_grad()
def matched_accuracy(head, reader, classes) -> float:
    """Top-1 accuracy (argmax over K+1) of matched queries whose label is in ``classes``."""
    r, q = np.nonzero(np.isin(reader.label, list(classes)))
    x = torch.from_numpy(reader.embed[r, q])
    pred = head(x).argmax(-1).numpy()
    return float((pred == reader.label[r, q]).mean())
