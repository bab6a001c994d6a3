"""What training reads from the store: checked inputs and the per-iteration batches.

Every check that can fail on bad input runs here, before any training starts:
missing text embeddings, a vocabulary without unseen classes, a split without
matched queries or with matched queries of unseen classes (unless allowed),
dimensions that do not fit the config.
"""

from __future__ import annotations

import dataclasses
import hashlib
from typing import Any, Iterator

import numpy as np

from zs.errors import ConfigError, StoreError
from zs.generate.config import FitConfig
from zs.store.finite import require_finite


@dataclasses.dataclass
class TrainInputs:
    store: Any  # zs.store.Store
    split: Any  # zs.store.SplitReader
    text: np.ndarray  # [K, Dt] float32 class semantic matrix (vocabulary order)
    text_name: str
    text_sha256: str
    seen_ids: list[int]
    unseen_ids: list[int]
    query_dim: int  # D
    text_dim: int  # Dt
    num_classes: int  # K

    def head_target(self):
        """The store's identity with the split's query size: what a head must fit (``check_head_fits``)."""
        return dataclasses.replace(self.store.identity, query_dim=self.query_dim)


def text_identity(emb: np.ndarray, name: str) -> str:
    """sha256 of the text embedding matrix (float32 bytes, shape) and its name."""
    arr = np.ascontiguousarray(emb, dtype=np.float32)
    h = hashlib.sha256(f"{name}:{arr.shape}".encode())
    h.update(arr.tobytes())
    return h.hexdigest()


def _load_text(store, cfg: FitConfig, num_classes: int) -> tuple[np.ndarray, str]:
    name = cfg.text_name or "default"
    try:
        names = list(store.text_names())
    except Exception:  # noqa: BLE001 - an unreadable text folder reads as "none"
        names = []
    if name not in names:
        raise StoreError(
            f"store {store.url} has no text embeddings '{name}' (has {names or 'none'}); run `zs text-embed` first"
        )
    emb, _meta = store.text(name)
    emb = np.asarray(emb, dtype=np.float32)
    if emb.ndim != 2 or emb.shape[0] != num_classes:
        raise StoreError(
            f"store {store.url}: text embeddings '{name}' have shape {emb.shape}, expected [K={num_classes}, Dt]"
        )
    if not np.isfinite(emb).all():
        raise StoreError(f"store {store.url}: text embeddings '{name}' contain NaN/inf")
    return emb, name


def _check_dims(cfg: FitConfig, query_dim: int, text_dim: int, where: str) -> None:
    if cfg.query_dim and cfg.query_dim != query_dim:
        raise ConfigError(f"--query-dim {cfg.query_dim} does not match {where}'s query dim {query_dim}")
    if cfg.text_dim and cfg.text_dim != text_dim:
        raise ConfigError(f"--text-dim {cfg.text_dim} does not match {where}'s text embedding dim {text_dim}")


def _check_matched(split, num_classes: int, where: str) -> None:
    q = split.queries(columns=["label"])
    n = int((q["label"].to_numpy() < num_classes).sum())
    if n == 0:
        raise StoreError(f"{where}: split '{split.name}' has no matched queries (nothing to train a generator on)")


def open_inputs(cfg: FitConfig) -> TrainInputs:
    """Open the store and check everything training needs; ZsError on bad input."""
    from zs.store import open_store
    from zs.store.unseen import check_no_unseen_matched

    store = open_store(cfg.store, mode="r")
    vocab = store.vocab
    if cfg.split not in store.splits:
        raise StoreError(f"store {store.url} has no split '{cfg.split}' (has {store.splits})")
    split = store.split(cfg.split)
    unseen = list(vocab.unseen_indices)
    if not unseen:
        raise ConfigError(
            f"vocabulary '{vocab.name}' of store {store.url} has no unseen classes: nothing to generate"
        )
    if split.num_classes != vocab.num_classes:
        raise StoreError(f"split '{cfg.split}' has K={split.num_classes}, vocabulary has {vocab.num_classes}")
    text, name = _load_text(store, cfg, vocab.num_classes)
    _check_dims(cfg, split.query_dim, text.shape[1], f"store {store.url}")
    _check_matched(split, vocab.num_classes, f"store {store.url}")
    check_no_unseen_matched(store, cfg.split, allow=cfg.allow_unseen_in_train)
    require_finite(split, ("query_embed",), stage="fit-generator")
    return TrainInputs(
        store=store, split=split, text=text, text_name=name, text_sha256=text_identity(text, name),
        seen_ids=list(vocab.seen_indices), unseen_ids=unseen, query_dim=int(split.query_dim),
        text_dim=int(text.shape[1]), num_classes=vocab.num_classes,
    )


def uses_image_batches(cfg: FitConfig) -> bool:
    """PADing's schedule (classifier step on all queries) and the diversity loss (unmatched
    queries as negatives) need whole images; otherwise matched features suffice."""
    return cfg.schedule == "pading" or bool(cfg.diversity)


def batch_stream(cfg: FitConfig, inputs: TrainInputs, device, skip: int = 0) -> Iterator[dict]:
    """Endless, seeded stream of dicts: real [N, D], labels [N], unmatched [U, D],
    all_embed [B*Q, D] / all_labels [B*Q] (image batches only). ``skip`` batches are
    drawn and dropped first (resume replays the same stream)."""
    k = inputs.num_classes
    if uses_image_batches(cfg):
        it = inputs.split.image_batches(cfg.batch_images, seed=cfg.seed, device=device, epochs=None)
    else:
        it = inputs.split.matched_batches(
            cfg.batch_size, seed=cfg.seed, labels=inputs.seen_ids, device=device, epochs=None
        )
    for _ in range(skip):
        next(it)
    for batch in it:
        if isinstance(batch, dict):
            embed = batch["embed"].reshape(-1, batch["embed"].shape[-1]).float()  # [B*Q, D]
            label = batch["label"].reshape(-1)  # [B*Q]
            matched = label < k
            yield {
                "real": embed[matched], "labels": label[matched], "unmatched": embed[~matched],
                "all_embed": embed, "all_labels": label,
            }
        else:
            embed, label = batch
            yield {"real": embed.float(), "labels": label, "unmatched": embed.new_zeros(0, embed.shape[-1])}


def load_projector(path: str, inputs: TrainInputs, device):
    """A frozen zs ProjectorHead for GV2S, checked against the store."""
    from zs.heads import check_head_fits, load_head

    head = load_head(path)
    if head.cfg.kind != "projector":
        raise ConfigError(f"--projector {path}: a '{head.cfg.kind}' head, GV2S needs a projector head (zs adapt --method v2c)")
    check_head_fits(head, inputs.head_target(), where=f"store {inputs.store.url}")
    head.to(device).eval()
    for p in head.parameters():
        p.requires_grad_(False)
    return head
