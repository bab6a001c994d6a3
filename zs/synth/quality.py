"""Quality of a segmenter on a synthetic world's validation split (``zs synth-quality``).

Three figures (docs/synth.md):
- seen PQ (Mask2Former panoptic inference + zs.evaluate.metrics.PanopticEvaluator);
- seen classification accuracy by attribute: for every seen GT segment, the
  query whose binary mask (prob >= 0.5) has the highest IoU with it; its argmax
  class over the K real classes; shape / colour right (things), pattern /
  direction / texture (= both) right (stuff), exact class right;
- class-agnostic mask recall: share of GT segments (unseen, and seen for
  reference) that some query's binary mask covers at IoU >= 0.5.
"""

from __future__ import annotations

import logging
from collections import defaultdict
from pathlib import Path

import numpy as np

from zs.errors import ZsError
from zs.synth.dataset import load_world
from zs.synth.world import World

log = logging.getLogger(__name__)



def attribute_chance(world: World) -> dict[str, float]:
    """Chance accuracy of each attribute figure: 1 / number of the world's values (texture: pattern x direction)."""
    val = world.values
    chance = {k: 1 / len(v) for k, v in val.items() if v}
    chance["texture"] = chance["pattern"] * chance["direction"]
    chance["class"] = 1 / len(world.classes)
    return chance


def best_query_iou(binary, gt_mask):
    """binary [Q,H,W] bool, gt_mask [H,W] bool -> (best query index, its IoU)."""
    import torch

    inter = (binary & gt_mask).flatten(1).sum(1).float()  # [Q]
    union = (binary | gt_mask).flatten(1).sum(1).float()  # [Q]
    iou = inter / union.clamp(min=1)  # [Q]
    q = int(torch.argmax(iou))
    return q, float(iou[q])


def _attribute_hits(world: World, gt_index: int, pred_index: int) -> dict[str, bool]:
    gt, pred = world.classes[gt_index], world.classes[pred_index]
    hits = {"class": gt_index == pred_index}
    if gt.isthing:
        for k in ("shape", "colour"):
            hits[k] = pred.isthing and pred.attributes[k] == gt.attributes[k]
    else:
        for k in ("pattern", "direction"):
            hits[k] = (not pred.isthing) and pred.attributes[k] == gt.attributes[k]
        hits["texture"] = hits["pattern"] and hits["direction"]
    return hits


class _Tally:
    def __init__(self) -> None:
        self.hits: dict[str, list[bool]] = defaultdict(list)

    def add(self, key: str, value: bool) -> None:
        self.hits[key].append(bool(value))

    def summary(self) -> dict:
        return {k: {"accuracy": float(np.mean(v)), "n": len(v)} for k, v in sorted(self.hits.items())}


def _process_image(seg, sample, world, vocab, evaluator, acc: _Tally, recall: _Tally, iou_threshold: float,
                   object_threshold: float):
    import torch

    from zs.evaluate.evaluation.inference import masks_to_image, panoptic_inference

    x, geometry = seg.preprocess(sample.image)
    out = seg(seg.collate([x]))
    probs = out.class_logits[0].float().softmax(-1).cpu()  # [Q,K+1]
    masks = masks_to_image(out.mask_logits[0].cpu(), geometry, sample.image.shape[:2], is_prob=False)  # [Q,H,W]
    pred, pred_segments = panoptic_inference(probs, masks, torch.from_numpy(vocab.isthing_mask()),
                                             object_threshold=object_threshold)
    evaluator.process(sample.segment_map, sample.segments, pred.numpy(),
                      [{"id": s["id"], "category_id": vocab.ids[s["label"]]} for s in pred_segments],
                      image_id=sample.image_id)
    binary = masks >= 0.5  # [Q,H,W]
    gt_map = torch.from_numpy(sample.segment_map)
    for s in sample.segments:
        k = vocab.index_of_id(s["category_id"])
        q, iou = best_query_iou(binary, gt_map == s["id"])
        recall.add("seen" if world.classes[k].seen else "unseen", iou >= iou_threshold)
        if world.classes[k].seen:
            pred_k = int(probs[q, : vocab.num_classes].argmax())
            for name, hit in _attribute_hits(world, k, pred_k).items():
                acc.add(name, hit)


def _group_pq(pq: dict, world: World, isthing: bool) -> float | None:
    """Unweighted mean PQ over the counted seen classes of one kind (as panopticapi averages)."""
    vals = [pq["per_class"][str(c.id)]["pq"] for c in world.classes
            if c.seen and c.isthing == isthing and str(c.id) in pq["per_class"]
            and pq["per_class"][str(c.id)].get("counted", True)]
    return float(np.mean(vals)) if vals else None


def check_segmenter_fits(segmenter: str | Path, data_dir: str | Path) -> None:
    """ZsError unless the segmenter's label names are the world's vocabulary (it was trained on this world)."""
    from zs.manifest import read_json

    meta_path = Path(segmenter) / "zs_segmenter.json"
    names = read_json(meta_path).get("label_names") if meta_path.is_file() else None
    world_names = load_world(data_dir).vocabulary.names
    if names != world_names:
        raise ZsError(f"--segmenter {segmenter}: its labels ({len(names or [])} in {meta_path.name}) are not the "
                      f"{len(world_names)} classes of {data_dir}/world.json; train one on this world")


def segmenter_quality(
    segmenter: str | Path,
    data_dir: str | Path,
    *,
    split: str = "val",
    device: str = "cpu",
    limit: int | None = None,
    iou_threshold: float = 0.5,
    object_threshold: float = 0.8,
    progress: bool = False,
) -> dict:
    """Seen PQ, attribute accuracy and mask recall of ``segmenter`` on ``data_dir/split``."""
    from tqdm import tqdm

    from zs.evaluate.metrics import PanopticEvaluator
    from zs.extract.datasets import CocoPanoptic
    from zs.extract.segmenter import load_segmenter

    check_segmenter_fits(segmenter, data_dir)
    world = load_world(data_dir)
    vocab = world.vocabulary
    root = Path(data_dir) / split
    ds = CocoPanoptic(root / "images", root / "panoptic.json", root / "panoptic")
    seg = load_segmenter(segmenter, device=device)
    evaluator = PanopticEvaluator(ds.categories, unseen_ids=[vocab.ids[i] for i in vocab.unseen_indices])
    acc, recall = _Tally(), _Tally()
    n = len(ds) if limit is None else min(limit, len(ds))
    for i in tqdm(range(n), desc="quality", disable=not progress):
        _process_image(seg, ds[i], world, vocab, evaluator, acc, recall, iou_threshold, object_threshold)
    pq = evaluator.evaluate()
    pq["seen_things"] = _group_pq(pq, world, isthing=True)
    pq["seen_stuff"] = _group_pq(pq, world, isthing=False)
    return {
        "segmenter": str(segmenter),
        "data": str(data_dir),
        "split": split,
        "num_images": n,
        "object_threshold": object_threshold,
        "pq": {k: pq.get(k) for k in ("all", "things", "stuff", "seen", "unseen", "hm", "seen_things", "seen_stuff")},
        "seen_accuracy": acc.summary(),
        "chance": attribute_chance(world),
        f"mask_recall_iou>={iou_threshold:.2f}": recall.summary(),
    }

