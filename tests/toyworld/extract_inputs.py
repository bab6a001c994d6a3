"""Tiny random models and data for tests and benchmarks (never downloads anything).

* :func:`tiny_segmenter_dir` — a random-init tiny Mask2Former (ResNet backbone)
  saved as a segmenter directory.
* :func:`tiny_clip` — a random-init tiny open_clip model: (config JSON, weights).
* :func:`write_tiny_coco_panoptic` — a few small images in COCO panoptic format.
"""

from __future__ import annotations

import json
import os
from pathlib import Path

import numpy as np
from PIL import Image

TINY_CLIP_CONFIG = {
    "embed_dim": 32,
    "vision_cfg": {"image_size": 32, "layers": 1, "width": 32, "patch_size": 8, "head_width": 16},
    "text_cfg": {"context_length": 77, "vocab_size": 49408, "width": 32, "heads": 2, "layers": 1},
}


def tiny_segmenter_config(num_labels: int, *, num_queries: int = 10, hidden_dim: int = 32, resnet50: bool = False):
    """A Mask2FormerConfig: tiny by default, or R50 layout (hidden 256, 100 queries) with ``resnet50``."""
    from transformers import Mask2FormerConfig, ResNetConfig

    stages = ["stage1", "stage2", "stage3", "stage4"]
    if resnet50:
        backbone = ResNetConfig(embedding_size=64, hidden_sizes=[256, 512, 1024, 2048], depths=[3, 4, 6, 3],
                                layer_type="bottleneck", out_features=stages)
        return Mask2FormerConfig(backbone_config=backbone, num_labels=num_labels, num_queries=100,
                                 feature_size=256, mask_feature_size=256, hidden_dim=256,
                                 encoder_layers=6, decoder_layers=10, dim_feedforward=2048)
    backbone = ResNetConfig(embedding_size=8, hidden_sizes=[16, 32, 64, 128], depths=[1, 1, 1, 1],
                            layer_type="bottleneck", out_features=stages)
    return Mask2FormerConfig(
        backbone_config=backbone, num_labels=num_labels, num_queries=num_queries,
        feature_size=hidden_dim, mask_feature_size=hidden_dim, hidden_dim=hidden_dim,
        encoder_feedforward_dim=64, encoder_layers=1, decoder_layers=3, num_attention_heads=4,
        dim_feedforward=64,
    )


def _randomise_norms(model) -> None:
    """Non-trivial LayerNorm affine params, so a missing/extra LayerNorm shows up in tests."""
    import torch

    with torch.no_grad():
        for m in model.modules():
            if isinstance(m, torch.nn.LayerNorm):
                m.weight.uniform_(0.6, 1.4)
                m.bias.normal_(0.0, 0.1)


def tiny_segmenter_dir(path: str | os.PathLike, num_labels: int, *, seed: int = 0, image_size: int = 64,
                       num_queries: int = 10, resnet50: bool = False) -> Path:
    """Random-init tiny Mask2Former saved as a segmenter directory at ``path``.

    Test-time resize: shortest edge ``image_size``, longest ``2 * image_size``.
    """
    import torch
    from transformers import Mask2FormerForUniversalSegmentation

    torch.manual_seed(seed)
    cfg = tiny_segmenter_config(num_labels, num_queries=num_queries, resnet50=resnet50)
    model = Mask2FormerForUniversalSegmentation(cfg).eval()
    _randomise_norms(model)
    from zs.extract.segmenter import PreprocessConfig, save_segmenter_dir

    return save_segmenter_dir(path, model, PreprocessConfig(shortest_edge=image_size, longest_edge=2 * image_size))


def tiny_clip(path: str | os.PathLike, *, seed: int = 0) -> tuple[Path, Path]:
    """Random tiny open_clip model: writes ``open_clip_config.json`` + ``weights.pt`` under ``path``."""
    import torch
    from open_clip.model import CLIP

    out = Path(path)
    out.mkdir(parents=True, exist_ok=True)
    torch.manual_seed(seed)
    model = CLIP(**TINY_CLIP_CONFIG)
    cfg_path, w_path = out / "open_clip_config.json", out / "weights.pt"
    cfg_path.write_text(json.dumps(TINY_CLIP_CONFIG, indent=2) + "\n")
    torch.save(model.state_dict(), w_path)
    return cfg_path, w_path


TINY_CATEGORIES = [
    {"id": 1, "name": "disk", "isthing": 1, "color": [220, 20, 60]},
    {"id": 2, "name": "box", "isthing": 1, "color": [0, 0, 142]},
    {"id": 3, "name": "stripe", "isthing": 1, "color": [0, 60, 100]},
    {"id": 7, "name": "sky", "isthing": 0, "color": [70, 130, 180]},
    {"id": 9, "name": "grass", "isthing": 0, "color": [152, 251, 152]},
]


def _paint_image(rng: np.random.Generator, h: int, w: int, cats: list[dict]):
    """One image + segment map: a stuff background split in two, plus 1-3 things."""
    img = np.zeros((h, w, 3), np.uint8)
    seg = np.zeros((h, w), np.int32)
    segments, next_id = [], 1
    stuff = [c for c in cats if not c["isthing"]]
    things = [c for c in cats if c["isthing"]]
    split = int(rng.integers(h // 4, 3 * h // 4))
    for k, (y0, y1) in enumerate(((0, split), (split, h))):
        c = stuff[(k + int(rng.integers(len(stuff)))) % len(stuff)]
        img[y0:y1] = np.array(c["color"]) + rng.integers(-20, 20, size=(y1 - y0, w, 3))
        seg[y0:y1] = next_id
        segments.append((next_id, c, 0))
        next_id += 1
    for _ in range(int(rng.integers(1, 4))):
        c = things[int(rng.integers(len(things)))]
        bh, bw = int(rng.integers(h // 6, h // 2)), int(rng.integers(w // 6, w // 2))
        y, x = int(rng.integers(0, h - bh)), int(rng.integers(0, w - bw))
        img[y:y + bh, x:x + bw] = c["color"]
        seg[y:y + bh, x:x + bw] = next_id
        segments.append((next_id, c, int(rng.random() < 0.15)))
        next_id += 1
    return img, seg, segments


def _segments_info(seg: np.ndarray, segments) -> list[dict]:
    infos = []
    for sid, c, crowd in segments:
        m = seg == sid
        if not m.any():
            continue
        ys, xs = np.nonzero(m)
        infos.append({"id": sid, "category_id": c["id"], "iscrowd": crowd, "area": int(m.sum()),
                      "bbox": [int(xs.min()), int(ys.min()), int(xs.max() - xs.min() + 1), int(ys.max() - ys.min() + 1)]})
    return infos


def write_tiny_coco_panoptic(root: str | os.PathLike, n: int, *, seed: int = 0, size: tuple[int, int] = (48, 64),
                             categories: list[dict] | None = None) -> tuple[Path, Path, Path]:
    """``n`` random images in COCO panoptic layout under root: (images_dir, json, png_dir)."""
    root = Path(root)
    cats = categories or TINY_CATEGORIES
    img_dir, png_dir = root / "images", root / "panoptic"
    img_dir.mkdir(parents=True, exist_ok=True)
    png_dir.mkdir(parents=True, exist_ok=True)
    rng = np.random.default_rng(seed)
    images, anns = [], []
    for i in range(n):
        h = size[0] + int(rng.integers(0, 3)) * 8
        w = size[1] - int(rng.integers(0, 3)) * 8
        img, seg, segments = _paint_image(rng, h, w, cats)
        name = f"{i + 1:06d}"
        Image.fromarray(img).save(img_dir / f"{name}.png")
        rgb = np.stack([seg % 256, seg // 256 % 256, seg // 65536], -1).astype(np.uint8)
        Image.fromarray(rgb).save(png_dir / f"{name}.png")
        images.append({"id": i + 1, "file_name": f"{name}.png", "height": h, "width": w})
        anns.append({"image_id": i + 1, "file_name": f"{name}.png", "segments_info": _segments_info(seg, segments)})
    json_path = root / "panoptic.json"
    json_path.write_text(json.dumps({"images": images, "annotations": anns, "categories": cats}))
    return img_dir, json_path, png_dir
