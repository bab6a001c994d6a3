"""Trained-like predictions on a synthetic panoptic image, for agreement checks of the post-processing.

A random segmenter's masks and a random head are not what Mask2Former's
post-processing sees in practice: a trained model gives one query per segment
with a confident class and a smooth mask (logits of about ±10 with soft
borders a few mask pixels wide), a few weak duplicates, and many queries that
predict no-object. Mask2Former supervises the masks of matched queries only,
so a no-object query's mask is unconstrained: here half of them are near-empty
and half carry smooth random blobs. :func:`trained_like_image` builds
that for one image: a COCO-like ground truth (stuff regions with smooth borders,
thing ellipses on top, void along the borders) and the decoder-resolution
mask logits + class probabilities a trained model would give for it, with
imperfections (shifted, noisy borders; some wrong or unsure classes).
Used by ``benchmarks/eval_agreement.py`` (COCO geometry, 200+ images) and the
fast-path tests (small images).
"""

from __future__ import annotations

import dataclasses

import numpy as np
import torch
import torch.nn.functional as F

from zs.evaluate.evaluation.inference import MASK_STRIDE
from zs.evaluate.evaluation.streaming import GroundTruthImage


@dataclasses.dataclass
class TrainedLikeImage:
    gt: GroundTruthImage
    geometry: dict  # resized_h/w, padded_h/w (Mask2Former's test-time resize + padding to 32)
    mask_logits: torch.Tensor  # [Q, Hp/4, Wp/4] float32
    class_probs: torch.Tensor  # [Q, K+1] (last = no-object)


def coco_test_geometry(h: int, w: int, short: int = 800, long: int = 1333, pad: int = 32) -> dict:
    """Mask2Former's test resize (shortest edge ``short``, longest at most ``long``) and padding."""
    scale = min(short / min(h, w), long / max(h, w))
    rh, rw = int(round(h * scale)), int(round(w * scale))
    return {"resized_h": rh, "resized_w": rw, "padded_h": -(-rh // pad) * pad, "padded_w": -(-rw // pad) * pad}


def _smooth_noise(rng, n: int, shape: tuple[int, int], cells: int) -> torch.Tensor:
    """n smooth random fields in [-1, 1]-ish: bicubic upsampling of a coarse grid. [n, H, W]"""
    coarse = torch.from_numpy(rng.standard_normal((1, n, cells, cells * 4 // 3 + 1))).float()
    return F.interpolate(coarse, size=shape, mode="bicubic", align_corners=False)[0]


def _ground_truth(rng, h: int, w: int, stuff: list[int], things: list[int]) -> tuple[np.ndarray, list[int]]:
    """Segment index map [H, W] (-1 = void) and the category of each segment."""
    n_stuff = int(rng.integers(2, 6))
    fields = _smooth_noise(rng, n_stuff, (h, w), 3)  # [n, H, W]
    seg = fields.argmax(0).numpy().astype(np.int64)  # stuff regions with smooth borders
    cats = [int(c) for c in rng.choice(stuff, n_stuff, replace=False)]
    yy, xx = np.mgrid[0:h, 0:w]
    for _ in range(int(rng.integers(2, 13))):
        cy, cx = rng.uniform(0, h), rng.uniform(0, w)
        ry, rx = rng.uniform(0.03, 0.25) * h, rng.uniform(0.03, 0.25) * w
        inside = ((yy - cy) / ry) ** 2 + ((xx - cx) / rx) ** 2 <= 1
        if inside.sum() < 64:
            continue
        seg[inside] = len(cats)
        cats.append(int(rng.choice(things)))
    border = np.zeros((h, w), bool)  # void along segment borders, as COCO's annotations leave it
    border[:, 2:] |= seg[:, 2:] != seg[:, :-2]
    border[2:, :] |= seg[2:, :] != seg[:-2, :]
    seg[border] = -1
    return seg, cats


def _mask_grid_sample(seg: np.ndarray, geometry: dict) -> np.ndarray:
    """The GT segment index at each decoder-resolution mask pixel (the inverse of the test-time mapping)."""
    h, w = seg.shape
    mh, mw = geometry["padded_h"] // MASK_STRIDE, geometry["padded_w"] // MASK_STRIDE
    ys = ((np.arange(mh) + 0.5) * MASK_STRIDE * h / geometry["resized_h"] - 0.5).round().astype(int).clip(0, h - 1)
    xs = ((np.arange(mw) + 0.5) * MASK_STRIDE * w / geometry["resized_w"] - 0.5).round().astype(int).clip(0, w - 1)
    return seg[ys][:, xs]  # [mh, mw]


def _blur(x: torch.Tensor, sigma: float) -> torch.Tensor:
    """Separable Gaussian blur of [n, H, W]."""
    r = max(1, int(3 * sigma))
    k = torch.exp(-0.5 * (torch.arange(-r, r + 1).float() / sigma) ** 2)
    k = k / k.sum()
    x = F.conv2d(F.pad(x[:, None], (r, r, 0, 0), mode="replicate"), k.view(1, 1, 1, -1))
    return F.conv2d(F.pad(x, (0, 0, r, r), mode="replicate"), k.view(1, 1, -1, 1))[:, 0]


def trained_like_image(rng, image_id: int, num_classes: int, isthing, hw=(480, 640), num_queries: int = 100,
                       geometry: dict | None = None) -> TrainedLikeImage:
    """One synthetic image: ground truth + trained-like decoder outputs (module docstring)."""
    isthing = np.asarray(isthing, bool)
    things, stuff = np.flatnonzero(isthing).tolist(), np.flatnonzero(~isthing).tolist()
    h, w = hw
    geometry = geometry or coco_test_geometry(h, w)
    seg, cats = _ground_truth(rng, h, w, stuff, things)
    n_seg = len(cats)
    low = torch.from_numpy(_mask_grid_sample(seg, geometry))  # [mh, mw] (void = -1: a border pixel)
    mh, mw = low.shape
    nearest = torch.from_numpy(_mask_grid_sample(_fill_void(seg), geometry))
    inside = (nearest[None] == torch.arange(n_seg)[:, None, None]).float()  # [S, mh, mw]
    soft = _blur(inside, float(rng.uniform(0.8, 1.6)))  # soft borders, a few mask pixels wide
    shift = rng.integers(-1, 2, size=2)
    soft = torch.roll(soft, shifts=(int(shift[0]), int(shift[1])), dims=(1, 2))  # imperfect localisation
    noise = _smooth_noise(rng, n_seg, (mh, mw), 12)  # [S, mh, mw]
    gain = torch.from_numpy(rng.uniform(18, 32, size=(n_seg, 1, 1))).float()
    seg_logits = gain * (soft - 0.5) + 1.5 * noise  # about ±12, border where soft crosses 0.5
    q = num_queries
    logits = -8.0 + 3.0 * _smooth_noise(rng, q, (mh, mw), 4)  # no-object queries: near-empty masks ...
    blobs = torch.from_numpy(rng.random(q) < 0.5)  # ... or unconstrained smooth blobs (unsupervised masks)
    logits[blobs] = 6.0 * _smooth_noise(rng, int(blobs.sum()), (mh, mw), 6) - 4.0
    probs = np.zeros((q, num_classes + 1))
    order = rng.permutation(q)
    for s in range(min(n_seg, q)):  # one query per segment, in a random slot
        qi = order[s]
        logits[qi] = seg_logits[s]
        cat = cats[s]
        roll = rng.random()
        if roll < 0.1:  # confident but wrong (a class of the same kind)
            cat = int(rng.choice(things if isthing[cat] else stuff))
        p = rng.uniform(0.85, 0.99) if roll < 0.92 else rng.uniform(0.4, 0.78)  # some unsure
        probs[qi] = _spread(rng, num_classes, {cat: p}, noobj=(1 - p) * 0.6)
    for j in range(n_seg, q):
        qi = order[j]
        if j < n_seg + n_seg // 3:  # weak duplicate of a segment: mostly below 0.5
            s = int(rng.integers(n_seg))
            logits[qi] = seg_logits[s] - rng.uniform(3, 9)
            p = rng.uniform(0.05, 0.5)
            probs[qi] = _spread(rng, num_classes, {cats[s]: p}, noobj=(1 - p) * 0.9)
        else:  # no-object
            probs[qi] = _spread(rng, num_classes, {}, noobj=rng.uniform(0.9, 0.999))
    ids = rng.choice(np.arange(1, 2 ** 24), n_seg, replace=False)
    ids_map = np.where(seg >= 0, ids[seg.clip(0)], 0).astype(np.int64)
    segments = [{"id": int(ids[s]), "category_id": cats[s] + 1, "iscrowd": 0, "area": int((seg == s).sum())}
                for s in range(n_seg) if (seg == s).any()]
    gt = GroundTruthImage(image_id, f"{image_id:012d}.png", ids_map, segments)
    return TrainedLikeImage(gt, geometry, logits.clamp(-30, 30).contiguous(), torch.from_numpy(probs).float())


def _fill_void(seg: np.ndarray) -> np.ndarray:
    """Void pixels take their left (then upper) neighbour's segment: a full partition for the masks."""
    out = seg.copy()
    for _ in range(3):
        hole = out < 0
        out[:, 1:][hole[:, 1:]] = out[:, :-1][hole[:, 1:]]
        hole = out < 0
        out[1:, :][hole[1:, :]] = out[:-1, :][hole[1:, :]]
    return out.clip(0)


def _spread(rng, num_classes: int, fixed: dict[int, float], noobj: float) -> np.ndarray:
    """A class distribution [K+1]: the ``fixed`` probabilities, ``noobj`` on no-object, the rest on a few
    random classes (a trained head's residual mass)."""
    p = np.zeros(num_classes + 1)
    for c, v in fixed.items():
        p[c] = v
    p[num_classes] = noobj
    rest = max(0.0, 1.0 - p.sum())
    others = rng.choice(num_classes, 5, replace=False)
    p[others] += rest * rng.dirichlet(np.ones(5))
    return p / p.sum()
