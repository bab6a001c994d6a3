"""Text embeddings of a vocabulary (``zs text-embed``).

Templates: PADing builds its class embeddings in ``PADing/PADing_model.py``
(``get_embeddings``, github.com/heshuting555/PADing) with
``prompt_ensemble_type = "imagenet_select"``, i.e.
``PADing/third_party/imagenet_templates.IMAGENET_TEMPLATES_SELECT``; per class
each template's CLIP text embedding is L2-normalised, averaged, normalised
again, and a name "a, b" is split into its parts. That templates file is the
zsseg/ZegFormer one; the 8 templates below are its ``IMAGENET_TEMPLATES_SELECT``
as copied in public forks (the PADing file itself was not readable here).
"""

from __future__ import annotations

import logging

import numpy as np
import torch
import torch.nn.functional as F

from zs.errors import ZsError

log = logging.getLogger(__name__)

PADING_TEMPLATES = (
    "itap of a {}.",
    "a bad photo of the {}.",
    "a origami {}.",
    "a photo of the large {}.",
    "a {} in a video game.",
    "art of the {}.",
    "a photo of the small {}.",
    "a photo of a {}.",
)


def class_texts(name: str, templates=PADING_TEMPLATES) -> list[str]:
    """Prompts of one class, names as given (as PADing); 'a, b' is split into its parts as PADing does."""
    parts = name.split(", ") if ", " in name else [name]
    return [t.format(p) for t in templates for p in parts]


@torch.no_grad()
def text_embeddings(clip, names: list[str], templates=PADING_TEMPLATES) -> torch.Tensor:
    """[K, Dc] float32: per class, normalise each prompt embedding, average, normalise again."""
    out = []
    for name in names:
        emb = F.normalize(clip.encode_text(class_texts(name, templates)).float(), dim=-1)  # [T, Dc]
        out.append(F.normalize(emb.mean(0), dim=0))  # [Dc]
    return torch.stack(out)  # [K, Dc]


def embed_vocabulary(store, *, name: str = "default", clip=None, semantic: str | None = None,
                     templates=PADING_TEMPLATES) -> tuple[np.ndarray, dict]:
    """Compute (CLIP) or import (``semantic`` .npy [K, Dt]) text embeddings and store them as ``name``."""
    vocab = store.vocab
    if semantic is not None:
        try:
            emb = np.load(semantic, allow_pickle=False).astype(np.float32)
        except (OSError, ValueError, EOFError) as e:
            raise ZsError(f"--semantic {semantic}: cannot read .npy ({str(e) or 'empty or truncated file'})") from None
        if emb.ndim != 2 or emb.shape[0] != vocab.num_classes:
            raise ZsError(f"--semantic {semantic}: shape {emb.shape}, expected [K={vocab.num_classes}, Dt]")
        if not np.isfinite(emb).all():
            raise ZsError(f"--semantic {semantic}: {int((~np.isfinite(emb)).sum())} NaN/Inf value(s)")
        meta = {"source": "semantic", "file": str(semantic), "names": vocab.names}
    elif clip is not None:
        emb = text_embeddings(clip, vocab.names, templates).numpy()
        meta = {"source": "clip", "model": clip.name, "weights_sha256": clip.sha256, "templates": list(templates),
                "names": vocab.names}
    else:
        raise ZsError("text-embed needs --clip-model/--clip-weights or --semantic FILE.npy")
    meta["vocab_sha256"] = vocab.sha256
    if name in store.text_names():  # replacing a set is allowed (heads keep their own copy), but said
        old = store.read_json("text", f"{name}.json", default={}) or {}
        log.warning("replacing text embeddings '%s' of %s (were: %s)", name, store.url,
                    old.get("file") or old.get("model") or old.get("source") or "unknown source")
    store.write_text(name, emb, meta)
    return emb, meta


def embed_store_text(store: str, *, name: str = "default", clip_model: str | None = None,
                     clip_weights: str | None = None, semantic: str | None = None,
                     device: str = "auto") -> tuple[str, np.ndarray]:
    """``zs text-embed``: embed (CLIP) or import (``semantic``) the vocabulary of ``store`` -> (url, [K, Dt])."""
    from zs.paths import check_store_out
    from zs.store import open_store

    check_store_out(store)
    st = open_store(store, mode="a")
    clip = None
    if semantic is None:
        if not (clip_model and clip_weights):
            raise ZsError("give --clip-model and --clip-weights, or --semantic FILE.npy")
        from zs.extract.clip import load_clip

        clip = load_clip(clip_model, clip_weights, device)
    emb, _ = embed_vocabulary(st, name=name, clip=clip, semantic=semantic)
    return st.url, emb
