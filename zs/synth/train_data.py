"""Training data for ``zs train-segmenter``: seen-only COCO panoptic samples as Mask2Former targets.

Images with any segment of an unseen class (crowd included) are dropped, as
PADing does; crowd segments are not used as targets. Class labels are
contiguous vocabulary indices (the full vocabulary, seen and unseen).
"""

from __future__ import annotations

import dataclasses
from pathlib import Path

import numpy as np
from PIL import Image

from zs.errors import ZsError
from zs.manifest import read_json, sha256_file
from zs.synth.render import rgb_to_ids
from zs.vocab import Vocabulary

IMAGENET_MEAN = (0.485, 0.456, 0.406)
IMAGENET_STD = (0.229, 0.224, 0.225)


@dataclasses.dataclass(frozen=True)
class PanopticSplit:
    """Paths of one COCO panoptic split, and its usable (seen-only) annotations."""

    images_dir: Path
    png_dir: Path
    json_path: Path
    annotations: tuple[dict, ...]  # each: image file_name, png file_name, segments (seen, non-crowd)
    json_sha256: str


def split_paths(data_dir: str | Path, split: str) -> tuple[Path, Path, Path]:
    root = Path(data_dir) / split
    paths = (root / "images", root / "panoptic", root / "panoptic.json")
    for p in paths:
        if not p.exists():
            raise ZsError(f"--data {data_dir}: missing {p} (expected {split}/images, {split}/panoptic, {split}/panoptic.json)")
    return paths


def load_vocabulary(data_dir: str | Path, vocab_path: str | Path | None) -> Vocabulary:
    path = Path(vocab_path) if vocab_path else Path(data_dir) / "vocab.json"
    if not path.is_file():
        raise ZsError(f"{path}: vocabulary not found (pass --vocab FILE with seen/unseen flags)")
    return Vocabulary.load(path)


def read_seen_split(data_dir: str | Path, split: str, vocab: Vocabulary) -> PanopticSplit:
    """The split's images that contain no unseen segment; ZsError if none has a seen segment."""
    images_dir, png_dir, json_path = split_paths(data_dir, split)
    doc = read_json(json_path)
    names = {im["id"]: im["file_name"] for im in doc.get("images", [])}
    seen = set(np.array(vocab.ids)[vocab.seen_mask()].tolist())
    known = set(vocab.ids)
    kept = []
    for ann in doc.get("annotations", []):
        cats = {s["category_id"] for s in ann["segments_info"]}
        if cats - known:
            raise ZsError(f"{json_path}: image {ann['image_id']} has category ids {sorted(cats - known)} not in the vocabulary")
        if cats - seen:
            continue  # an unseen class is present: the zero-shot protocol drops the image
        segs = [s for s in ann["segments_info"] if not s.get("iscrowd", 0)]
        if segs:
            kept.append({"image": names[ann["image_id"]], "png": ann["file_name"], "segments": segs})
    if not kept:
        raise ZsError(f"{json_path}: no training image with seen-class segments (after dropping images with unseen classes)")
    return PanopticSplit(images_dir, png_dir, json_path, tuple(kept), sha256_file(json_path))


def resized_hw(h: int, w: int, short: int, long: int) -> tuple[int, int]:
    """Mask2Former resize: shortest edge to ``short``, longest capped at ``long``."""
    scale = min(short / min(h, w), long / max(h, w))
    return max(1, round(h * scale)), max(1, round(w * scale))


def load_target(split: PanopticSplit, i: int, vocab: Vocabulary, short: int, long: int, flip: bool):
    """(pixels float32 [3,h,w] normalised, masks float32 [n,h,w], labels int64 [n]) of sample i."""
    ann = split.annotations[i]
    image = Image.open(split.images_dir / ann["image"]).convert("RGB")
    ids = rgb_to_ids(np.asarray(Image.open(split.png_dir / ann["png"]).convert("RGB")))  # [H,W]
    h, w = resized_hw(image.height, image.width, short, long)
    image = np.asarray(image.resize((w, h), Image.BILINEAR), np.float32) / 255.0  # [h,w,3]
    ids = np.asarray(Image.fromarray(ids).resize((w, h), Image.NEAREST))  # [h,w]
    if flip:
        image, ids = image[:, ::-1], ids[:, ::-1]
    pixels = ((image - IMAGENET_MEAN) / IMAGENET_STD).transpose(2, 0, 1).astype(np.float32)  # [3,h,w]
    masks, labels = [], []
    for s in ann["segments"]:
        m = ids == s["id"]
        if m.any():
            masks.append(m)
            labels.append(vocab.index_of_id(s["category_id"]))
    masks = np.stack(masks).astype(np.float32) if masks else np.zeros((0, h, w), np.float32)
    return np.ascontiguousarray(pixels), masks, np.array(labels, np.int64)


def collate(samples: list, divisor: int):
    """Zero-pad a batch to a common size divisible by ``divisor``.

    Returns (pixel_values [B,3,H,W], pixel_mask [B,H,W], mask_labels list of [n,H,W], class_labels list of [n]).
    """
    import torch

    hs = [p.shape[1] for p, _, _ in samples]
    ws = [p.shape[2] for p, _, _ in samples]
    H = -(-max(hs) // divisor) * divisor
    W = -(-max(ws) // divisor) * divisor
    pixels = torch.zeros(len(samples), 3, H, W)
    pixel_mask = torch.zeros(len(samples), H, W, dtype=torch.long)
    mask_labels, class_labels = [], []
    for b, (p, m, lab) in enumerate(samples):
        h, w = p.shape[1:]
        pixels[b, :, :h, :w] = torch.from_numpy(p)
        pixel_mask[b, :h, :w] = 1
        full = torch.zeros(m.shape[0], H, W)
        full[:, :h, :w] = torch.from_numpy(m)
        mask_labels.append(full)
        class_labels.append(torch.from_numpy(lab))
    return pixels, pixel_mask, mask_labels, class_labels
