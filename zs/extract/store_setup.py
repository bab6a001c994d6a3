"""Creating / opening the store for an extraction, provenance checks, the seen head, failures.

The store is created on the first ``zs extract`` and opened by later ones
(other splits, resumed runs); a store made from another segmenter, vocabulary
or CLIP model is refused before any work starts.
"""

from __future__ import annotations

import logging
from pathlib import Path

from zs.errors import ProvenanceError, StoreError
from zs.manifest import to_jsonable
from zs.store.layout import EXTRACT_FAILURES
from zs.vocab import format_differences

log = logging.getLogger(__name__)



def segmenter_entry(seg) -> dict:
    return {
        "name": Path(seg.path).name, "path": seg.path, "sha256": seg.sha256,
        "num_queries": seg.num_queries, "query_dim": seg.query_dim, "num_classes": seg.num_classes,
        "config": {"preprocess": to_jsonable(seg.prep), "model_type": seg.model.config.model_type},
    }


def clip_entry(clip) -> dict | None:
    return None if clip is None else {"model": clip.name, "weights_sha256": clip.sha256, "dim": clip.dim}


def dataset_entry(ds, num_images: int) -> dict:
    from zs.manifest import sha256_file

    return {"format": ds.format, "images": str(ds.images_dir), "json": str(ds.json_path),
            "png": str(ds.png_dir), "json_sha256": sha256_file(ds.json_path), "num_images": int(num_images)}


def check_store_fits(store, *, seg, vocab, clip, vocab_source: str = "this run") -> None:
    """ProvenanceError if the store was made from another segmenter / vocabulary / CLIP.

    Vocabularies are compared by meaning (ids, names, thing/stuff, seen/unseen),
    never by name, so the train and val JSONs of one dataset share a store.
    """
    ident = store.identity
    have = ident.segmenter_sha256
    if have and have != seg.sha256:
        raise ProvenanceError(f"store {store.url} was made with segmenter {have[:12]} "
                              f"({ident.segmenter.get('path')}), not {seg.sha256[:12]} ({seg.path})")
    if not store.vocab.same_meaning(vocab):
        diffs = vocab.differences(store.vocab, here=f"in {vocab_source}", there="in the store")
        raise ProvenanceError(f"{vocab_source}: vocabulary differs from store {store.url}'s "
                              f"({len(diffs)} difference(s)): {format_differences(diffs)}")
    stored_clip = (ident.clip or {}).get("weights_sha256")
    if clip is not None and stored_clip and stored_clip != clip.sha256:
        raise ProvenanceError(f"store {store.url} has CLIP tokens from weights {stored_clip[:12]}, "
                              f"--clip-weights are {clip.sha256[:12]}")


def open_or_create_store(url: str, *, seg, vocab, clip, split: str, ds, num_images: int,
                         vocab_source: str = "this run", compute: dict | None = None):
    """Open the store at ``url`` (checking provenance) or create it; record the split's dataset.

    ``compute`` (device and precision policy, :func:`zs.runtime.compute_entry`) is recorded
    with the split's dataset entry; a resumed split made elsewhere keeps every distinct one.
    """
    from zs.store import create_store, open_store

    entry = dataset_entry(ds, num_images)
    if compute is not None:
        entry["compute"] = [compute]
    try:
        store = open_store(url, mode="a")
    except StoreError:
        from zs.store.layout import Location

        loc = Location(url)  # only a missing or empty location becomes a new store (never a local path
        if loc.exists() and (not loc.isdir() or loc.listdir()):  # that merely looks like the URL)
            raise
        manifest = {"segmenter": segmenter_entry(seg), "clip": clip_entry(clip),
                    "vocabulary": vocab.to_dict(), "dataset": {split: entry}}
        try:
            return create_store(url, manifest)
        except StoreError as e:
            try:  # another writer (a shard of the same split) created it just now
                store = open_store(url, mode="a")
            except StoreError:
                raise e from None
    check_store_fits(store, seg=seg, vocab=vocab, clip=clip, vocab_source=vocab_source)
    old = (store.manifest.get("dataset") or {}).get(split)
    if old and old.get("json_sha256") != entry["json_sha256"]:
        raise ProvenanceError(f"store {store.url} split '{split}' was extracted from {old.get('json')} "
                              f"(sha {old.get('json_sha256', '')[:12]}), not {entry['json']}")
    if old and compute is not None:  # rows of a resumed split may come from several devices
        seen = old.get("compute") or []
        entry["compute"] = seen + ([compute] if compute not in seen else [])
    updates = {"dataset": {**(store.manifest.get("dataset") or {}), split: entry}}
    if clip is not None and store.identity.clip is None:
        updates["clip"] = clip_entry(clip)
    if any(store.manifest.get(k) != v for k, v in updates.items()):
        store.update_manifest(updates)
    return store


def write_seen_head(store, seg, vocab) -> str:
    """The checkpoint's class predictor as a zs linear head at ``store.seen_head_path`` (once)."""
    import torch

    from zs.heads import HeadConfig, LinearHead, make_head_manifest

    if store.has_seen_head():
        return store.seen_head_path
    cfg = HeadConfig(kind="linear", query_dim=seg.query_dim, num_classes=vocab.num_classes,
                     seen=[bool(s) for s in vocab.seen_mask()], vocab_sha256=vocab.sha256,
                     segmenter_sha256=seg.sha256, store_sha256=store.sha256, method="seen-only")
    head = LinearHead(cfg)
    with torch.no_grad():
        head.fc.weight.copy_(seg.class_head.weight.detach().cpu())
        head.fc.bias.copy_(seg.class_head.bias.detach().cpu())
    manifest = make_head_manifest(cfg, segmenter={"path": seg.path, "sha256": seg.sha256},
                                  store={"path": str(store.url), "sha256": store.sha256})
    return store.save_seen_head(head, manifest)


def write_failures(store, split: str, failures: list[dict]) -> None:
    """The failures table of the split (rows that could not be read); empty list clears it."""
    store.write_json(failures, split, EXTRACT_FAILURES)
