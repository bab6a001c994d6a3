"""Text embeddings of a vocabulary (``zs text-embed``) and the zero-shot train split (``zs split``).

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
            emb = np.load(semantic).astype(np.float32)
        except (OSError, ValueError) as e:
            raise ZsError(f"--semantic {semantic}: cannot read .npy ({e})") from None
        if emb.ndim != 2 or emb.shape[0] != vocab.num_classes:
            raise ZsError(f"--semantic {semantic}: shape {emb.shape}, expected [K={vocab.num_classes}, Dt]")
        meta = {"source": "semantic", "file": str(semantic), "names": vocab.names}
    elif clip is not None:
        emb = text_embeddings(clip, vocab.names, templates).numpy()
        meta = {"source": "clip", "model": clip.name, "weights_sha256": clip.sha256, "templates": list(templates),
                "names": vocab.names}
    else:
        raise ZsError("text-embed needs --clip-model/--clip-weights or --semantic FILE.npy")
    meta["vocab_sha256"] = vocab.sha256
    store.write_text(name, emb, meta)
    return emb, meta


def zero_shot_train_split(data: dict, unseen_ids: set[int]) -> tuple[dict, dict]:
    """Drop every image with any segment (crowd included) of an unseen class -> (json, counts)."""
    cats = {int(c["id"]) for c in data["categories"]}
    missing = sorted(unseen_ids - cats)
    if missing:
        raise ZsError(f"unseen category ids {missing} are not in the JSON's categories")
    drop = {int(a["image_id"]) for a in data["annotations"]
            if any(int(s["category_id"]) in unseen_ids for s in a.get("segments_info", []))}
    keep_imgs = [im for im in data["images"] if int(im["id"]) not in drop]
    keep_anns = [a for a in data["annotations"] if int(a["image_id"]) not in drop]
    seg_seen = sum(len(a.get("segments_info", [])) for a in keep_anns)
    seg_unseen_dropped = sum(1 for a in data["annotations"] if int(a["image_id"]) in drop
                             for s in a.get("segments_info", []) if int(s["category_id"]) in unseen_ids)
    out = {**data, "images": keep_imgs, "annotations": keep_anns}
    counts = {"images_kept": len(keep_imgs), "images_dropped": len(data["images"]) - len(keep_imgs),
              "segments_kept": seg_seen, "unseen_segments_dropped": seg_unseen_dropped,
              "unseen_classes": len(unseen_ids)}
    return out, counts
