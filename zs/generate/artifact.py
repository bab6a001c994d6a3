"""The generator artifact: ``GEN/config.json`` + ``weights.pt`` + ``manifest.json``.

``config.json`` is the :class:`GeneratorConfig` (architecture and dims);
``manifest.json`` carries provenance: store / vocabulary / segmenter
identities, the text-embedding identity, the seed, the full fit config and
the vocabulary itself (so ``zs sample --classes unseen`` needs no store).
"""

from __future__ import annotations

import os
from pathlib import Path

import torch

from zs.errors import ProvenanceError, ZsError
from zs.generate.config import GeneratorConfig
from zs.generate.models import Generator, build_generator
from zs.artifact import load_torch_file, read_config, save_module
from zs.manifest import read_json

GENERATOR_FORMAT = 1
MANIFEST_KIND = "zs-generator"


def is_generator_dir(path: str | os.PathLike) -> bool:
    p = Path(path)
    return (p / "config.json").is_file() and (p / "weights.pt").is_file() and (p / "manifest.json").is_file()


def save_generator(gen: Generator, out_dir: str | os.PathLike, manifest: dict) -> Path:
    """Write weights (atomically), config and manifest (last: marks the artifact complete)."""
    return save_module(gen, gen.cfg, GENERATOR_FORMAT, out_dir, manifest)


def read_generator_config(path: str | os.PathLike) -> GeneratorConfig:
    p = Path(path)
    if not is_generator_dir(p):
        raise ZsError(f"{p}: not a zs generator (expected config.json, weights.pt and manifest.json)")
    return read_config(p, GeneratorConfig, GENERATOR_FORMAT, kind=MANIFEST_KIND)


def load_generator(path: str | os.PathLike, device: str | torch.device = "cpu") -> Generator:
    """Load a generator artifact (eval mode) on ``device``; NaN/Inf weights are refused."""
    p = Path(path)
    cfg = read_generator_config(p)
    try:
        gen = build_generator(cfg)
    except ZsError as e:
        raise ZsError(f"{p / 'config.json'}: {e}") from None
    state = load_torch_file(p / "weights.pt", what="generator weights")
    try:
        gen.load_state_dict(state)
    except RuntimeError as e:
        raise ZsError(f"{p}/weights.pt does not fit its config.json: {str(e).splitlines()[0]}") from None
    from zs.guard import require_finite_weights

    require_finite_weights(gen, f"generator {path}")  # a diverged generator is refused wherever it is loaded
    return gen.to(device).eval()


def generator_manifest(path: str | os.PathLike) -> dict:
    return read_json(Path(path) / "manifest.json")


def check_generator_fits(path: str | os.PathLike, store) -> None:
    """Refuse a generator fitted for another vocabulary, segmenter or query size than ``store``'s.

    (A generator may be used with another store of the same segmenter and
    vocabulary, e.g. one re-extracted with more splits.)
    """
    m = generator_manifest(path)
    cfg = read_generator_config(path)
    ident = store.identity
    store_q = ident.query_dim
    if store_q and cfg.query_dim != store_q:
        raise ProvenanceError(f"generator {path} makes {cfg.query_dim}-d features, store {store.url} has query dim {store_q}")
    if cfg.num_classes != store.vocab.num_classes:
        raise ProvenanceError(
            f"generator {path} knows K={cfg.num_classes} classes, store {store.url} has {store.vocab.num_classes}"
        )
    gv, sv = m.get("vocab_sha256", ""), store.vocab.sha256
    if gv and gv != sv:
        raise ProvenanceError(f"generator {path} vocabulary {gv[:12]} differs from store {store.url}'s {sv[:12]}")
    gs, ss = m.get("segmenter_sha256", ""), ident.segmenter_sha256
    if gs and ss and gs != ss:
        raise ProvenanceError(
            f"generator {path} was fitted on segmenter {gs[:12]}, store {store.url} comes from {ss[:12]}"
        )
