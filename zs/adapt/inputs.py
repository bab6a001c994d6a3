"""Inputs of the head refits: store, seen head, text embeddings, generator; head identity and saving."""

from __future__ import annotations

import dataclasses
import logging
import os
from pathlib import Path
from typing import Any

import torch

from zs.adapt.config import AdaptConfig
from zs.errors import ConfigError, ZsError
from zs.heads import HeadConfig, build_head, check_head_fits, head_manifest, load_head, make_head_manifest, save_head

log = logging.getLogger(__name__)


def open_input_store(store: Any):
    """A path/URL -> an opened store (read-only); an opened store is returned as is."""
    if isinstance(store, (str, os.PathLike)):
        from zs.store import open_store

        return open_store(os.fspath(store), mode="r")
    return store


def store_where(store) -> str:
    return f"store {store.url}"


def load_fitting_head(path: str | os.PathLike, store, device: torch.device):
    """Load a head and refuse it if it was made for another query size/class count/vocabulary/segmenter."""
    head = load_head(path)
    check_head_fits(head, store.identity, where=store_where(store))
    return head.to(device)


def seen_head_path(store) -> str:
    path = store.seen_head_path
    if not (Path(path) / "config.json").is_file():
        raise ZsError(f"{store_where(store)} has no seen head (expected {path}); re-run `zs extract`")
    return os.fspath(path)


def load_seen_head(store, device: torch.device):
    return load_fitting_head(seen_head_path(store), store, device)


def text_embeddings(store, name: str | None, device: torch.device) -> torch.Tensor:
    """The store's class text/semantic embeddings [K, Dt] float32 on ``device``."""
    emb, _meta = store.text(name) if name is not None else store.text()
    emb = torch.as_tensor(emb, dtype=torch.float32, device=device)  # [K, Dt]
    if emb.ndim != 2 or emb.shape[0] != store.vocab.num_classes:
        raise ZsError(
            f"{store_where(store)}: text embeddings '{name or 'default'}' have shape {tuple(emb.shape)}, "
            f"expected [K={store.vocab.num_classes}, Dt]"
        )
    if not bool(torch.isfinite(emb).all()):
        raise ZsError(f"{store_where(store)}: text embeddings '{name or 'default'}' contain NaN/Inf")
    return emb


def resolve_generator(generator: Any, store, device: torch.device, method: str):
    """(generator module in eval mode, its manifest or None); checks that a path fits the store."""
    if generator is None:
        raise ConfigError(f"--method {method} needs --generator (a fitted generator directory)")
    if isinstance(generator, (str, os.PathLike)):
        from zs.generate import check_generator_fits, load_generator

        check_generator_fits(os.fspath(generator), store)
        gen = load_generator(os.fspath(generator), device=device)
        manifest = _read_manifest(Path(generator) / "manifest.json")
        return gen, manifest
    return generator.to(device).eval(), None  # an in-memory generator module: no artifact manifest


def _read_manifest(path: Path) -> dict | None:
    from zs.manifest import read_json

    return read_json(path) if path.is_file() else None


def generator_kind(gen) -> str:
    return str(gen.cfg.kind)


def sample_synthetic(gen, class_ids: torch.Tensor, n: int, rng: torch.Generator) -> torch.Tensor:
    """[M] class ids -> [M*n, D] synthetic features (no grad, float32)."""
    with torch.no_grad():
        return gen.sample(class_ids, n=n, generator=rng).float()


def head_config_for(store, cfg: AdaptConfig, *, kind: str, text_dim: int = 0, hidden_dim: int = 0,
                    tau: float = 0.07, query_dim: int | None = None) -> HeadConfig:
    """A HeadConfig whose identity fields come from the store manifest."""
    ident = store.identity
    return HeadConfig(
        kind=kind,
        query_dim=int(query_dim or ident.query_dim),
        num_classes=store.vocab.num_classes,
        seen=[bool(s) for s in store.vocab.seen_mask()],
        text_dim=text_dim,
        hidden_dim=hidden_dim,
        tau=tau,
        vocab_sha256=ident.vocab_sha256,
        segmenter_sha256=ident.segmenter_sha256,
        store_sha256=ident.store_sha256,
        method=cfg.method,
    )


def restamp_head(head, store, cfg: AdaptConfig):
    """A copy of ``head`` carrying this store's identity and this method (gamma reset to 0)."""
    ident = store.identity
    new_cfg = dataclasses.replace(head.cfg, vocab_sha256=ident.vocab_sha256, segmenter_sha256=ident.segmenter_sha256,
                                  store_sha256=ident.store_sha256, method=cfg.method, gamma=0.0)
    class_embed = getattr(head, "class_embed", None)
    new = build_head(new_cfg, class_embed.detach().cpu() if class_embed is not None else None)
    new.load_state_dict({k: v.detach().cpu() for k, v in head.state_dict().items()})
    return new


def write_head(head, store, cfg: AdaptConfig, *, generator_manifest: dict | None = None,
               init_head: str | None = None, training: dict | None = None,
               calibration: dict | None = None) -> Path:
    """Save the head artifact with a manifest naming store, generator, method, config, seed."""
    generator = None
    if generator_manifest is not None or cfg.generator is not None:
        generator = {"path": cfg.describe()["generator"], "manifest": generator_manifest}
    init = None if init_head is None else {"path": os.fspath(init_head), "manifest": _safe_head_manifest(init_head)}
    manifest = make_head_manifest(
        head.cfg, method=cfg.method, config=cfg.describe(), seed=cfg.seed,
        store={"path": str(store.url), "sha256": store.sha256}, generator=generator, init_head=init,
        training=training or {}, calibration=calibration or {},
    )
    head.eval()
    return save_head(head, cfg.out, manifest)


def _safe_head_manifest(path) -> dict | None:
    try:
        return head_manifest(path)
    except ZsError:
        return None
