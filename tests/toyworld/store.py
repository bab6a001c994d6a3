"""A small, realistic, valid store for tests and benchmarks (no segmenter needed).

The generative story (all from ``seed``):

* text embeddings ``A`` [K, Dt]: random unit vectors;
* class means ``m_k = W a_k`` with a fixed random ``W`` [D, Dt] (per-dim scale ~1),
  so a generator conditioned on ``a_k`` can transfer to unseen classes;
* matched query = ``m_k + spread * N(0, I)``; unmatched query = ``noise * N(0, I)``;
* each image: one stuff segment (background) + 1-3 thing blobs at mask
  resolution; train has seen classes only, val all classes;
* masks: soft sigmoid blobs for matched queries, ~0 elsewhere;
* CLIP: ``clip_global`` = normalised mean of the present classes' ``a_k`` + noise,
  segment tokens = normalised ``a_k`` + noise (``Dc = Dt``);
* ``query_logits`` and ``seen_head``: a nearest-mean linear head over seen classes
  (unseen rows weight 0, bias -30 -> unseen probability ~0).

GT for evaluation is written as COCO panoptic under ``STORE/gt/<split>/`` and
referenced from ``manifest["dataset"]``.
"""

from __future__ import annotations

import json
import os
from pathlib import Path

import numpy as np

from zs.manifest import hash_obj, sha256_file
from zs.store.record import ImageRecord
from zs.vocab import Vocabulary

TOY_CATEGORIES = [
    {"id": 1, "name": "circle", "isthing": 1, "seen": True},
    {"id": 2, "name": "square", "isthing": 1, "seen": True},
    {"id": 3, "name": "triangle", "isthing": 1, "seen": True},
    {"id": 4, "name": "star", "isthing": 1, "seen": False},
    {"id": 5, "name": "cross", "isthing": 1, "seen": True},
    {"id": 6, "name": "sky", "isthing": 0, "seen": True},
    {"id": 7, "name": "grass", "isthing": 0, "seen": True},
    {"id": 8, "name": "water", "isthing": 0, "seen": False},
]


def default_toy_vocab() -> Vocabulary:
    """8 classes (5 things, 3 stuff), 2 unseen (star, water)."""
    return Vocabulary.from_dict({"name": "toy", "categories": TOY_CATEGORIES})


class ToyWorld:
    """The fixed random parameters of a toy store."""

    def __init__(self, vocab: Vocabulary, dim: int, text_dim: int, seed: int, spread: float, noise: float):
        rng = np.random.default_rng([seed, 0])
        self.vocab, self.dim, self.spread, self.noise = vocab, dim, spread, noise
        a = rng.normal(size=(vocab.num_classes, text_dim))
        self.text = (a / np.linalg.norm(a, axis=1, keepdims=True)).astype(np.float32)  # [K, Dt]
        w = rng.normal(size=(dim, text_dim))  # [D, Dt]
        self.means = (self.text @ w.T).astype(np.float32)  # [K, D], per-dim std ~1
        self.temperature = max(dim / 16.0, 1.0)

    def head_params(self) -> tuple[np.ndarray, np.ndarray]:
        """Nearest-mean linear head over seen classes: weight [K+1, D], bias [K+1]."""
        k = self.vocab.num_classes
        weight = np.zeros((k + 1, self.dim), np.float32)
        bias = np.zeros(k + 1, np.float32)
        for i in range(k):
            if self.vocab.categories[i].seen:
                weight[i] = self.means[i] / self.temperature
                bias[i] = -0.5 * float(self.means[i] @ self.means[i]) / self.temperature
            else:
                bias[i] = -30.0
        return weight, bias

    def logits(self, embed: np.ndarray) -> np.ndarray:
        weight, bias = self.head_params()
        return embed @ weight.T + bias  # [Q, K+1]


def _segment_map(rng, vocab: Vocabulary, mask_shape, allow_unseen: bool) -> tuple[np.ndarray, list[int]]:
    """[h, w] int map of segment index (0 = stuff) and the category index of each segment."""
    h, w = mask_shape
    ok = [i for i, c in enumerate(vocab.categories) if allow_unseen or c.seen]
    stuff = [i for i in ok if not vocab.categories[i].isthing] or ok
    things = [i for i in ok if vocab.categories[i].isthing] or ok
    labels = [int(rng.choice(stuff))]
    seg = np.zeros((h, w), np.int64)
    yy, xx = np.mgrid[0:h, 0:w]
    for _ in range(int(rng.integers(1, 4))):
        cy, cx = rng.uniform(0.2, 0.8) * h, rng.uniform(0.2, 0.8) * w
        ry, rx = rng.uniform(0.12, 0.3) * h, rng.uniform(0.12, 0.3) * w
        inside = ((yy - cy) / ry) ** 2 + ((xx - cx) / rx) ** 2 <= 1.0
        if inside.any():
            seg[inside] = len(labels)
            labels.append(int(rng.choice(things)))
    present = [s for s in range(len(labels)) if (seg == s).any()]
    remap = np.full(len(labels), -1)
    remap[present] = np.arange(len(present))
    return remap[seg], [labels[s] for s in present]


def _soft_mask(binary: np.ndarray) -> np.ndarray:
    """Binary [h, w] -> sigmoid probabilities with soft borders (p > 0.5 exactly on the segment)."""
    f = binary.astype(np.float32)
    pad = np.pad(f, 1, mode="edge")
    blur = sum(pad[dy:dy + f.shape[0], dx:dx + f.shape[1]] for dy in range(3) for dx in range(3)) / 9.0
    logit = 4.0 * (2.0 * f - 1.0) + 6.0 * (blur - 0.5)  # > 0 exactly inside the segment
    return 1.0 / (1.0 + np.exp(-logit))


def make_record(world: ToyWorld, rng, image_id: int, num_queries: int, mask_shape, allow_unseen: bool,
                masks: bool, clip: bool) -> tuple[ImageRecord, np.ndarray]:
    """One toy image's ImageRecord and its segment map at mask resolution."""
    seg, labels = _segment_map(rng, world.vocab, mask_shape, allow_unseen)
    s, q = len(labels), num_queries
    h, w = mask_shape
    match = np.full(q, -1, np.int64)
    match[rng.choice(q, size=min(s, q), replace=False)] = np.arange(min(s, q))
    embed = world.noise * rng.normal(size=(q, world.dim))  # [Q, D]
    matched = match >= 0
    embed[matched] = world.means[[labels[j] for j in match[matched]]] + world.spread * rng.normal(
        size=(int(matched.sum()), world.dim))
    embed = embed.astype(np.float32)
    logits = world.logits(embed).astype(np.float32)  # [Q, K+1]
    probs = np.exp(logits - logits.max(1, keepdims=True))
    probs /= probs.sum(1, keepdims=True)
    cost = np.full(q, np.nan, np.float32)
    for qi in np.flatnonzero(matched):
        cost[qi] = 5.0 * (1.0 - probs[qi, labels[match[qi]]]) + float(rng.uniform(0.1, 1.0))
    mask_probs = None
    if masks:
        mask_probs = 1.0 / (1.0 + np.exp(8.0 - rng.normal(scale=0.5, size=(q, h, w))))  # ~3e-4
        for qi in np.flatnonzero(matched):
            mask_probs[qi] = _soft_mask(seg == match[qi])
        mask_probs = mask_probs.astype(np.float32)
    segments = _segments(world.vocab, seg, labels)
    clip_global = segment_clip = None
    if clip:
        t = world.text
        g = t[labels].mean(0) + 0.3 * rng.normal(size=t.shape[1]) / np.sqrt(t.shape[1])
        clip_global = (g / np.linalg.norm(g)).astype(np.float32)
        sc = t[labels] + 0.3 * rng.normal(size=(s, t.shape[1])) / np.sqrt(t.shape[1])
        segment_clip = (sc / np.linalg.norm(sc, axis=1, keepdims=True)).astype(np.float32)
    hh, ww = 4 * h, 4 * w
    geometry = {"resized_h": hh, "resized_w": ww, "padded_h": hh, "padded_w": ww, "flip": False,
                "crop_x0": 0, "crop_y0": 0, "crop_h": hh, "crop_w": ww, "view": None}
    rec = ImageRecord(image_id=image_id, file_name=f"{image_id:012d}.png", height=hh, width=ww,
                      geometry=geometry, query_embed=embed, query_logits=logits, mask_probs=mask_probs,
                      clip_global=clip_global, segments=segments, segment_clip=segment_clip,
                      match_segment=match, match_cost=cost)
    return rec, seg


def _segments(vocab: Vocabulary, seg: np.ndarray, labels: list[int]) -> list[dict]:
    out = []
    for j, k in enumerate(labels):
        ys, xs = np.nonzero(seg == j)
        x0, y0 = 4 * int(xs.min()), 4 * int(ys.min())
        bbox = [x0, y0, 4 * (int(xs.max()) + 1) - x0, 4 * (int(ys.max()) + 1) - y0]
        out.append({"segment_id": j + 1, "category_id": vocab.categories[k].id, "iscrowd": 0,
                    "area": 16 * len(xs), "bbox": bbox})
    return out


def write_toy_store(path, *, vocab: Vocabulary | None = None, n_train: int = 64, n_val: int = 32,
                    num_queries: int = 16, dim: int = 32, text_dim: int = 16, seed: int = 0,
                    masks: bool = True, clip: bool = True, mask_shape=(16, 16), spread: float = 0.3,
                    noise: float = 0.7, chunk_images: int | None = 16):
    """Write a toy store at ``path`` (train: seen classes; val: all, with masks) and return it."""
    from zs.store.store import create_store

    vocab = vocab or default_toy_vocab()
    world = ToyWorld(vocab, dim, text_dim, seed, spread, noise)
    store = create_store(path, _toy_manifest(vocab, world, num_queries, dim, text_dim, seed, clip))
    store.write_text("default", world.text, {"source": "toy", "templates": []})
    dataset = {}
    for split, n in (("train", n_train), ("val", n_val)):
        if n > 0:
            dataset[split] = _write_toy_split(store, world, split, n, num_queries, seed, mask_shape,
                                              masks=masks and split == "val", clip=clip, chunk_images=chunk_images)
    store.update_manifest({"dataset": dataset})
    _write_seen_head(store, world)
    return store


def _toy_manifest(vocab, world, num_queries, dim, text_dim, seed, clip) -> dict:
    cfg = {"toy": True, "seed": seed, "dim": dim, "text_dim": text_dim, "num_queries": num_queries}
    return {
        "segmenter": {"name": "toy", "path": None, "sha256": hash_obj(cfg), "num_queries": num_queries,
                      "query_dim": dim, "num_classes": vocab.num_classes, "config": cfg},
        "clip": {"model": "toy", "weights_sha256": hash_obj({"toy-clip": seed}), "dim": text_dim} if clip else None,
        "vocabulary": vocab.to_dict(),
        "dataset": {},
    }


def _write_toy_split(store, world, split, n, num_queries, seed, mask_shape, *, masks, clip, chunk_images) -> dict:
    rng = np.random.default_rng([seed, 1 if split == "train" else 2])
    gt_dir = Path(store._loc.path("gt", split)) if store._loc.is_local else None
    annotations = []
    params = dict(num_images=n, num_queries=num_queries, query_dim=world.dim, num_classes=world.vocab.num_classes,
                  clip_dim=world.text.shape[1] if clip else None, mask_shape=mask_shape if masks else None,
                  chunk_images=min(chunk_images or n, n), inputs_sha256=hash_obj({"toy": seed, "split": split}))
    with store.open_writer(split, **params) as writer:
        for row in range(n):
            rec, seg = make_record(world, rng, row + 1, num_queries, mask_shape, split == "val", masks, clip)
            writer.write(row, rec)
            if gt_dir is not None:
                annotations.append(_write_gt_image(gt_dir, rec, seg, world.vocab))
    if gt_dir is None:
        return {"format": "coco-panoptic", "num_images": n}
    return _write_gt_json(gt_dir, annotations, world.vocab)


def _write_gt_image(gt_dir: Path, rec: ImageRecord, seg: np.ndarray, vocab: Vocabulary) -> dict:
    from PIL import Image

    (gt_dir / "png").mkdir(parents=True, exist_ok=True)
    (gt_dir / "images").mkdir(parents=True, exist_ok=True)
    full = np.kron(seg + 1, np.ones((4, 4), np.int64))  # [H, W] segment id (1-based)
    rgb = np.stack([full % 256, full // 256 % 256, full // 65536], -1).astype(np.uint8)
    name = rec.file_name
    Image.fromarray(rgb).save(gt_dir / "png" / name)
    colors = np.array([[(40 + 25 * vocab.index_of_id(s["category_id"])) % 256, 90, 160] for s in rec.segments], np.uint8)
    Image.fromarray(colors[full - 1]).save(gt_dir / "images" / name)
    segs = [{"id": s["segment_id"], "category_id": s["category_id"], "iscrowd": 0, "area": s["area"],
             "bbox": s["bbox"]} for s in rec.segments]
    return {"image_id": rec.image_id, "file_name": name, "segments_info": segs,
            "height": rec.height, "width": rec.width}


def _write_gt_json(gt_dir: Path, annotations: list[dict], vocab: Vocabulary) -> dict:
    images = [{"id": a["image_id"], "file_name": a["file_name"], "height": a.pop("height"),
               "width": a.pop("width")} for a in annotations]
    cats = [{"id": c.id, "name": c.name, "isthing": int(c.isthing)} for c in vocab.categories]
    js = gt_dir / "panoptic.json"
    with open(js, "w") as f:
        json.dump({"images": images, "annotations": annotations, "categories": cats}, f)
    return {"format": "coco-panoptic", "images": os.fspath(gt_dir / "images"), "json": os.fspath(js),
            "png": os.fspath(gt_dir / "png"), "json_sha256": sha256_file(js), "num_images": len(images)}


def _write_seen_head(store, world: ToyWorld) -> None:
    import torch

    from zs.heads import HeadConfig, LinearHead, make_head_manifest

    vocab = world.vocab
    cfg = HeadConfig(kind="linear", query_dim=world.dim, num_classes=vocab.num_classes,
                     seen=[bool(s) for s in vocab.seen_mask()], vocab_sha256=vocab.sha256,
                     segmenter_sha256=store.identity.segmenter_sha256, store_sha256=store.sha256,
                     method="seen-only")
    head = LinearHead(cfg)
    weight, bias = world.head_params()
    with torch.no_grad():
        head.fc.weight.copy_(torch.from_numpy(weight))
        head.fc.bias.copy_(torch.from_numpy(bias))
    manifest = make_head_manifest(cfg, store={"path": str(store.url), "sha256": store.sha256})
    store.save_seen_head(head, manifest)


def class_means(store) -> np.ndarray:
    """[K, D] float32: the class means a toy store's matched queries were drawn around."""
    cfg = store.identity.segmenter["config"]
    return ToyWorld(store.vocab, cfg["dim"], cfg["text_dim"], cfg["seed"], spread=0.0, noise=0.0).means


def matched_queries(reader) -> tuple[np.ndarray, np.ndarray]:
    """Every matched query of a split: (embed [n, D] float32, label [n] int64)."""
    rows, label, _segment = reader.query_labels()  # label [N, Q], K = no-object
    r, q = np.nonzero(label < reader.num_classes)
    return reader.query_embed(rows)[r, q], label[r, q]
