"""A small evaluation world for the evaluate tests: tiny segmenter, images, a head, a store.

The store is written by the real extraction job (``zs.extract.run``), so
cached and full-image evaluation can be compared on the same images. The GT can be the
dataset's own (random shapes: low PQ) or the full-image panoptic prediction
itself (``predictions_as_gt``: full-image PQ = 1, so any cached/full difference shows).
"""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import torch

UNSEEN = ("stripe", "grass")


def make_vocab(json_path):
    from zs.vocab import Vocabulary

    cats = json.loads(Path(json_path).read_text())["categories"]
    return Vocabulary.from_coco_categories(cats, unseen=UNSEEN, name="tiny")


def sharpen_segmenter_masks(seg_dir, scale: float = 150.0) -> None:
    """A random tiny Mask2Former's mask logits are ~0 (every mask ~0.5); scale the mask embedder's
    last layer so masks have the contrast of a trained model (logit std of a few units)."""
    from transformers import Mask2FormerForUniversalSegmentation
    from transformers.utils import logging as hf_logging

    hf_logging.set_verbosity_error()
    model = Mask2FormerForUniversalSegmentation.from_pretrained(str(seg_dir), local_files_only=True)
    last = model.model.transformer_module.decoder.mask_predictor.mask_embedder.get_submodule("2.0")
    with torch.no_grad():
        last.weight.mul_(scale)
        last.bias.zero_()  # no shared offset: masks differ between queries
    model.save_pretrained(str(seg_dir))


def make_head(segmenter, vocab, *, scale: float = 20.0, out_dir=None):
    """The segmenter's class head, sharpened (x scale) so that queries pass the 0.8 threshold."""
    from zs.heads import HeadConfig, LinearHead, save_head
    from zs.manifest import make_manifest

    cfg = HeadConfig(kind="linear", query_dim=segmenter.query_dim, num_classes=vocab.num_classes,
                     seen=[c.seen for c in vocab.categories], vocab_sha256=vocab.sha256,
                     segmenter_sha256=segmenter.sha256, method="test-sharpened")
    head = LinearHead(cfg)
    with torch.no_grad():
        head.fc.weight.copy_(segmenter.class_head.weight.detach().cpu() * scale)
        head.fc.bias.copy_(segmenter.class_head.bias.detach().cpu() * scale)
    if out_dir is not None:
        save_head(head, out_dir, make_manifest("zs-head", config=cfg, seed=0,
                                               inputs={"generator": {"path": "gen/", "sha256": "abc"}}))
    return head.eval()


def extract_store(path, seg_dir, images, json_path, png_dir, vocab_path, *, limit=None, progress=False):
    """The val split as ``zs extract`` writes it (masks on, one view, no CLIP)."""
    from zs.extract.job import ExtractConfig
    from zs.extract.run import run
    from zs.store import open_store

    run(ExtractConfig(split="val", store=str(path), segmenter=str(seg_dir), images=str(images), json=str(json_path),
                      png=str(png_dir), vocab=str(vocab_path), masks=True, batch_size=4, workers=1, num_points=512,
                      limit=limit, progress=progress))
    return open_store(path)


def predictions_as_gt(pred_dir, dataset_json, out_dir):
    """Turn a run's predictions/panoptic.{json,png} into a COCO panoptic GT (images from the dataset)."""
    pred_dir, out_dir = Path(pred_dir), Path(out_dir)
    shutil.copytree(pred_dir / "panoptic", out_dir / "panoptic")
    pred = json.loads((pred_dir / "panoptic.json").read_text())
    data = json.loads(Path(dataset_json).read_text())
    for ann in pred["annotations"]:
        ann["segments_info"] = [{"id": s["id"], "category_id": s["category_id"], "iscrowd": 0, "area": s["area"],
                                 "bbox": [0, 0, 0, 0]} for s in ann["segments_info"]]
    gt = {"images": data["images"], "annotations": pred["annotations"], "categories": data["categories"]}
    (out_dir / "panoptic.json").write_text(json.dumps(gt))
    return out_dir / "panoptic.json", out_dir / "panoptic"
