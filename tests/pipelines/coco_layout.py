"""A small dataset in COCO's own layout, with the real 133 panoptic categories.

detectron2's layout under ``root``::

    train2017/*.jpg  panoptic_train2017/*.png  annotations/panoptic_train2017.json
    val2017/*.jpg    panoptic_val2017/*.png    annotations/panoptic_val2017.json

Panoptic PNGs hold RGB-encoded segment ids (id = R + 256 G + 256^2 B, 0 = void).
Train images are painted blocks of category colours at COCO's usual sizes
(640x480, 480x640, 640x427, 427x640), with crowd segments and images holding
PADing-unseen classes that ``zs split coco-panoptic`` must drop. Val is the two
real COCO val2017 images of ``reference/coco-real`` plus two painted ones.
"""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import numpy as np
from PIL import Image

# (height, width, stuff ids top/bottom, things [(id, iscrowd)]); 21 cow and 184 tree-merged are PADing-unseen
TRAIN_IMAGES = [
    (480, 640, (199, 190), [(1, 0), (1, 1), (3, 0)]),  # person, person crowd, car
    (640, 480, (118, 125), [(18, 0), (6, 0)]),  # dog, bus
    (427, 640, (199, 125), [(1, 0), (21, 1)]),  # an unseen class as a crowd segment -> dropped
    (640, 427, (184, 190), [(19, 0)]),  # an unseen stuff class -> dropped
    (480, 640, (200, 118), [(8, 0), (37, 0), (18, 1)]),  # truck, sports ball, dog crowd
]
VAL_IMAGES = [
    (480, 640, (199, 187), [(1, 0), (21, 0)]),  # unseen cow and sky
    (640, 427, (193, 125), [(3, 0), (1, 1)]),  # unseen grass
]
UNSEEN_IN_TRAIN = (2, 3)  # indices of TRAIN_IMAGES the split drops


def real_categories(coco_real: Path) -> list[dict]:
    return json.loads((coco_real / "panoptic_val2017.json").read_text())["categories"]


def _paint(rng: np.random.Generator, h: int, w: int, stuff, things, colours: dict):
    """One image + segment-id map: two stuff bands, then thing boxes; segment ids 1.. in that order."""
    img = np.zeros((h, w, 3), np.uint8)
    seg = np.zeros((h, w), np.int32)
    cut = int(rng.integers(h // 3, 2 * h // 3))
    plan = [(stuff[0], 0, (0, cut, 0, w)), (stuff[1], 0, (cut, h, 0, w))]
    for cid, crowd in things:
        bh, bw = int(rng.integers(h // 5, h // 2)), int(rng.integers(w // 5, w // 2))
        y, x = int(rng.integers(0, h - bh)), int(rng.integers(0, w - bw))
        plan.append((cid, crowd, (y, y + bh, x, x + bw)))
    for sid, (cid, _, (y0, y1, x0, x1)) in enumerate(plan, start=1):
        noise = rng.integers(-25, 25, size=(y1 - y0, x1 - x0, 3))
        img[y0:y1, x0:x1] = np.clip(np.array(colours[cid]) + noise, 0, 255)
        seg[y0:y1, x0:x1] = sid
    img[: h // 20, : w // 20] = 0
    seg[: h // 20, : w // 20] = 0  # a void corner
    infos = []
    for sid, (cid, crowd, _) in enumerate(plan, start=1):
        m = seg == sid
        if m.any():
            ys, xs = np.nonzero(m)
            infos.append({"id": sid, "category_id": cid, "iscrowd": crowd, "area": int(m.sum()),
                          "bbox": [int(xs.min()), int(ys.min()), int(xs.max() - xs.min() + 1), int(ys.max() - ys.min() + 1)]})
    return img, seg, infos


def _write_split(root: Path, split: str, specs, categories, first_id: int, seed: int) -> dict:
    colours = {c["id"]: c["color"] for c in categories}
    img_dir, png_dir = root / f"{split}2017", root / f"panoptic_{split}2017"
    img_dir.mkdir(parents=True, exist_ok=True)
    png_dir.mkdir(parents=True, exist_ok=True)
    rng = np.random.default_rng(seed)
    images, anns = [], []
    for k, (h, w, stuff, things) in enumerate(specs):
        image_id = first_id + k
        img, seg, infos = _paint(rng, h, w, stuff, things, colours)
        name = f"{image_id:012d}"
        Image.fromarray(img).save(img_dir / f"{name}.jpg", quality=90)
        rgb = np.stack([seg % 256, seg // 256 % 256, seg // 65536], -1).astype(np.uint8)
        Image.fromarray(rgb).save(png_dir / f"{name}.png")
        images.append({"id": image_id, "file_name": f"{name}.jpg", "height": h, "width": w})
        anns.append({"image_id": image_id, "file_name": f"{name}.png", "segments_info": infos})
    return {"images": images, "annotations": anns, "categories": categories}


def write_coco_layout(root: Path, coco_real: Path, seed: int = 0) -> Path:
    """The dataset above under ``root`` (returned)."""
    categories = real_categories(coco_real)
    (root / "annotations").mkdir(parents=True, exist_ok=True)
    train = _write_split(root, "train", TRAIN_IMAGES, categories, 1, seed)
    (root / "annotations" / "panoptic_train2017.json").write_text(json.dumps(train))
    val = _write_split(root, "val", VAL_IMAGES, categories, 1001, seed + 1)
    real = json.loads((coco_real / "panoptic_val2017.json").read_text())
    for im, ann in zip(real["images"], real["annotations"]):
        shutil.copy(coco_real / "val2017" / im["file_name"], root / "val2017" / im["file_name"])
        shutil.copy(coco_real / "panoptic_val2017" / ann["file_name"], root / "panoptic_val2017" / ann["file_name"])
    val["images"] += real["images"]
    val["annotations"] += real["annotations"]
    (root / "annotations" / "panoptic_val2017.json").write_text(json.dumps(val))
    return root


def write_stuff_label_maps(images_dir: Path, labels_dir: Path, labels_per_image, size=(96, 128), seed: int = 0):
    """Painted images + COCO-Stuff label maps (value = class index in the 171 order, 255 ignore), one band per label."""
    images_dir.mkdir(parents=True, exist_ok=True)
    labels_dir.mkdir(parents=True, exist_ok=True)
    rng = np.random.default_rng(seed)
    h, w = size
    for k, labels in enumerate(labels_per_image):
        lab = np.full((h, w), 255, np.uint8)
        bands = np.linspace(0, h, len(labels) + 1).astype(int)
        for v, (y0, y1) in zip(labels, zip(bands[:-1], bands[1:])):
            lab[y0 + 2:y1, :] = v  # two ignore rows between bands
        img = (rng.random((h, w, 3)) * 60 + (lab[..., None].astype(float) * 37 % 190)).astype(np.uint8)
        name = f"{k + 1:012d}"
        Image.fromarray(img).save(images_dir / f"{name}.jpg", quality=90)
        Image.fromarray(lab).save(labels_dir / f"{name}.png")


def write_instances(images_dir: Path, json_path: Path, objects_per_image, categories, size=(96, 128), seed: int = 0):
    """Painted images + a COCO instances JSON: per object (category id, iscrowd) a polygon box (RLE if crowd)."""
    from pycocotools import mask as mask_utils

    images_dir.mkdir(parents=True, exist_ok=True)
    rng = np.random.default_rng(seed)
    h, w = size
    images, anns = [], []
    for k, objects in enumerate(objects_per_image):
        image_id = k + 1
        img = (rng.random((h, w, 3)) * 80).astype(np.uint8)
        for cid, crowd in objects:
            bh, bw = int(rng.integers(h // 4, h // 2)), int(rng.integers(w // 4, w // 2))
            y, x = int(rng.integers(0, h - bh)), int(rng.integers(0, w - bw))
            img[y:y + bh, x:x + bw] = (cid * 53) % 255
            if crowd:
                m = np.zeros((h, w), np.uint8, order="F")
                m[y:y + bh, x:x + bw] = 1
                rle = mask_utils.encode(m)
                segm = {"size": rle["size"], "counts": rle["counts"].decode()}
            else:
                segm = [[x, y, x + bw, y, x + bw, y + bh, x, y + bh]]
            anns.append({"id": len(anns) + 1, "image_id": image_id, "category_id": cid, "iscrowd": crowd,
                         "segmentation": segm, "area": float(bh * bw), "bbox": [x, y, bw, bh]})
        name = f"COCO_train2014_{image_id:012d}.jpg"
        Image.fromarray(img).save(images_dir / name, quality=90)
        images.append({"id": image_id, "file_name": name, "height": h, "width": w})
    json_path.parent.mkdir(parents=True, exist_ok=True)
    json_path.write_text(json.dumps({"images": images, "annotations": anns, "categories": categories}))
