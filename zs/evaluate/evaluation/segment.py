"""``zs segment``: one image through a segmenter directory, raw outputs + panoptic result.

The quickest check of a converted checkpoint against one's own detectron2
output: same preprocessing as ``zs extract`` (``Segmenter.preprocess``), the
decoder's raw class logits / mask logits / query embeddings, and
Mask2Former's panoptic inference (``zs.evaluate.evaluation.inference``).
"""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np
import torch

from zs.errors import ZsError
from zs.manifest import read_json


def read_image(path: str | os.PathLike) -> np.ndarray:
    """RGB uint8 [H, W, 3]."""
    from PIL import Image, UnidentifiedImageError

    try:
        with Image.open(path) as im:
            return np.asarray(im.convert("RGB"))
    except FileNotFoundError:
        raise ZsError(f"{path}: image not found") from None
    except UnidentifiedImageError:
        raise ZsError(f"{path}: not an image file") from None
    except (OSError, SyntaxError) as e:  # truncated or damaged image data (PIL raises OSError)
        raise ZsError(f"{path}: unreadable image ({str(e).splitlines()[0] if str(e) else type(e).__name__})") from None


def thing_flags(segmenter_dir: str | os.PathLike, num_classes: int, vocab_path=None) -> torch.Tensor:
    """[K] bool: from --vocab, else zs_segmenter.json, else COCO panoptic when K = 133."""
    from zs.extract.d2.coco_categories import coco_panoptic_isthing
    from zs.vocab import Vocabulary

    info_path = Path(segmenter_dir) / "zs_segmenter.json"
    info = read_json(info_path) if info_path.is_file() else {}
    if vocab_path is not None:
        flags, where = [bool(c.isthing) for c in Vocabulary.load(vocab_path).categories], str(vocab_path)
    elif info.get("isthing") is not None:
        flags, where = [bool(v) for v in info["isthing"]], str(info_path)
    elif num_classes == 133:
        flags, where = coco_panoptic_isthing(), "COCO panoptic"
    else:
        raise ZsError(f"{segmenter_dir}: no thing/stuff flags for its {num_classes} classes "
                      "(zs_segmenter.json has no 'isthing'); pass --vocab VOCAB.json")
    if len(flags) != num_classes:
        raise ZsError(f"{where}: {len(flags)} thing/stuff flags, the segmenter has {num_classes} classes")
    return torch.tensor(flags, dtype=torch.bool)


def thresholds(segmenter_dir: str | os.PathLike) -> tuple[float, float]:
    info_path = Path(segmenter_dir) / "zs_segmenter.json"
    info = read_json(info_path) if info_path.is_file() else {}
    return float(info.get("object_mask_threshold", 0.8)), float(info.get("overlap_threshold", 0.8))


@torch.inference_mode()
def segment_image(segmenter_dir: str | os.PathLike, image_path: str | os.PathLike, *, resize: bool = True,
                  device: str = "cpu", vocab_path=None) -> dict[str, np.ndarray]:
    """Run one image; returns the arrays ``zs segment`` writes (see module doc)."""
    from zs.evaluate.evaluation.inference import masks_to_image, panoptic_inference
    from zs.extract.segmenter import load_segmenter

    seg = load_segmenter(segmenter_dir, device=device)
    image = read_image(image_path)
    pixels, geometry = seg.preprocess(image, resize=resize)  # [3, h, w]
    out = seg.forward(seg.collate([pixels]))
    class_logits = out.class_logits[0].float().cpu()  # [Q, K+1]
    mask_logits = out.mask_logits[0].float().cpu()  # [Q, h/4, w/4] (padded input / 4)
    mask_probs = masks_to_image(mask_logits, geometry, image.shape[:2], is_prob=False)  # [Q, H, W]
    object_thr, overlap_thr = thresholds(segmenter_dir)
    panoptic, segments = panoptic_inference(
        class_logits.softmax(-1), mask_probs, thing_flags(segmenter_dir, seg.num_classes, vocab_path),
        object_threshold=object_thr, overlap_threshold=overlap_thr)
    return {
        "class_logits": class_logits.numpy().astype(np.float32),
        "mask_logits": mask_logits.numpy().astype(np.float32),
        "query_embed": out.query_embed[0].float().cpu().numpy().astype(np.float32),
        "panoptic_seg": panoptic.cpu().numpy().astype(np.int32),
        "segment_ids": np.array([s["id"] for s in segments], dtype=np.int32),
        "segment_classes": np.array([s["label"] for s in segments], dtype=np.int32),
        "segment_isthing": np.array([s["isthing"] for s in segments], dtype=bool),
        "segment_scores": np.array([s["score"] for s in segments], dtype=np.float32),
        "pixel_values": pixels.numpy().astype(np.float32),
    }


def segment_to_file(segmenter_dir: str | os.PathLike, image_path: str | os.PathLike, out_path: str | os.PathLike,
                    *, resize: bool = True, device: str = "cpu", vocab_path=None) -> dict[str, np.ndarray]:
    """``zs segment``: :func:`segment_image`'s arrays written to the .npz ``out_path``; returns them."""
    from zs.paths import check_out_file

    check_out_file(out_path)
    arrays = segment_image(segmenter_dir, image_path, resize=resize, device=device, vocab_path=vocab_path)
    np.savez(out_path, **arrays)
    return arrays
