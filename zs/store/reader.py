"""Reading one split: tables (pandas, with column/filter push-down), arrays, dask, batches."""

from __future__ import annotations

import collections
import logging

import numpy as np

from zs.errors import StoreError
from zs.store.layout import ARRAYS, read_split_meta
from zs.store.masks import LEGACY_MASK_ARRAY, MASK_ARRAY, decode_logits, dequantize_probs, legacy_logits, sigmoid

log = logging.getLogger(__name__)

DEFAULT_CACHE_BYTES = 512 << 20


class ChunkCache:
    """LRU of decoded image-chunks (float32) of one array, bounded in bytes."""

    def __init__(self, array, chunk_images: int, max_bytes: int = DEFAULT_CACHE_BYTES):
        self.array, self.c, self.max_bytes = array, chunk_images, max_bytes
        self._items: collections.OrderedDict[int, np.ndarray] = collections.OrderedDict()
        self._bytes = 0

    def get(self, chunk: int) -> np.ndarray:
        """Rows [chunk*C, (chunk+1)*C) as float32."""
        if chunk in self._items:
            self._items.move_to_end(chunk)
            return self._items[chunk]
        lo = chunk * self.c
        block = np.asarray(self.array[lo:lo + self.c], dtype=np.float32)
        self._items[chunk] = block
        self._bytes += block.nbytes
        while self._bytes > self.max_bytes and len(self._items) > 1:
            _, old = self._items.popitem(last=False)
            self._bytes -= old.nbytes
        return block


class SplitReader:
    """Read access to one split of a store (never loads the whole split)."""

    def __init__(self, store, name: str, cache_bytes: int = DEFAULT_CACHE_BYTES):
        import zarr

        self.store, self.name = store, name
        self._loc = store._loc
        self.meta = read_split_meta(self._loc, name)
        if self.meta is None:
            raise StoreError(f"{store.url}: no split '{name}'")
        try:
            self._group = zarr.open_group(store=self._loc.zarr_store(name, ARRAYS, read_only=True), mode="r")
        except (FileNotFoundError, ValueError, KeyError) as e:
            raise StoreError(f"{self._loc.url_of(name, ARRAYS)}: cannot open the split's arrays ({e})") from None
        self.cache_bytes = cache_bytes
        self._caches: dict[str, ChunkCache] = {}
        self._label_cache = None

    def __repr__(self) -> str:
        return f"SplitReader({self.store.url!r}, {self.name!r}, images={self.num_images})"

    # -- shapes -----------------------------------------------------------------
    num_images = property(lambda self: self.meta["num_images"])
    num_queries = property(lambda self: self.meta["num_queries"])
    query_dim = property(lambda self: self.meta["query_dim"])
    num_classes = property(lambda self: self.meta["num_classes"])
    chunk_images = property(lambda self: self.meta["chunk_images"])
    has_masks = property(lambda self: bool(self.meta.get("mask_shape")))
    has_clip = property(lambda self: bool(self.meta.get("clip_dim")))
    clip_dim = property(lambda self: self.meta.get("clip_dim"))
    mask_shape = property(lambda self: tuple(self.meta["mask_shape"]) if self.meta.get("mask_shape") else None)
    complete = property(lambda self: self.meta.get("status") == "complete")

    def done(self) -> np.ndarray:
        """[N] bool: which rows are written."""
        return np.asarray(self._group["done"][:], bool)

    # -- tables -----------------------------------------------------------------
    def table(self, name: str, columns=None, filters=None):
        """A parquet table as a pyarrow Table, reading only ``columns`` / rows matching ``filters``."""
        import pyarrow.parquet as pq

        path = self._loc.path(self.name, f"{name}.parquet")
        if not self._loc.fs.exists(path):
            raise StoreError(f"{self._loc.url_of(self.name, name + '.parquet')}: missing "
                             f"(split '{self.name}' was never closed/consolidated)")
        try:
            return pq.read_table(path, columns=columns, filters=filters, filesystem=self._loc.fs)
        except (OSError, ValueError) as e:
            raise StoreError(f"{self._loc.url_of(self.name, name + '.parquet')}: unreadable ({e})") from None

    def images(self, columns=None, filters=None):
        return self.table("images", columns, filters).to_pandas()

    def queries(self, columns=None, filters=None):
        return self.table("queries", columns, filters).to_pandas()

    def segments(self, columns=None, filters=None):
        return self.table("segments", columns, filters).to_pandas()

    # -- arrays -----------------------------------------------------------------
    def array(self, name: str):
        """The raw zarr array (``query_embed``, ``query_logits``, ``mask_logits`` (int16 codes, see
        ``zs.store.masks``; schema 1: ``mask_probs``), ``clip_global``, ``clip_segment``, ``done``)."""
        if name not in self._group:
            raise StoreError(f"{self._loc.url_of(self.name, ARRAYS)}: no array '{name}'")
        return self._group[name]

    def _rows(self, name: str, rows) -> np.ndarray:
        arr = self.array(name)
        if isinstance(rows, (slice, int, np.integer)):
            return np.asarray(arr[rows])
        idx = np.asarray(rows, dtype=np.int64)
        order = np.argsort(idx, kind="stable")
        out = np.asarray(arr.oindex[idx[order]]) if len(idx) else np.zeros((0, *arr.shape[1:]), arr.dtype)
        res = np.empty_like(out)
        res[order] = out
        return res

    def query_embed(self, rows) -> np.ndarray:
        return self._rows("query_embed", rows).astype(np.float32)  # [n, Q, D]

    def query_logits(self, rows) -> np.ndarray:
        return self._rows("query_logits", rows).astype(np.float32)  # [n, Q, K+1]

    @property
    def mask_array_name(self) -> str:
        """``mask_logits`` (schema 2, int16 asinh codes) or ``mask_probs`` (schema 1, uint8 probabilities)."""
        if not self.has_masks:
            raise StoreError(f"{self.store.url}: split '{self.name}' has no masks")
        return LEGACY_MASK_ARRAY if LEGACY_MASK_ARRAY in self._group else MASK_ARRAY

    def mask_logits(self, row: int) -> np.ndarray:
        """[Q, h, w] float32 mask logits of one image (decoder resolution, the split's mask canvas)."""
        name = self.mask_array_name
        codes = np.asarray(self.array(name)[int(row)])
        return legacy_logits(codes) if name == LEGACY_MASK_ARRAY else decode_logits(codes)  # [Q, h, w]

    def mask_probs(self, row: int) -> np.ndarray:
        """[Q, h, w] float32 sigmoid probabilities (= sigmoid of ``mask_logits``)."""
        name = self.mask_array_name
        if name == LEGACY_MASK_ARRAY:
            return dequantize_probs(np.asarray(self.array(name)[int(row)]))  # exactly what schema 1 stored
        return sigmoid(self.mask_logits(row))  # [Q, h, w]

    def clip_global(self, rows) -> np.ndarray:
        return self._rows("clip_global", rows).astype(np.float32)  # [n, Dc]

    def clip_segment(self, seg_rows) -> np.ndarray:
        return self._rows("clip_segment", seg_rows).astype(np.float32)  # [n, Dc]

    def dask(self, name: str):
        """A dask array over ``name`` (chunks = the store's chunks); masks stay encoded (``zs.store.masks``)."""
        import dask.array as da

        return da.from_zarr(self.array(name))

    def cached_chunk(self, name: str, chunk: int) -> np.ndarray:
        """Image-chunk ``chunk`` of ``name`` as float32, through a bounded LRU cache."""
        if name not in self._caches:
            self._caches[name] = ChunkCache(self.array(name), self.chunk_images, self.cache_bytes)
        return self._caches[name].get(chunk)

    # -- labels and batches -----------------------------------------------------------
    def query_labels(self) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """Dense (rows [n], label [n, Q] int64 with K = no-object, segment [n, Q] int64) of done rows."""
        if self._label_cache is None:
            t = self.queries(columns=["row", "query", "label", "segment"])
            q = self.num_queries
            t = t.sort_values(["row", "query"], kind="stable")
            rows = t["row"].to_numpy()[::q]
            label = t["label"].to_numpy().reshape(-1, q).astype(np.int64)
            seg = t["segment"].to_numpy().reshape(-1, q).astype(np.int64)
            self._label_cache = (rows, label, seg)
        return self._label_cache

    def matched_batches(self, batch_size: int, *, seed: int, labels=None, device="cpu", epochs=None):
        """Shuffled (embed [B, D], label [B]) batches of matched queries (``labels=None``: seen classes)."""
        from zs.store.batches import matched_batches

        return matched_batches(self, batch_size, seed=seed, labels=labels, device=device, epochs=epochs)

    def image_batches(self, images_per_batch: int, *, seed: int, device="cpu", epochs=None):
        """Shuffled batches of whole images: all queries with labels (K = no-object)."""
        from zs.store.batches import image_batches

        return image_batches(self, images_per_batch, seed=seed, device=device, epochs=epochs)
