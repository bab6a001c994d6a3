"""Datasets behind one small interface: ``len(ds)``, ``ds[i] -> Sample``.

* :class:`CocoPanoptic` — COCO panoptic layout (image folder, panoptic JSON,
  panoptic PNG folder; segment id = R + 256 G + 256^2 B). The synthetic world
  writes this format too.
* :class:`CocoStuffSemantic` — label-map PNGs (contiguous class index per pixel,
  255 = ignore), turned into one segment per class present.

A missing or corrupt image/PNG raises :class:`ImageReadError` (a ZsError), so
the extraction job can record it in its failures table and go on.
"""

from __future__ import annotations

import dataclasses
import os
from pathlib import Path

import numpy as np
from PIL import Image

from zs.errors import ZsError
from zs.manifest import read_json


# ``--data DIR`` layouts, first match wins (paths relative to DIR; {split} = "train", "val", ...).
DATASET_LAYOUTS = (
    ("{split}/images", "{split}/panoptic.json", "{split}/panoptic"),  # zs synth, zs's own datasets
    ("images", "panoptic.json", "panoptic"),  # a folder holding one split
    ("{split}2017", "annotations/panoptic_{split}2017.json", "panoptic_{split}2017"),  # COCO's own layout
)


def dataset_files(data_dir: str | os.PathLike | None, split: str, *, images=None, json=None,
                  png=None) -> tuple[Path, Path, Path]:
    """(image folder, panoptic JSON, panoptic PNG folder) of ``split`` of a dataset folder.

    The folder's layouts, in this order (the first whose files all exist wins):

    1. ``DIR/<split>/images/``, ``DIR/<split>/panoptic.json``, ``DIR/<split>/panoptic/`` (zs synth);
    2. ``DIR/images/``, ``DIR/panoptic.json``, ``DIR/panoptic/`` (a folder of one split);
    3. ``DIR/<split>2017/``, ``DIR/annotations/panoptic_<split>2017.json``, ``DIR/panoptic_<split>2017/`` (COCO).

    ``images``/``json``/``png`` given explicitly replace that part of every layout (and are not
    checked here); with all three, ``data_dir`` may be None. ZsError (one line) naming the folder
    and what is missing when no layout fits.
    """
    given = (images, json, png)
    if data_dir is None:
        if not all(given):
            raise ZsError("no dataset: give a dataset folder (--data DIR), or all of --images, --json and --png")
        return tuple(Path(p) for p in given)
    root = Path(data_dir)
    if root.is_file():
        raise ZsError(f"dataset folder {root}: is a file; give the folder that holds it (or --images/--json/--png)")
    if not root.is_dir():
        raise ZsError(f"dataset folder {root}: no such folder")
    best = (0, None, None)  # (parts found, layout, missing parts) of the closest layout
    for layout in DATASET_LAYOUTS:
        paths = [Path(g) if g else root / rel.format(split=split) for g, rel in zip(given, layout)]
        if all(g or p.exists() for g, p in zip(given, paths)):
            return tuple(paths)
        found = [p for g, p in zip(given, paths) if not g and p.exists()]
        missing = [rel.format(split=split) for g, p, rel in zip(given, paths, layout) if not g and not p.exists()]
        if len(found) > best[0]:
            best = (len(found), layout, missing)
    if best[1] is not None:  # part of one layout is there: name what is missing from it
        raise ZsError(f"dataset folder {root}: split '{split}' is incomplete: {', '.join(best[2])} missing")
    wanted = "; ".join(", ".join(rel.format(split=split) for g, rel in zip(given, layout) if not g)
                       for layout in DATASET_LAYOUTS)
    raise ZsError(f"dataset folder {root}: no COCO panoptic split '{split}' in it (looked for {wanted})")


class ImageReadError(ZsError):
    """An image or annotation PNG is missing or cannot be decoded."""


@dataclasses.dataclass
class Sample:
    image_id: int
    file_name: str
    image: np.ndarray  # uint8 [H, W, 3] RGB
    segment_map: np.ndarray  # int32 [H, W], segment id per pixel, 0 = void
    segments: list[dict]  # dict(id, category_id, iscrowd, area, bbox)


def read_rgb(path: str | os.PathLike) -> np.ndarray:
    """uint8 [H, W, 3] RGB; ImageReadError naming the file if missing or corrupt."""
    try:
        with Image.open(path) as im:
            return np.asarray(im.convert("RGB"), dtype=np.uint8)
    except FileNotFoundError:
        raise ImageReadError(f"{path}: file not found") from None
    except (OSError, ValueError, SyntaxError) as e:
        raise ImageReadError(f"{path}: cannot decode image ({e})") from None


def read_panoptic_png(path: str | os.PathLike) -> np.ndarray:
    """COCO panoptic PNG -> int32 [H, W] segment ids (R + 256 G + 256^2 B)."""
    rgb = read_rgb(path).astype(np.int32)  # [H, W, 3]
    return rgb[..., 0] + 256 * rgb[..., 1] + 256 * 256 * rgb[..., 2]


class CocoPanoptic:
    """COCO panoptic dataset: ``images_dir``, ``json_path``, ``png_dir``."""

    format = "coco-panoptic"

    def __init__(self, images_dir: str | os.PathLike, json_path: str | os.PathLike,
                 png_dir: str | os.PathLike):
        self.images_dir = Path(images_dir).expanduser().resolve()
        self.json_path = Path(json_path).expanduser().resolve()
        self.png_dir = Path(png_dir).expanduser().resolve()
        for p, what in ((self.images_dir, "image folder"), (self.png_dir, "panoptic PNG folder")):
            if not p.is_dir():
                raise ZsError(f"{p}: {what} not found")
        data = read_json(self.json_path)
        for key in ("images", "annotations", "categories"):
            if key not in data:
                raise ZsError(f"{self.json_path}: missing field '{key}' (not a COCO panoptic JSON)")
        self.categories: list[dict] = data["categories"]
        self.image_infos: list[dict] = sorted(data["images"], key=lambda d: int(d["id"]))
        self._anns = {int(a["image_id"]): a for a in data["annotations"]}

    def __len__(self) -> int:
        return len(self.image_infos)

    def annotation(self, i: int) -> dict:
        info = self.image_infos[i]
        return self._anns.get(int(info["id"]), {"segments_info": [], "file_name": None})

    def segments(self, i: int) -> list[dict]:
        """Segment dicts of image i without decoding anything."""
        return [_segment_dict(s) for s in self.annotation(i).get("segments_info", [])]

    def category_ids(self) -> set[int]:
        """Every category id used by a segment of the annotation file."""
        return {int(s["category_id"]) for a in self._anns.values() for s in a.get("segments_info", [])}

    def __getitem__(self, i: int) -> Sample:
        info = self.image_infos[i]
        ann = self.annotation(i)
        image = read_rgb(self.images_dir / info["file_name"])
        if ann.get("file_name"):
            seg_map = read_panoptic_png(self.png_dir / ann["file_name"])
            if seg_map.shape != image.shape[:2]:
                raise ImageReadError(
                    f"{self.png_dir / ann['file_name']}: size {seg_map.shape} != image size {image.shape[:2]}"
                )
        else:
            seg_map = np.zeros(image.shape[:2], dtype=np.int32)
        return Sample(int(info["id"]), str(info["file_name"]), image, seg_map, self.segments(i))


def _segment_dict(s: dict) -> dict:
    return {
        "id": int(s["id"]),
        "category_id": int(s["category_id"]),
        "iscrowd": int(s.get("iscrowd", 0)),
        "area": int(s.get("area", 0)),
        "bbox": [float(v) for v in s.get("bbox", [0, 0, 0, 0])],
    }


class CocoStuffSemantic:
    """COCO-Stuff semantic label maps: PNG of contiguous class indices, 255 = ignore.

    ``category_ids[label]`` maps a label value to the dataset category id; each
    class present in an image becomes one segment (id = label + 1).
    """

    format = "coco-stuff-semantic"

    def __init__(self, images_dir: str | os.PathLike, labels_dir: str | os.PathLike,
                 category_ids: list[int], *, ignore_label: int = 255, label_suffix: str = ".png"):
        self.images_dir = Path(images_dir).expanduser().resolve()
        self.labels_dir = Path(labels_dir).expanduser().resolve()
        if not self.images_dir.is_dir() or not self.labels_dir.is_dir():
            raise ZsError(f"{self.images_dir} / {self.labels_dir}: image or label folder not found")
        self.category_ids = list(category_ids)
        self.ignore_label = ignore_label
        self.label_suffix = label_suffix
        files = sorted(p for p in self.images_dir.iterdir() if p.suffix.lower() in (".jpg", ".jpeg", ".png"))
        self.image_infos = [{"id": k, "file_name": p.name} for k, p in enumerate(files)]

    def __len__(self) -> int:
        return len(self.image_infos)

    def label_segments(self, i: int) -> tuple[np.ndarray, list[dict]]:
        """Image i's label map as (segment map int32 [H, W], segment dicts); the image is not decoded."""
        info = self.image_infos[i]
        label_path = self.labels_dir / (Path(info["file_name"]).stem + self.label_suffix)
        try:
            with Image.open(label_path) as im:
                labels = np.asarray(im, dtype=np.int32)
        except (FileNotFoundError, OSError) as e:
            raise ImageReadError(f"{label_path}: cannot read label map ({e})") from None
        if labels.ndim != 2:
            raise ImageReadError(f"{label_path}: a label map has one channel, this image has shape {labels.shape} "
                                 f"(an RGB panoptic PNG?)")
        seg_map = np.zeros(labels.shape, dtype=np.int32)
        segments = []
        for lab in np.unique(labels):
            if lab == self.ignore_label:
                continue
            if not 0 <= lab < len(self.category_ids):
                raise ImageReadError(f"{label_path}: label {lab} outside 0..{len(self.category_ids) - 1}")
            m = labels == lab
            seg_map[m] = lab + 1
            ys, xs = np.nonzero(m)
            bbox = [float(xs.min()), float(ys.min()), float(xs.max() - xs.min() + 1), float(ys.max() - ys.min() + 1)]
            segments.append({"id": int(lab) + 1, "category_id": self.category_ids[lab], "iscrowd": 0,
                             "area": int(m.sum()), "bbox": bbox})
        return seg_map, segments

    def __getitem__(self, i: int) -> Sample:
        info = self.image_infos[i]
        image = read_rgb(self.images_dir / info["file_name"])
        seg_map, segments = self.label_segments(i)
        return Sample(int(info["id"]), str(info["file_name"]), image, seg_map, segments)
