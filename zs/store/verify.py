"""``zs store verify``: find everything wrong with a store, as a list of one-line problems."""

from __future__ import annotations

import json
import logging

import numpy as np

from zs.errors import StoreError
from zs.store.finite import FINITE_ARRAYS, nonfinite_rows
from zs.store.layout import ARRAYS, TABLES
from zs.store.store import open_store
from zs.vocab import Vocabulary

log = logging.getLogger(__name__)



def verify_store(url, *, progress: bool = False) -> list[str]:
    """All problems found (empty list = sound). Raises StoreError only if ``url`` is not a store."""
    store = open_store(url)
    problems = _check_manifest(store)
    for name in store.splits:
        try:
            problems += [f"{name}: {p}" for p in verify_split(store, name, progress=progress)]
        except StoreError as e:
            problems.append(f"{name}: {e}")
    return problems


def _check_manifest(store) -> list[str]:
    m, out = store.manifest, []
    for key in ("segmenter", "vocabulary", "vocab_sha256", "dataset"):
        if key not in m:
            out.append(f"manifest.json: missing '{key}'")
    if m.get("vocab_sha256") and Vocabulary.from_record(m["vocabulary"], m["vocab_sha256"]).sha256 != m["vocab_sha256"]:
        out.append("manifest.json: vocab_sha256 does not match the vocabulary")
    for name in store.text_names():
        try:
            emb, meta = store.text(name)
        except (ValueError, OSError, StoreError) as e:
            out.append(f"text/{name}: unreadable ({e})")
            continue
        if emb.ndim != 2 or emb.shape[0] != store.vocab.num_classes:
            out.append(f"text/{name}.npy: shape {emb.shape}, expected [K={store.vocab.num_classes}, Dt]")
        elif not np.isfinite(emb).all():
            out.append(f"text/{name}.npy: NaN/Inf values")
        from zs.store.store import _sha

        if meta.get("sha256") and meta["sha256"] != _sha(emb):
            out.append(f"text/{name}.npy: content does not match text/{name}.json sha256")
    return out


def verify_split(store, name: str, *, progress: bool = False) -> list[str]:
    reader = store.split(name)
    meta, out = reader.meta, []
    ident = store.identity
    seg = ident.segmenter
    for key, mkey in (("num_queries", "num_queries"), ("query_dim", "query_dim"), ("num_classes", "num_classes")):
        if seg.get(mkey) is not None and seg[mkey] != meta[key]:
            out.append(f"split.json {key}={meta[key]} but manifest segmenter.{mkey}={seg[mkey]}")
    clip = ident.clip or {}
    if meta.get("clip_dim") and clip.get("dim") and clip["dim"] != meta["clip_dim"]:
        out.append(f"split.json clip_dim={meta['clip_dim']} but manifest clip.dim={clip['dim']}")
    out += _check_shapes(reader)
    if out:
        return out  # the rest reads arrays with these shapes
    done = reader.done()
    if not done.all():
        out.append(f"{int((~done).sum())} of {len(done)} rows not done (interrupted write: resume it)")
    out += _check_chunks(reader, done)
    out += _check_tables(reader, done)
    out += _check_finite(reader, done, progress)
    return out


def _expected_shapes(reader) -> dict:
    m = reader.meta
    n, q = m["num_images"], m["num_queries"]
    shapes = {"query_embed": (n, q, m["query_dim"]), "query_logits": (n, q, m["num_classes"] + 1), "done": (n,)}
    if m.get("mask_shape"):
        shapes[reader.mask_array_name] = (n, q, *m["mask_shape"])
    if m.get("clip_dim"):
        shapes["clip_global"] = (n, m["clip_dim"])
        if m.get("status") == "complete":
            shapes["clip_segment"] = (m.get("num_segments", 0), m["clip_dim"])
    return shapes


def _check_shapes(reader) -> list[str]:
    out = []
    for name, shape in _expected_shapes(reader).items():
        try:
            arr = reader.array(name)
        except StoreError:
            out.append(f"{ARRAYS}/{name}: missing")
            continue
        if tuple(arr.shape) != tuple(shape):
            out.append(f"{ARRAYS}/{name}: shape {tuple(arr.shape)}, split.json says {tuple(shape)}")
    return out


def _chunk_keys(reader, name: str) -> set[str]:
    loc = reader._loc
    base = loc.path(reader.name, ARRAYS, name, "c")
    if not loc.fs.exists(base):
        return set()
    return {p[len(base) + 1:] for p in loc.fs.find(base)}


def _check_chunks(reader, done: np.ndarray) -> list[str]:
    """Every chunk holding a done row must exist on disk (a missing one would read as zeros)."""
    out = []
    for name in ("query_embed", "query_logits", "clip_global", "mask_logits", "mask_probs", "done"):
        if name not in reader._group:
            continue
        arr = reader.array(name)
        c = arr.chunks[0]
        have = _chunk_keys(reader, name)
        tail = "/".join("0" * (arr.ndim - 1))
        wanted = sorted({int(r) // c for r in np.flatnonzero(done)})
        missing = [i for i in wanted if ("/".join([str(i), tail]) if tail else str(i)) not in have]
        if missing:
            rows = ", ".join(f"{i * c}-{min((i + 1) * c, len(done)) - 1}" for i in missing[:5])
            out.append(f"{ARRAYS}/{name}: {len(missing)} chunk(s) missing (rows {rows}{', ...' if len(missing) > 5 else ''})")
    return out


def _check_tables(reader, done: np.ndarray) -> list[str]:
    out, tables = [], {}
    for t in TABLES:
        try:
            tables[t] = reader.table(t)
        except StoreError as e:
            out.append(str(e))
    if out:
        return out
    rows = tables["images"].column("row").to_numpy()
    want = np.flatnonzero(done)
    if not np.array_equal(np.sort(rows), want):
        out.append(f"images.parquet has {len(rows)} rows, done flags mark {len(want)} (tables not consolidated?)")
    if len(np.unique(rows)) != len(rows):
        out.append("images.parquet: duplicated rows")
    q = reader.num_queries
    if tables["queries"].num_rows != len(rows) * q:
        out.append(f"queries.parquet has {tables['queries'].num_rows} rows, expected {len(rows)} x {q}")
    n_seg = tables["segments"].num_rows
    if reader.meta.get("num_segments") is not None and n_seg != reader.meta["num_segments"]:
        out.append(f"segments.parquet has {n_seg} rows, split.json says {reader.meta['num_segments']}")
    segs = tables["queries"].column("segment").to_numpy()
    if len(segs) and segs.max() >= n_seg:
        out.append(f"queries.parquet: segment {int(segs.max())} beyond segments.parquet ({n_seg} rows)")
    return out


def _check_finite(reader, done: np.ndarray, progress: bool) -> list[str]:
    """NaN/Inf scan, one chunk at a time (also surfaces undecodable chunks)."""
    out = []
    for name in FINITE_ARRAYS:
        if name not in reader._group:
            continue
        unreadable: list = []
        bad = nonfinite_rows(reader.array(name), progress=f"{reader.name}/{name}" if progress else None,
                             unreadable=unreadable)
        out += [f"{ARRAYS}/{name}: rows {lo}-{hi} unreadable" for lo, hi in unreadable]
        if len(bad):
            what = "segment rows" if name == "clip_segment" else "rows"
            out.append(f"{ARRAYS}/{name}: NaN/Inf in {len(bad)} {what} (first: {bad[:5].tolist()})")
    return out


def problems_as_json(problems: list[str]) -> str:
    return json.dumps({"ok": not problems, "problems": problems}, indent=2)
