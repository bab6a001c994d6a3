"""One image's worth of extracted features (what ``SplitWriter.write`` takes)."""

from __future__ import annotations

import dataclasses
import io
import json
from typing import Any

import numpy as np

from zs.errors import StoreError
from zs.store.masks import probs_to_logits

GEOMETRY_KEYS = (
    "resized_h", "resized_w", "padded_h", "padded_w", "flip",
    "crop_x0", "crop_y0", "crop_h", "crop_w", "view",
)


@dataclasses.dataclass
class ImageRecord:
    image_id: int
    file_name: str
    height: int
    width: int
    geometry: dict
    query_embed: Any  # [Q, D]
    query_logits: Any  # [Q, K+1]
    mask_probs: Any = None  # [Q, h, w] in [0, 1] | None (stored as logits clamped at 1e-6)
    clip_global: Any = None  # [Dc] | None
    segments: list = dataclasses.field(default_factory=list)  # dict(segment_id, category_id, iscrowd, area, bbox)
    segment_clip: Any = None  # [S, Dc] | None
    match_segment: Any = None  # [Q] int, index into segments, -1 = no-object
    match_cost: Any = None  # [Q] float, NaN when unmatched
    mask_logits: Any = None  # [Q, h, w] float logits | None (preferred over mask_probs when both are given)


def to_numpy(x, dtype=None) -> np.ndarray | None:
    """numpy or torch (CPU or not) -> numpy array."""
    if x is None:
        return None
    if hasattr(x, "detach"):
        x = x.detach().cpu().float().numpy() if x.is_floating_point() else x.detach().cpu().numpy()
    arr = np.asarray(x)
    return arr.astype(dtype, copy=False) if dtype is not None else arr


def _check_shape(name: str, arr, shape: tuple, row: int) -> None:
    if arr is None:
        raise StoreError(f"row {row}: ImageRecord.{name} is missing (expected shape {shape})")
    if tuple(arr.shape) != tuple(shape):
        raise StoreError(f"row {row}: ImageRecord.{name} has shape {tuple(arr.shape)}, split expects {tuple(shape)}")


def normalized_arrays(rec: ImageRecord, meta: dict, row: int) -> dict:
    """Validate a record against the split's shapes; return its numpy arrays."""
    q, d, k1 = meta["num_queries"], meta["query_dim"], meta["num_classes"] + 1
    out = {
        "query_embed": to_numpy(rec.query_embed, np.float32),
        "query_logits": to_numpy(rec.query_logits, np.float32),
    }
    _check_shape("query_embed", out["query_embed"], (q, d), row)
    _check_shape("query_logits", out["query_logits"], (q, k1), row)
    if meta.get("mask_shape"):
        out.update(_mask_array(rec, (q, *meta["mask_shape"]), row))
    if meta.get("clip_dim"):
        out["clip_global"] = to_numpy(rec.clip_global, np.float32)
        _check_shape("clip_global", out["clip_global"], (meta["clip_dim"],), row)
    return out


def _mask_array(rec: ImageRecord, shape: tuple, row: int) -> dict:
    """``{"mask_logits": [Q, h, w] float32}`` from the record's logits (or its probabilities)."""
    if rec.mask_logits is not None:
        logits = to_numpy(rec.mask_logits, np.float32)
        _check_shape("mask_logits", logits, shape, row)
        return {"mask_logits": logits}
    probs = to_numpy(rec.mask_probs, np.float32)
    _check_shape("mask_probs", probs, shape, row)
    return {"mask_logits": probs_to_logits(probs)}


def fragment_bytes(rec: ImageRecord, meta: dict, row: int) -> bytes:
    """The per-image table data (+ segment CLIP tokens) as one .npz blob."""
    q = meta["num_queries"]
    segs = list(rec.segments or [])
    match = to_numpy(rec.match_segment, np.int64) if rec.match_segment is not None else np.full(q, -1)
    cost = to_numpy(rec.match_cost, np.float32) if rec.match_cost is not None else np.full(q, np.nan, np.float32)
    _check_shape("match_segment", match, (q,), row)
    _check_shape("match_cost", cost, (q,), row)
    if match.size and (match.max() >= len(segs) or match.min() < -1):
        raise StoreError(f"row {row}: match_segment indexes segment {int(match.max())} but the image has {len(segs)}")
    arrays = {
        "match_segment": match.astype(np.int32),
        "match_cost": cost.astype(np.float32),
        "seg_id": np.array([int(s["segment_id"]) for s in segs], np.int64),
        "seg_category": np.array([int(s["category_id"]) for s in segs], np.int64),
        "seg_iscrowd": np.array([int(s.get("iscrowd", 0)) for s in segs], np.int8),
        "seg_area": np.array([int(s.get("area", 0)) for s in segs], np.int64),
        "seg_bbox": np.array([list(s.get("bbox", (0, 0, 0, 0))) for s in segs], np.float32).reshape(-1, 4),
        "image": np.array(json.dumps(_image_meta(rec), sort_keys=True)),
    }
    if meta.get("clip_dim"):
        clip = to_numpy(rec.segment_clip, np.float32)
        if clip is None:
            clip = np.zeros((0, meta["clip_dim"]), np.float32)
        _check_shape("segment_clip", clip, (len(segs), meta["clip_dim"]), row)
        arrays["segment_clip"] = clip
    buf = io.BytesIO()
    np.savez(buf, **arrays)
    return buf.getvalue()


def _image_meta(rec: ImageRecord) -> dict:
    geo = dict(rec.geometry or {})
    return {
        "image_id": int(rec.image_id),
        "file_name": str(rec.file_name),
        "height": int(rec.height),
        "width": int(rec.width),
        **{k: geo.get(k) for k in GEOMETRY_KEYS},
    }


def load_fragment(data: bytes) -> dict:
    with np.load(io.BytesIO(data), allow_pickle=False) as z:
        out = {k: z[k] for k in z.files}
    out["image"] = json.loads(str(out["image"]))
    return out
