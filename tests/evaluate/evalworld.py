"""A small evaluation world for tests and the benchmark: tiny segmenter, images, a head, a store.

The store is written the way the extraction job writes one (segmenter outputs
per image, mask probabilities padded into one canvas), so cached and
full-image evaluation can be compared on the same images. The GT can be the
dataset's own (random shapes: low PQ) or the full-image panoptic prediction
itself (``self_gt``: full-image PQ ~ 1, so any cached/full difference shows).
"""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import numpy as np
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


def write_store(path, segmenter, dataset, vocab, *, limit=None):
    """Run the segmenter over ``dataset`` and write a store with a masked 'val' split (a stand-in for
    ``zs extract`` without matching; ``extract_store`` runs the real job)."""
    from zs.manifest import sha256_file
    from zs.store import ImageRecord, create_store

    n = len(dataset) if limit is None else min(limit, len(dataset))
    outputs = []
    for i in range(n):
        s = dataset[i]
        pixels, geo = segmenter.preprocess(s.image)
        out = segmenter.forward(segmenter.collate([pixels]))
        outputs.append((s, geo, out))
    canvas = (max(o.mask_logits.shape[-2] for _, _, o in outputs), max(o.mask_logits.shape[-1] for _, _, o in outputs))
    manifest = {
        "segmenter": {"name": "tiny", "path": segmenter.path, "sha256": segmenter.sha256,
                      "num_queries": segmenter.num_queries, "query_dim": segmenter.query_dim,
                      "num_classes": segmenter.num_classes, "config": {}},
        "vocabulary": vocab.to_dict(),
        "dataset": {"val": {"format": "coco-panoptic", "images": str(dataset.images_dir),
                            "json": str(dataset.json_path), "png": str(dataset.png_dir),
                            "json_sha256": sha256_file(dataset.json_path), "num_images": n}},
    }
    store = create_store(path, manifest)
    with store.open_writer("val", num_images=n, num_queries=segmenter.num_queries, query_dim=segmenter.query_dim,
                           num_classes=vocab.num_classes, mask_shape=canvas) as writer:
        for row, (s, geo, out) in enumerate(outputs):
            probs = np.zeros((segmenter.num_queries, *canvas), np.float32)
            m = out.mask_logits[0].sigmoid().numpy()
            probs[:, : m.shape[1], : m.shape[2]] = m
            segments = [{"segment_id": g["id"], "category_id": g["category_id"], "iscrowd": g["iscrowd"],
                         "area": g["area"], "bbox": g["bbox"]} for g in s.segments]
            writer.write(row, ImageRecord(
                image_id=s.image_id, file_name=s.file_name, height=s.image.shape[0], width=s.image.shape[1],
                geometry=geo, query_embed=out.query_embed[0], query_logits=out.class_logits[0], mask_probs=probs,
                segments=segments))
    return store


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
