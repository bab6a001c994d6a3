"""Zero-shot honesty of a synthetic world folder: split rules, training pixels, text-embedding source.

Each check returns ``{"pass": bool, ...figures}``; :func:`honesty_checks` runs them all.
- training images hold no pixel of an unseen class: every pixel of every
  train panoptic PNG belongs to a listed segment of a seen class;
- every unseen class recombines attribute values that >= 2 seen classes show;
- no single attribute value identifies a seen class (each value: >= 2 seen classes);
- the text embeddings come from the world's own attribute codes (``semantic.npy``)
  or a tiny CLIP made by ``zs train-clip`` (manifest kind ``zs-synth-clip``),
  never from segmenter features or the validation set.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

from zs.manifest import read_json
from zs.synth.dataset import load_world
from zs.synth.world import World, attribute_ambiguity

MIN_SEEN_PER_VALUE = 2
CLIP_KIND = "zs-synth-clip"


def train_pixels_check(data_dir: str | Path, world: World, split: str = "train") -> dict:
    """No pixel of an unseen class (or unlisted / void) in the training split's panoptic PNGs."""
    from zs.extract.datasets import read_panoptic_png

    root = Path(data_dir) / split
    doc = read_json(root / "panoptic.json")
    seen_ids = {c.id for c in world.classes if c.seen}
    bad_images, unseen_pixels = [], 0
    for ann in doc["annotations"]:
        ids = read_panoptic_png(root / "panoptic" / ann["file_name"])  # [H, W]
        ok_ids = np.array([s["id"] for s in ann["segments_info"] if s["category_id"] in seen_ids], np.int64)
        n_bad = int((~np.isin(ids, ok_ids)).sum())
        if n_bad:
            unseen_pixels += n_bad
            bad_images.append(ann["file_name"])
    return {"pass": not bad_images, "images": len(doc["annotations"]), "images_with_unseen_or_unlisted_pixels":
            len(bad_images), "pixels": unseen_pixels, "first_bad": bad_images[:5]}


def recombination_check(world: World) -> dict:
    """Every attribute value of every unseen class is shown by >= MIN_SEEN_PER_VALUE seen classes."""
    shown = attribute_ambiguity(world)
    per_class = {c.name: min(shown.get(k, {}).get(v, 0) for k, v in c.attributes.items())
                 for c in world.classes if not c.seen}
    return {"pass": bool(per_class) and min(per_class.values()) >= MIN_SEEN_PER_VALUE,
            "min_seen_classes_per_value": per_class}


def ambiguity_check(world: World) -> dict:
    """No attribute value is worn by fewer than MIN_SEEN_PER_VALUE seen classes (none identifies a class)."""
    shown = attribute_ambiguity(world)
    unique = sorted(f"{k}={v}" for k, vs in world.values.items() for v in vs if shown.get(k, {}).get(v, 0) < 2)
    return {"pass": not unique, "values_on_fewer_than_2_seen_classes": unique, "seen_classes_per_value": shown}


def text_source_check(source: str, clip_dir: str | Path | None = None) -> dict:
    """'semantic' (the world's attribute codes) or a ``zs train-clip`` folder; anything else fails."""
    if source == "semantic":
        return {"pass": True, "source": "semantic.npy (attribute codes)"}
    if source == "clip" and clip_dir is not None:
        manifest = Path(clip_dir) / "manifest.json"
        doc = read_json(manifest) if manifest.is_file() else {}
        ok = doc.get("kind") == CLIP_KIND
        return {"pass": ok, "source": f"tiny CLIP {clip_dir}", "clip_manifest_kind": doc.get("kind"),
                "clip_trained_on": (doc.get("inputs") or {}).get("data"),
                "clip_data": (doc.get("config") or {}).get("data")}
    return {"pass": False, "source": source}


def honesty_checks(data_dir: str | Path, text_source: str, clip_dir: str | Path | None = None) -> dict:
    world = load_world(data_dir)
    return {"train_has_no_unseen_pixel": train_pixels_check(data_dir, world),
            "unseen_recombine_seen_values": recombination_check(world),
            "no_value_identifies_a_seen_class": ambiguity_check(world),
            "text_embeddings_source": text_source_check(text_source, clip_dir)}
