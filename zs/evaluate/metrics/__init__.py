"""Exact reference metrics: PQ (panopticapi), mIoU (detectron2), mAP (pycocotools).

Streaming evaluators (``reset / process / evaluate``, merge with ``+=``) and
file-level functions used by ``zs metrics``. Results are JSON-ready dicts of
fractions in [0, 1]; undefined values are ``None``.
"""

from zs.evaluate.metrics.panoptic import PanopticEvaluator, PQStat, PQStatCat, image_pq_stat
from zs.evaluate.metrics.panoptic_files import evaluate_panoptic_files, read_panoptic_png, rgb2id
from zs.evaluate.metrics.instance import instance_metrics
from zs.evaluate.metrics.semantic import SemSegEvaluator, evaluate_semantic_files, read_label_png
from zs.evaluate.metrics.splits import harmonic_mean, resolve_class_ids, seen_unseen_blocks

__all__ = [
    "PanopticEvaluator",
    "PQStat",
    "PQStatCat",
    "image_pq_stat",
    "evaluate_panoptic_files",
    "read_panoptic_png",
    "rgb2id",
    "SemSegEvaluator",
    "evaluate_semantic_files",
    "read_label_png",
    "instance_metrics",
    "harmonic_mean",
    "resolve_class_ids",
    "seen_unseen_blocks",
]
