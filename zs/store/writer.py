"""The resumable, idempotent split writer.

Write order per image (so a kill at any point loses nothing that was marked
done, and a resumed write with the same inputs ends bit-identical):

1. ``fragments/<row>.npz`` (table data + segment CLIP tokens), atomically;
2. its mask chunk (one zarr chunk per image, atomic on local stores; ``masks.py``);
3. buffered per image-chunk: when every row of a chunk is written, the
   ``query_embed``/``query_logits``/``clip_global`` chunks are written whole;
4. ``done[rows]`` last.

``close()`` flushes partial chunks and consolidates the fragments of done
rows into the parquet tables (sorted by row; segment rows allocated in row
order), so the tables depend only on the data, never on the write history.
"""

from __future__ import annotations

import logging

import numpy as np

from zs.errors import StoreError
from zs.store import lock as _lock
from zs.store.layout import ARRAYS, CLIP_DTYPE, EMBED_DTYPE, Location, read_split_meta, write_split_meta
from zs.store.masks import (
    LEGACY_MASK_ARRAY, MASK_ARRAY, MASK_DTYPE, embed_compressors, encode_logits, mask_attributes, mask_codecs,
    quantize_probs, sigmoid,
)
from zs.store.record import ImageRecord, fragment_bytes, normalized_arrays

log = logging.getLogger(__name__)

_CHUNK_BYTES = 4 << 20  # target bytes of one query_embed chunk


def split_params(*, num_images, num_queries, query_dim, num_classes, clip_dim=None, mask_shape=None,
                 chunk_images=None, inputs_sha256="") -> dict:
    """The split's shape parameters as stored in ``split.json``."""
    if chunk_images is None:
        chunk_images = max(1, min(int(num_images), _CHUNK_BYTES // max(1, num_queries * query_dim * 2)))
    for name, v in (("num_images", num_images), ("num_queries", num_queries), ("query_dim", query_dim),
                    ("num_classes", num_classes), ("chunk_images", chunk_images)):
        if int(v) <= 0:
            raise StoreError(f"open_writer: {name}={v} must be positive")
    return {
        "num_images": int(num_images), "num_queries": int(num_queries), "query_dim": int(query_dim),
        "num_classes": int(num_classes), "clip_dim": int(clip_dim) if clip_dim else None,
        "mask_shape": [int(s) for s in mask_shape] if mask_shape else None,
        "chunk_images": int(chunk_images), "inputs_sha256": str(inputs_sha256 or ""),
    }


def prepare_split(loc: Location, split: str, params: dict) -> dict:
    """Create the split's arrays (or check an existing split has the same parameters)."""
    meta = read_split_meta(loc, split)
    if meta is not None:
        diff = {k: (meta.get(k), v) for k, v in params.items() if meta.get(k) != v}
        if diff:
            desc = ", ".join(f"{k}: stored {a!r} vs requested {b!r}" for k, (a, b) in sorted(diff.items()))
            raise StoreError(f"{loc.url_of(split)}: split '{split}' exists with other parameters ({desc})")
        return meta
    _create_arrays(loc, split, params)
    meta = {**params, "status": "writing", "consolidated_rows": 0, "num_segments": 0}
    write_split_meta(loc, split, meta)
    return meta


def _create_arrays(loc: Location, split: str, p: dict) -> None:
    import zarr

    n, q, d, c = p["num_images"], p["num_queries"], p["query_dim"], p["chunk_images"]
    loc.makedirs(split)
    # mode "a" + create-if-absent: concurrent shard writers preparing the same split never wipe each other
    g = _CreateOnce(zarr.open_group(store=loc.zarr_store(split, ARRAYS), mode="a", zarr_format=3))
    ec = embed_compressors()
    g.create_array("query_embed", shape=(n, q, d), chunks=(c, q, d), dtype=EMBED_DTYPE, compressors=ec,
                   fill_value=0)
    g.create_array("query_logits", shape=(n, q, p["num_classes"] + 1), chunks=(c, q, p["num_classes"] + 1),
                   dtype=EMBED_DTYPE, compressors=ec, fill_value=0)
    if p["mask_shape"]:
        h, w = p["mask_shape"]
        g.create_array(MASK_ARRAY, shape=(n, q, h, w), chunks=(1, q, h, w), dtype=MASK_DTYPE, fill_value=0,
                       attributes=mask_attributes(), **mask_codecs())
    if p["clip_dim"]:
        g.create_array("clip_global", shape=(n, p["clip_dim"]), chunks=(c, p["clip_dim"]), dtype=CLIP_DTYPE,
                       fill_value=0)
    g.create_array("done", shape=(n,), chunks=(c,), dtype="bool", fill_value=False)


class _CreateOnce:
    """``create_array`` that keeps an existing array of the same shape/chunks/dtype (made by a concurrent
    preparer) and replaces only one left with other parameters by an interrupted earlier preparation."""

    def __init__(self, group):
        self.group = group

    def create_array(self, name: str, *, shape, chunks, dtype, **kw):
        from zarr.errors import ContainsArrayError

        if name in self.group:
            old = self.group[name]
            if (tuple(old.shape), tuple(old.chunks), str(old.dtype)) == (tuple(shape), tuple(chunks), str(dtype)):
                return old
            return self.group.create_array(name, shape=shape, chunks=chunks, dtype=dtype, overwrite=True, **kw)
        try:
            return self.group.create_array(name, shape=shape, chunks=chunks, dtype=dtype, **kw)
        except ContainsArrayError:  # created by another preparer just now
            return self.group[name]


class SplitWriter:
    """Writes images into one split (whole split, or one chunk-aligned row range)."""

    def __init__(self, store, split: str, meta: dict, rows: tuple[int, int] | None = None,
                 consolidate_on_close: bool = True, owner: str | None = None):
        import zarr

        self.store, self.split, self.meta = store, split, meta
        self.loc: Location = store._loc
        n, c = meta["num_images"], meta["chunk_images"]
        self.rows = _check_rows(rows, n, c, self.loc.url_of(split))
        self._lock = _lock.acquire(self.loc, split, rows, owner=owner)
        self._consolidate = consolidate_on_close and rows is None
        group = zarr.open_group(store=self.loc.zarr_store(split, ARRAYS), mode="r+")
        # every written chunk is stored, even all-zero masks, so verify can detect missing chunks
        self._arrays = {name: group[name].with_config({"write_empty_chunks": True}) for name in group.array_keys()}
        self._done = np.asarray(self._arrays["done"][:], dtype=bool)
        self._buffer: dict[int, dict[int, dict]] = {}  # chunk -> row -> arrays
        self._closed = False

    # -- public ---------------------------------------------------------------
    def pending(self) -> list[int]:
        """Rows (of this writer's range) not yet done, ascending."""
        a, b = self.rows
        buffered = {r for rows in self._buffer.values() for r in rows}
        return [r for r in range(a, b) if not self._done[r] and r not in buffered]

    def write(self, row: int, rec: ImageRecord) -> None:
        """Write one image; a row already done is skipped (idempotent)."""
        row = int(row)
        a, b = self.rows
        if not a <= row < b:
            raise StoreError(f"row {row} is outside this writer's rows [{a}, {b}) of split '{self.split}'")
        if self._done[row]:
            return
        arrays = normalized_arrays(rec, self.meta, row)
        self.loc.write_bytes_atomic(fragment_bytes(rec, self.meta, row), self.split, "fragments", f"{row}.npz")
        if "mask_logits" in arrays:
            self._write_mask(row, arrays.pop("mask_logits"))
        chunk = row // self.meta["chunk_images"]
        self._buffer.setdefault(chunk, {})[row] = arrays
        if self._chunk_complete(chunk):
            self._flush_chunk(chunk)

    def _write_mask(self, row: int, logits: np.ndarray) -> None:
        if MASK_ARRAY in self._arrays:
            self._arrays[MASK_ARRAY][row] = encode_logits(logits)  # [Q, h, w] int16
        else:  # resuming a schema-1 split: keep its encoding
            self._arrays[LEGACY_MASK_ARRAY][row] = quantize_probs(sigmoid(logits))  # [Q, h, w] uint8

    def close(self) -> None:
        """Flush partial chunks, consolidate the tables (whole-split writer), release the lock."""
        if self._closed:
            return
        try:
            for chunk in sorted(self._buffer):
                self._flush_chunk(chunk)
            if self._consolidate:
                from zs.store.consolidate import consolidate_split

                consolidate_split(self.loc, self.split)
        finally:
            _lock.release(self.loc, self.split, self._lock)
            self._closed = True

    def __enter__(self) -> "SplitWriter":
        return self

    def __exit__(self, exc_type, exc, tb) -> None:
        if exc_type is None:
            self.close()
            return
        # on error: keep what is complete, do not consolidate a half-written state
        try:
            for chunk in sorted(self._buffer):
                self._flush_chunk(chunk)
        finally:
            _lock.release(self.loc, self.split, self._lock)
            self._closed = True

    # -- chunks ---------------------------------------------------------------
    def _chunk_range(self, chunk: int) -> tuple[int, int]:
        c = self.meta["chunk_images"]
        return chunk * c, min((chunk + 1) * c, self.meta["num_images"])

    def _chunk_complete(self, chunk: int) -> bool:
        lo, hi = self._chunk_range(chunk)
        buf = self._buffer[chunk]
        return all(self._done[r] or r in buf for r in range(lo, hi))

    def _flush_chunk(self, chunk: int) -> None:
        buf = self._buffer.pop(chunk, None)
        if not buf:
            return
        lo, hi = self._chunk_range(chunk)
        rows = sorted(buf)
        full = len(rows) == hi - lo
        for name in ("query_embed", "query_logits", "clip_global"):
            if name not in self._arrays:
                continue
            arr = self._arrays[name]
            block = np.zeros((hi - lo, *arr.shape[1:]), arr.dtype) if full else arr[lo:hi]  # read-modify-write
            for r in rows:
                block[r - lo] = buf[r][name]
            arr[lo:hi] = block
        done = self._done[lo:hi].copy()
        done[[r - lo for r in rows]] = True
        self._arrays["done"][lo:hi] = done
        self._done[lo:hi] = done


def _check_rows(rows, n: int, c: int, where: str) -> tuple[int, int]:
    if rows is None:
        return 0, n
    a, b = int(rows[0]), int(rows[1])
    if not (0 <= a < b <= n) or a % c or (b % c and b != n):
        raise StoreError(
            f"{where}: rows=({a}, {b}) must be a chunk-aligned range within [0, {n}] (chunk_images={c})"
        )
    return a, b
