"""Fragments of done rows -> parquet tables + ``clip_segment`` (deterministic).

Tables are sorted by row; segment rows (``seg_row``, the row index into
``clip_segment``) are allocated in (row, segment order) order, so the result
depends only on the data written, never on the order or history of writes.
"""

from __future__ import annotations

import io
import json
import logging

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq

from zs.store.layout import ARRAYS, CLIP_DTYPE, Location, read_split_meta, write_split_meta
from zs.store.record import GEOMETRY_KEYS, load_fragment
from zs.vocab import Vocabulary

log = logging.getLogger(__name__)

_INT_GEOMETRY = [k for k in GEOMETRY_KEYS if k not in ("flip", "view")]


def consolidate_split(loc: Location, split: str) -> dict:
    """(Re)build the split's tables from its fragments; returns the updated split meta."""
    import zarr

    meta = read_split_meta(loc, split)
    group = zarr.open_group(store=loc.zarr_store(split, ARRAYS), mode="r+")
    done = np.asarray(group["done"][:], bool)
    rows = np.flatnonzero(done)
    complete = bool(done.all())
    if complete and meta.get("status") == "complete" and not loc.exists(split, "fragments"):
        return meta  # already consolidated; fragments were removed
    vocab = Vocabulary.from_dict(json.loads(loc.read_bytes("manifest.json"))["vocabulary"])
    frags = [load_fragment(loc.read_bytes(split, "fragments", f"{r}.npz")) for r in rows]
    tables, seg_clip = build_tables(rows, frags, vocab, meta)
    for name, table in tables.items():
        write_parquet_atomic(loc, table, split, f"{name}.parquet")
    if meta.get("clip_dim"):
        _write_clip_segment(group, seg_clip, meta["clip_dim"])
    meta = {**meta, "consolidated_rows": int(len(rows)), "num_segments": int(tables["segments"].num_rows),
            "status": "complete" if complete else "writing"}
    write_split_meta(loc, split, meta)
    if complete:
        loc.remove(split, "fragments", recursive=True)
    log.info("split %s: consolidated %d rows, %d segments", split, len(rows), meta["num_segments"])
    return meta


def build_tables(rows, frags: list[dict], vocab: Vocabulary, meta: dict):
    """Fragments (in row order) -> {images, queries, segments} pyarrow tables, segment CLIP [S, Dc]."""
    q = meta["num_queries"]
    seen = vocab.seen_mask()
    k = vocab.num_classes
    index_of = vocab.id_to_index()
    seg_counts = np.array([len(f["seg_id"]) for f in frags], np.int64)
    seg_start = np.concatenate([[0], np.cumsum(seg_counts)])[:-1]  # first seg_row of each image
    images = _images_table(rows, frags)
    segments = _segments_table(rows, frags, seg_counts, index_of, seen, k)
    queries = _queries_table(rows, frags, seg_start, segments, q, k, seen)
    seg_clip = None
    if meta.get("clip_dim"):
        parts = [f["segment_clip"] for f in frags]
        seg_clip = np.concatenate(parts, 0) if parts else np.zeros((0, meta["clip_dim"]), np.float32)
    return {"images": images, "queries": queries, "segments": segments}, seg_clip


def _images_table(rows, frags) -> pa.Table:
    imgs = [f["image"] for f in frags]
    cols = {
        "row": pa.array(np.asarray(rows, np.int64)),
        "image_id": pa.array([int(m["image_id"]) for m in imgs], pa.int64()),
        "file_name": pa.array([m["file_name"] for m in imgs], pa.string()),
        "height": pa.array([int(m["height"]) for m in imgs], pa.int64()),
        "width": pa.array([int(m["width"]) for m in imgs], pa.int64()),
    }
    for key in _INT_GEOMETRY:
        cols[key] = pa.array([None if m.get(key) is None else int(m[key]) for m in imgs], pa.int64())
    cols["flip"] = pa.array([bool(m.get("flip") or False) for m in imgs], pa.bool_())
    views = [m.get("view") for m in imgs]
    if all(v is None or isinstance(v, (int, np.integer)) for v in views):  # the view index (0 = unaugmented)
        cols["view"] = pa.array([None if v is None else int(v) for v in views], pa.int64())
    else:
        cols["view"] = pa.array([_as_str(v) for v in views], pa.string())
    return pa.table(cols)


def _as_str(v) -> str | None:
    if v is None or isinstance(v, str):
        return v
    return json.dumps(v, sort_keys=True)


def _segments_table(rows, frags, seg_counts, index_of, seen, k) -> pa.Table:
    cat = _cat(frags, "seg_category", np.int64)
    label = np.array([index_of.get(int(c), -1) for c in cat], np.int64)
    bbox = np.concatenate([f["seg_bbox"] for f in frags], 0) if frags else np.zeros((0, 4), np.float32)
    return pa.table({
        "seg_row": pa.array(np.arange(len(cat), dtype=np.int64)),
        "row": pa.array(np.repeat(np.asarray(rows, np.int64), seg_counts)),
        "segment_id": pa.array(_cat(frags, "seg_id", np.int64)),
        "category_id": pa.array(cat),
        "label": pa.array(label),
        "seen": pa.array(np.where(label >= 0, seen[np.clip(label, 0, k - 1)], False)),
        "iscrowd": pa.array(_cat(frags, "seg_iscrowd", np.int8)),
        "area": pa.array(_cat(frags, "seg_area", np.int64)),
        "bbox_x": pa.array(bbox[:, 0]), "bbox_y": pa.array(bbox[:, 1]),
        "bbox_w": pa.array(bbox[:, 2]), "bbox_h": pa.array(bbox[:, 3]),
    })


def _queries_table(rows, frags, seg_start, segments: pa.Table, q, k, seen) -> pa.Table:
    n = len(frags)
    local = _cat(frags, "match_segment", np.int64).reshape(n, q) if n else np.zeros((0, q), np.int64)
    glob = np.where(local >= 0, local + seg_start[:, None], -1).reshape(-1)  # [n*Q]
    seg_cat = segments.column("category_id").to_numpy()
    seg_label = segments.column("label").to_numpy()
    matched = glob >= 0
    cat = np.where(matched, seg_cat[np.clip(glob, 0, None)] if len(seg_cat) else -1, -1)
    label = np.where(matched, seg_label[np.clip(glob, 0, None)] if len(seg_label) else k, k)
    label = np.where(label < 0, k, label)  # segment of a category outside the vocabulary
    return pa.table({
        "row": pa.array(np.repeat(np.asarray(rows, np.int64), q)),
        "query": pa.array(np.tile(np.arange(q, dtype=np.int16), n)),
        "segment": pa.array(glob.astype(np.int64)),
        "category_id": pa.array(cat.astype(np.int64)),
        "label": pa.array(label.astype(np.int64)),
        "seen": pa.array(np.where(label < k, seen[np.clip(label, 0, k - 1)], False)),
        "match_cost": pa.array(_cat(frags, "match_cost", np.float32)),
    })


def _cat(frags, key, dtype) -> np.ndarray:
    if not frags:
        return np.zeros(0, dtype)
    return np.concatenate([np.asarray(f[key]).reshape(-1) for f in frags]).astype(dtype)


def write_parquet_atomic(loc: Location, table: pa.Table, *parts: str) -> None:
    buf = io.BytesIO()
    pq.write_table(table, buf, compression="zstd", row_group_size=1 << 20)
    loc.write_bytes_atomic(buf.getvalue(), *parts)


def _write_clip_segment(group, seg_clip: np.ndarray, dim: int) -> None:
    s = int(seg_clip.shape[0])
    chunk = max(1, min(max(s, 1), (4 << 20) // (4 * dim)))
    arr = group.create_array("clip_segment", shape=(s, dim), chunks=(chunk, dim), dtype=CLIP_DTYPE,
                             fill_value=0, overwrite=True)
    if s:
        arr[:] = seg_clip.astype(CLIP_DTYPE)
