"""Ground truth of PADing's semantic and instance protocols, rewritten in COCO panoptic format.

zs reads COCO panoptic files (JSON + RGB-id PNGs) everywhere; these converters make them from

* COCO-Stuff label maps as PADing/ZegFormer prepare them (``annotations_detectron2/*``:
  value = contiguous index in the 171-class order of ``coco_stuff_171()``, 255 = ignore,
  unseen pixels already set to 255 in the training maps): one segment per class present;
* a COCO instances JSON (the ZSI 48/17 files): one segment per instance. Panoptic PNGs
  cannot hold overlaps, so instances are painted largest first and a smaller instance
  covers a larger one where they overlap (instances left with no pixel are dropped and
  counted).

Output ``OUT/``: ``panoptic.json`` (categories in the protocol's order), ``panoptic/*.png``
and ``vocab.json`` (the protocol's vocabulary with its seen/unseen split).
"""

from __future__ import annotations

import json
import os
from pathlib import Path

import numpy as np
from PIL import Image
from tqdm import tqdm

from zs.errors import ZsError
from zs.manifest import read_json, write_json_atomic


def _image_id(file_name: str, k: int) -> int:
    stem = Path(file_name).stem.rsplit("_", 1)[-1]
    return int(stem) if stem.isdigit() else k + 1


def _write_png(seg: np.ndarray, path: Path) -> None:
    rgb = np.stack([seg % 256, seg // 256 % 256, seg // 65536], -1).astype(np.uint8)  # [H, W, 3]
    Image.fromarray(rgb).save(path)


def _finish(out: Path, images: list, anns: list, vocab) -> dict:
    cats = [{"id": c.id, "name": c.name, "isthing": int(c.isthing)} for c in vocab.categories]
    write_json_atomic(out / "panoptic.json", {"images": images, "annotations": anns, "categories": cats})
    vocab.save(out / "vocab.json")
    return {"images": len(images), "segments": sum(len(a["segments_info"]) for a in anns)}


def stuff_labels_to_panoptic(images_dir: str | os.PathLike, labels_dir: str | os.PathLike,
                             out_dir: str | os.PathLike, *, limit: int | None = None, progress: bool = True) -> dict:
    """COCO-Stuff label maps -> ``out_dir`` in COCO panoptic format (see the module docstring)."""
    from zs.extract.datasets import CocoStuffSemantic
    from zs.extract.protocols import coco_stuff_171

    vocab = coco_stuff_171()
    ds = CocoStuffSemantic(images_dir, labels_dir, vocab.ids)
    out = Path(out_dir)
    (out / "panoptic").mkdir(parents=True, exist_ok=True)
    images, anns = [], []
    n = len(ds) if limit is None else min(limit, len(ds))
    for k in tqdm(range(n), desc="coco-stuff -> panoptic", unit="img", disable=not progress):
        name = ds.image_infos[k]["file_name"]
        seg, segments = ds.label_segments(k)
        image_id, png = _image_id(name, k), Path(name).stem + ".png"
        _write_png(seg, out / "panoptic" / png)
        images.append({"id": image_id, "file_name": name, "height": int(seg.shape[0]), "width": int(seg.shape[1])})
        anns.append({"image_id": image_id, "file_name": png, "segments_info": segments})
    if not images:
        raise ZsError(f"{images_dir}: no images (.jpg/.jpeg/.png)")
    return _finish(out, images, anns, vocab)


def _instance_mask(ann: dict, h: int, w: int) -> np.ndarray:
    """bool [H, W] of a COCO instance annotation (polygons, RLE or uncompressed RLE)."""
    from pycocotools import mask as mask_utils

    segm = ann["segmentation"]
    if isinstance(segm, list):
        rle = mask_utils.merge(mask_utils.frPyObjects(segm, h, w))
    elif isinstance(segm.get("counts"), list):
        rle = mask_utils.frPyObjects(segm, h, w)
    else:
        rle = segm
    return mask_utils.decode(rle).astype(bool)


def _paint_instances(anns: list[dict], h: int, w: int, known: set[int]) -> tuple[np.ndarray, list[dict], int]:
    """Segment map [H, W] + segments_info of one image's instances; also the number dropped by overlaps."""
    seg = np.zeros((h, w), np.int32)
    order = sorted((a for a in anns if int(a["category_id"]) in known), key=lambda a: -float(a.get("area", 0)))
    for sid, a in enumerate(order, start=1):
        seg[_instance_mask(a, h, w)] = sid
    infos, dropped = [], 0
    for sid, a in enumerate(order, start=1):
        m = seg == sid
        if not m.any():
            dropped += 1
            continue
        ys, xs = np.nonzero(m)
        infos.append({"id": sid, "category_id": int(a["category_id"]), "iscrowd": int(a.get("iscrowd", 0)),
                      "area": int(m.sum()), "bbox": [int(xs.min()), int(ys.min()), int(xs.max() - xs.min() + 1),
                                                     int(ys.max() - ys.min() + 1)]})
    return seg, infos, dropped


def instances_to_panoptic(json_path: str | os.PathLike, out_dir: str | os.PathLike, *, limit: int | None = None,
                          progress: bool = True) -> dict:
    """A COCO instances JSON of the 48/17 split -> ``out_dir`` in COCO panoptic format."""
    from zs.extract.protocols import coco_zsi_48_17

    vocab = coco_zsi_48_17()
    data = read_json(json_path)
    for key in ("images", "annotations"):
        if key not in data:
            raise ZsError(f"{json_path}: missing field '{key}' (not a COCO instances JSON)")
    by_image: dict[int, list] = {}
    for a in data["annotations"]:
        if "segmentation" not in a:
            raise ZsError(f"{json_path}: annotation {a.get('id')} has no 'segmentation' (not an instances JSON)")
        by_image.setdefault(int(a["image_id"]), []).append(a)
    known = set(vocab.ids)
    out = Path(out_dir)
    (out / "panoptic").mkdir(parents=True, exist_ok=True)
    infos = sorted(data["images"], key=lambda d: int(d["id"]))[:limit]
    images, anns, dropped = [], [], 0
    for info in tqdm(infos, desc="instances -> panoptic", unit="img", disable=not progress):
        h, w = int(info["height"]), int(info["width"])
        seg, segments, lost = _paint_instances(by_image.get(int(info["id"]), []), h, w, known)
        dropped += lost
        png = Path(info["file_name"]).stem + ".png"
        _write_png(seg, out / "panoptic" / png)
        images.append({"id": int(info["id"]), "file_name": info["file_name"], "height": h, "width": w})
        anns.append({"image_id": int(info["id"]), "file_name": png, "segments_info": segments})
    counts = _finish(out, images, anns, vocab)
    other = sum(1 for a in data["annotations"] if int(a["category_id"]) not in known)
    (out / "prepare.json").write_text(json.dumps({"source": str(json_path), "hidden_by_overlap": dropped,
                                                  "outside_vocabulary": other}, indent=2) + "\n")
    return {**counts, "hidden_by_overlap": dropped, "outside_vocabulary": other}
