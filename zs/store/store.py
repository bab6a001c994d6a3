"""The store object: create/open, manifest, text embeddings, splits, writers."""

from __future__ import annotations

import json
import logging
import os

import numpy as np

from zs.errors import StoreError
from zs.manifest import hash_obj, to_jsonable
from zs.store.layout import MANIFEST, SCHEMA_VERSION, STORE_KIND, Location, load_npy, npy_bytes, read_split_meta
from zs.store.identity import StoreIdentity
from zs.store.reach import check_reachable
from zs.vocab import Vocabulary

log = logging.getLogger(__name__)

def create_store(url: str | os.PathLike, manifest: dict) -> "Store":
    """Create an empty store at ``url`` (local path or fsspec URL) with ``manifest``.

    Fills ``schema_version``, ``kind``, ``zs_version`` and ``vocab_sha256``;
    refuses an existing non-empty location.
    """
    from zs import __version__

    loc = Location(url)
    check_reachable(loc)
    if loc.exists() and (not loc.isdir() or loc.listdir()):
        raise StoreError(f"{loc.url}: already exists and is not empty (choose a new path)")
    if "vocabulary" not in manifest:
        raise StoreError(f"{loc.url}: store manifest needs a 'vocabulary' entry")
    vocab = Vocabulary.from_dict(manifest["vocabulary"], source=f"{loc.url} manifest vocabulary")
    m = to_jsonable(dict(manifest))
    m.update({"schema_version": SCHEMA_VERSION, "kind": STORE_KIND, "zs_version": __version__,
              "vocab_sha256": vocab.sha256})
    for key in ("segmenter", "clip", "dataset"):
        m.setdefault(key, None if key == "clip" else {})
    loc.makedirs()
    loc.write_bytes_atomic(json.dumps(m, indent=2).encode() + b"\n", MANIFEST)
    return Store(loc, m, mode="a")


def open_store(url: str | os.PathLike, mode: str = "r") -> "Store":
    """Open a store; StoreError if missing, not a store, or of a newer schema."""
    if mode not in ("r", "a"):
        raise StoreError(f"open_store: mode must be 'r' or 'a', got {mode!r}")
    loc = Location(url)
    check_reachable(loc)
    if not loc.exists():
        raise StoreError(f"{loc.url}: no such store (path does not exist)")
    if not loc.exists(MANIFEST):
        raise StoreError(f"{loc.url}: not a zs store (no {MANIFEST})")
    try:
        m = json.loads(loc.read_bytes(MANIFEST))
    except ValueError as e:
        raise StoreError(f"{loc.url_of(MANIFEST)}: not valid JSON ({e})") from None
    if not isinstance(m, dict) or m.get("kind") != STORE_KIND:
        raise StoreError(f"{loc.url_of(MANIFEST)}: kind is {m.get('kind') if isinstance(m, dict) else None!r}, "
                         f"not '{STORE_KIND}'")
    version = m.get("schema_version")
    if not isinstance(version, int) or version > SCHEMA_VERSION:
        raise StoreError(f"{loc.url_of(MANIFEST)}: schema_version {version!r} is newer than this zs supports "
                         f"({SCHEMA_VERSION}); upgrade zs")
    if version < 1:
        raise StoreError(f"{loc.url_of(MANIFEST)}: schema_version {version} is older than this zs reads "
                         f"(1 to {SCHEMA_VERSION})")
    _check_manifest_fields(m, loc.url_of(MANIFEST))
    return Store(loc, m, mode=mode)


def _check_manifest_fields(m: dict, where: str) -> None:
    """The fields every reader relies on, present and of their type (a hand-edited manifest is named)."""
    if not isinstance(m.get("vocabulary"), dict):
        raise StoreError(f"{where}: 'vocabulary' is missing or not an object")
    for key in ("segmenter", "clip", "dataset"):
        if m.get(key) is not None and not isinstance(m[key], dict):
            raise StoreError(f"{where}: '{key}' is not an object")
    seg = m.get("segmenter") or {}
    for key in ("query_dim", "num_queries"):
        v = seg.get(key)
        if v is not None and (not isinstance(v, int) or isinstance(v, bool) or v < 0):
            raise StoreError(f"{where}: segmenter.{key} is {v!r}, expected a non-negative integer")


class Store:
    """A feature store (see DESIGN §4 and docs/store.md)."""

    def __init__(self, loc: Location, manifest: dict, mode: str = "r"):
        self._loc = loc
        self.manifest = manifest
        self.mode = mode
        self.vocab = Vocabulary.from_record(manifest["vocabulary"], manifest.get("vocab_sha256"),
                                            source=f"{loc.url} manifest vocabulary")

    def __repr__(self) -> str:
        return f"Store({self.url!r}, splits={self.splits})"

    @property
    def url(self) -> str:
        return self._loc.url

    @property
    def sha256(self) -> str:
        """Identity of what the store was made from (segmenter, vocab, datasets, CLIP)."""
        return hash_obj(identity_fields(self.manifest))

    @property
    def identity(self) -> "StoreIdentity":
        """The segmenter, vocabulary and CLIP records of the manifest (``zs.store.identity``)."""
        return StoreIdentity.from_manifest(self.manifest, self.vocab, self.sha256)

    @property
    def seen_head_path(self) -> str:
        """A local directory with the seen head (a local copy for object stores; the URL if there is none)."""
        if self._loc.is_local or not self.has_seen_head():
            return self._loc.url_of("seen_head")
        from zs.store.remote_files import local_copy

        return local_copy(self._loc, "seen_head")

    def has_seen_head(self) -> bool:
        return self._loc.exists("seen_head", "config.json")

    def save_seen_head(self, head, manifest: dict) -> str:
        """Write the seen head artifact (``zs.heads.save_head``) into the store; config.json lands last."""
        import tempfile

        from zs.heads import save_head

        self._writable()
        if self._loc.is_local:
            return os.fspath(save_head(head, self._loc.path("seen_head"), manifest))
        from zs.store.remote_files import upload_dir

        with tempfile.TemporaryDirectory(prefix="zs-head-") as tmp:
            save_head(head, tmp, manifest)
            upload_dir(self._loc, tmp, "seen_head", last="config.json")
        return self._loc.url_of("seen_head")

    @property
    def splits(self) -> list[str]:
        from zs.store.layout import SPLIT_META

        return [d for d in self._loc.listdir() if self._loc.exists(d, SPLIT_META)]

    def update_manifest(self, updates: dict) -> dict:
        """Merge top-level ``updates`` into manifest.json (atomic); identity/schema keys are refused."""
        self._writable()
        fixed = {"schema_version", "kind", "zs_version", "vocabulary", "vocab_sha256"}
        bad = sorted(k for k in updates if k in fixed and updates[k] != self.manifest.get(k))
        if bad:
            raise StoreError(f"{self.url}: manifest keys {bad} cannot be changed in an existing store")
        m = {**self.manifest, **to_jsonable(dict(updates))}
        self._loc.write_bytes_atomic(json.dumps(m, indent=2).encode() + b"\n", MANIFEST)
        self.manifest = m
        return m

    # -- small JSON side files (e.g. a split's failures table) -------------------
    def read_json(self, *parts: str, default=None):
        """A JSON file inside the store (relative parts), or ``default`` when absent."""
        if not self._loc.exists(*parts):
            return default
        return json.loads(self._loc.read_bytes(*parts))

    def write_json(self, obj, *parts: str) -> None:
        """Write a JSON file inside the store atomically."""
        self._writable()
        self._loc.write_bytes_atomic(json.dumps(to_jsonable(obj), indent=2).encode() + b"\n", *parts)

    # -- splits -----------------------------------------------------------------
    def split(self, name: str):
        from zs.store.reader import SplitReader

        if name not in self.splits:
            raise StoreError(f"{self.url}: no split '{name}' (splits: {', '.join(self.splits) or 'none'})")
        return SplitReader(self, name)

    def _writable(self) -> None:
        if self.mode != "a":
            raise StoreError(f"{self.url}: store opened read-only (use open_store(url, mode='a'))")

    def prepare_split(self, split: str, *, num_images, num_queries, query_dim, num_classes, clip_dim=None,
                      mask_shape=None, chunk_images=None, inputs_sha256="") -> dict:
        """Create the split's arrays once (coordinator, before range writers); returns split meta."""
        from zs.store.writer import prepare_split, split_params

        self._writable()
        _check_split_name(split)
        params = split_params(num_images=num_images, num_queries=num_queries, query_dim=query_dim,
                              num_classes=num_classes, clip_dim=clip_dim, mask_shape=mask_shape,
                              chunk_images=chunk_images, inputs_sha256=inputs_sha256)
        if params["num_classes"] != self.vocab.num_classes:
            raise StoreError(f"{self.url}: num_classes={num_classes} but the vocabulary has "
                             f"{self.vocab.num_classes} classes")
        return prepare_split(self._loc, split, params)

    def open_writer(self, split: str, *, rows: tuple[int, int] | None = None, owner: str | None = None, **params):
        """A locked, resumable :class:`SplitWriter` (``rows``: a chunk-aligned range for dask workers;
        ``owner``: the coordinating run's token, see ``zs.store.lock.acquire``)."""
        from zs.store.writer import SplitWriter

        if not params:  # reopen a prepared split with its stored parameters
            self._writable()
            meta = read_split_meta(self._loc, split)
            if meta is None:
                raise StoreError(f"{self.url}: split '{split}' not prepared (call Store.prepare_split first)")
        else:
            meta = self.prepare_split(split, **params)
        return SplitWriter(self, split, meta, rows=rows, owner=owner)

    def finalize_split(self, split: str) -> dict:
        """After all range writers closed: consolidate the tables (takes the split lock)."""
        from zs.store import lock as _lock
        from zs.store.consolidate import consolidate_split

        self._writable()
        name = _lock.acquire(self._loc, split, None)
        try:
            return consolidate_split(self._loc, split)
        finally:
            _lock.release(self._loc, split, name)

    # -- text embeddings ----------------------------------------------------------
    def write_text(self, name: str, emb, meta: dict | None = None) -> None:
        self._writable()
        _check_split_name(name)
        emb = np.asarray(emb.detach().cpu() if hasattr(emb, "detach") else emb, dtype=np.float32)
        if emb.ndim != 2 or emb.shape[0] != self.vocab.num_classes:
            raise StoreError(f"text embeddings '{name}': shape {emb.shape}, expected [K={self.vocab.num_classes}, Dt]")
        if not np.isfinite(emb).all():
            raise StoreError(f"text embeddings '{name}': NaN/Inf values; nothing written")
        meta = {**to_jsonable(meta or {}), "sha256": _sha(emb), "shape": list(emb.shape)}
        self._loc.write_bytes_atomic(npy_bytes(emb), "text", f"{name}.npy")
        self._loc.write_bytes_atomic(json.dumps(meta, indent=2).encode() + b"\n", "text", f"{name}.json")

    def text_names(self) -> list[str]:
        return [n[:-4] for n in self._loc.listdir("text") if n.endswith(".npy")]

    def text(self, name: str | None = None):
        """(emb [K, Dt] float32, meta dict) for text embeddings ``name`` (default "default")."""
        name = name or "default"
        if name not in self.text_names():
            raise StoreError(f"{self.url}: no text embeddings '{name}' (have: {', '.join(self.text_names()) or 'none'})")
        try:
            emb = load_npy(self._loc.read_bytes("text", f"{name}.npy"))
            meta = json.loads(self._loc.read_bytes("text", f"{name}.json")) if self._loc.exists("text", f"{name}.json") else {}
        except (ValueError, EOFError) as e:  # json's errors are ValueErrors
            raise StoreError(f"{self.url}: text embeddings '{name}' unreadable, truncated or corrupt "
                             f"({str(e).splitlines()[0] if str(e) else 'empty file'}); rerun `zs text-embed`") from None
        return emb, meta


def _sha(arr: np.ndarray) -> str:
    import hashlib

    return hashlib.sha256(np.ascontiguousarray(arr).tobytes()).hexdigest()


def identity_fields(m: dict) -> dict:
    seg = m.get("segmenter") or {}
    clip = m.get("clip") or {}
    datasets = m.get("dataset") or {}
    return {
        "segmenter": seg.get("sha256"),
        "vocab": m.get("vocab_sha256"),
        "datasets": {k: (v or {}).get("json_sha256") for k, v in sorted(datasets.items())},
        "clip": clip.get("weights_sha256"),
    }


def _check_split_name(name: str) -> None:
    if not name or "/" in name or name.startswith(".") or name in ("text", "seen_head", "locks", "gt"):
        raise StoreError(f"invalid split/text name {name!r}")
