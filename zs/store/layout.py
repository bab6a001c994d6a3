"""Where a store lives: local path or fsspec URL, and the names inside it.

Layout (DESIGN §4)::

    STORE/manifest.json
    STORE/text/<name>.npy, <name>.json          [K, Dt] float32 + meta
    STORE/seen_head/                             zs.heads artifact
    STORE/<split>/split.json                     shapes, chunking, inputs_sha256, status
    STORE/<split>/arrays.zarr/                   zarr v3 group
    STORE/<split>/{images,queries,segments}.parquet
    STORE/<split>/fragments/<row>.npz            per-image tables while writing
    STORE/<split>/locks/                         writer locks
"""

from __future__ import annotations

import io
import json
import os
import uuid

import fsspec

from zs.errors import StoreError

SCHEMA_VERSION = 2  # 2: masks as int16 asinh-coded logits (mask_logits); 1: uint8 probabilities (still read)
STORE_KIND = "zs-store"
MANIFEST = "manifest.json"
SPLIT_META = "split.json"
EXTRACT_FAILURES = "extract_failures.json"  # <split>/: the images zs extract could not read
ARRAYS = "arrays.zarr"
TABLES = ("images", "queries", "segments")
# float16 embeddings; masks are int16-coded logits (see masks.py)
EMBED_DTYPE = "float16"
CLIP_DTYPE = "float32"


NO_LISTINGS_CACHE = {"use_listings_cache": False}


class Location:
    """An fsspec filesystem + root path, with the few operations the store needs."""

    def __init__(self, url: str | os.PathLike):
        self.url = os.fspath(url)
        try:
            # no listings cache: other processes (dask workers, shards) add files to the same store, and a
            # cached listing would hide them (a lock, a manifest, a split)
            self.fs, self.root = fsspec.core.url_to_fs(self.url, **NO_LISTINGS_CACHE)
        except (ValueError, ImportError) as e:
            raise StoreError(f"{self.url}: cannot open this location ({e})") from None
        self.root = self.root.rstrip("/") or "/"
        self.is_local = "file" in _protocols(self.fs)

    def path(self, *parts: str) -> str:
        return "/".join([self.root, *[p.strip("/") for p in parts if p]])

    def url_of(self, *parts: str) -> str:
        """A URL (or local path) for a sub-path, usable by other tools."""
        p = self.path(*parts)
        return p if self.is_local else self.fs.unstrip_protocol(p)

    def exists(self, *parts: str) -> bool:
        return self.fs.exists(self.path(*parts))

    def isdir(self, *parts: str) -> bool:
        return self.fs.isdir(self.path(*parts))

    def listdir(self, *parts: str) -> list[str]:
        p = self.path(*parts)
        if not self.fs.exists(p):
            return []
        return sorted(os.path.basename(e.rstrip("/")) for e in self.fs.ls(p, detail=False))

    def makedirs(self, *parts: str) -> None:
        try:
            self.fs.makedirs(self.path(*parts), exist_ok=True)
        except PermissionError:
            raise StoreError(f"{self.url_of(*parts)}: location is read-only (permission denied)") from None

    def read_bytes(self, *parts: str) -> bytes:
        with self.fs.open(self.path(*parts), "rb") as f:
            return f.read()

    def write_bytes_atomic(self, data: bytes, *parts: str) -> None:
        """Write to a temp name then move, so readers never see half a file."""
        final = self.path(*parts)
        parent = final.rsplit("/", 1)[0]
        tmp = f"{parent}/.tmp-{uuid.uuid4().hex}"
        try:
            self.fs.makedirs(parent, exist_ok=True)
            with self.fs.open(tmp, "wb") as f:
                f.write(data)
            if self.is_local:
                os.replace(tmp, final)
            else:
                self.fs.mv(tmp, final)
        except PermissionError:
            raise StoreError(f"{final}: location is read-only (permission denied)") from None
        except OSError:  # e.g. disk full: no half-written temp file stays behind
            if self.is_local and os.path.exists(tmp):
                os.remove(tmp)
            raise

    def remove(self, *parts: str, recursive: bool = False) -> None:
        p = self.path(*parts)
        if self.fs.exists(p):
            self.fs.rm(p, recursive=recursive)

    def zarr_store(self, *parts: str, read_only: bool = False):
        """A zarr v3 store object for a sub-path (LocalStore when local: atomic chunk writes)."""
        from zarr.storage import FsspecStore, LocalStore

        if self.is_local:
            return LocalStore(self.path(*parts), read_only=read_only)
        return FsspecStore.from_url(self.url_of(*parts), read_only=read_only, storage_options=NO_LISTINGS_CACHE)

    def size(self, *parts: str) -> int:
        p = self.path(*parts)
        if not self.fs.exists(p):
            return 0
        if self.fs.isdir(p):
            return sum(self.fs.du(p, total=False).values()) if hasattr(self.fs, "du") else 0
        return self.fs.size(p)


def _protocols(fs) -> tuple[str, ...]:
    proto = fs.protocol
    return (proto,) if isinstance(proto, str) else tuple(proto)


def npy_bytes(arr) -> bytes:
    import numpy as np

    buf = io.BytesIO()
    np.save(buf, arr, allow_pickle=False)
    return buf.getvalue()


def load_npy(data: bytes):
    import numpy as np

    return np.load(io.BytesIO(data), allow_pickle=False)


def read_split_meta(loc: Location, split: str) -> dict | None:
    """``<split>/split.json`` (written by the writer, read by the consolidation and the reader); None if absent."""
    if not loc.exists(split, SPLIT_META):
        return None
    try:
        return json.loads(loc.read_bytes(split, SPLIT_META))
    except ValueError:
        raise StoreError(f"{loc.url_of(split, SPLIT_META)}: not valid JSON") from None


def write_split_meta(loc: Location, split: str, meta: dict) -> None:
    loc.write_bytes_atomic(json.dumps(meta, indent=2, sort_keys=True).encode() + b"\n", split, SPLIT_META)
