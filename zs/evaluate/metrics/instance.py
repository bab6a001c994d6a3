"""COCO instance AP with pycocotools COCOeval, driven as detectron2's COCOEvaluator.

* ``segm``: the ``bbox`` key is dropped from every detection before
  ``loadRes`` (so the small/medium/large ranges use the mask area).
* ``params.maxDets = [1, 10, 100]``; ``evaluate(); accumulate(); summarize()``.
* per category (index k in sorted category ids): ``p = precision[:, :, k, 0, -1]``,
  AP = mean(p[p > -1]) (None if empty); AP50 / AP75 with the IoU index 0 / 5.

pycocotools prints; its output is captured and kept as ``summary_text``.
"""

from __future__ import annotations

import contextlib
import copy
import io
from typing import Iterable

import numpy as np

from zs.errors import ZsError
from zs.evaluate.metrics.splits import resolve_class_ids, seen_unseen_blocks

STAT_NAMES = ("ap", "ap50", "ap75", "aps", "apm", "apl", "ar1", "ar10", "ar100", "ars", "arm", "arl")
AP_KEYS = ("ap", "ap50", "ap75")


def _coco_from_dict(gt_coco: dict):
    """A pycocotools COCO object from an in-memory dict (its index built silently)."""
    from pycocotools.coco import COCO

    for key in ("images", "annotations", "categories"):
        if key not in gt_coco:
            raise ZsError(f"ground-truth COCO dict has no '{key}' list")
    coco = COCO()
    coco.dataset = copy.deepcopy(gt_coco)
    with contextlib.redirect_stdout(io.StringIO()):
        coco.createIndex()
    return coco


def _check_results(coco_gt, results: list[dict], iou_type: str) -> None:
    img_ids, cat_ids = set(coco_gt.getImgIds()), set(coco_gt.getCatIds())
    need = "segmentation" if iou_type == "segm" else "bbox"
    for i, r in enumerate(results):
        for key in ("image_id", "category_id", "score", need):
            if key not in r:
                raise ZsError(f"detection #{i}: missing '{key}' (needed for iou_type={iou_type})")
        if r["image_id"] not in img_ids:
            raise ZsError(f"detection #{i}: image_id {r['image_id']} is not in the ground truth")
        if r["category_id"] not in cat_ids:
            raise ZsError(f"detection #{i}: category_id {r['category_id']} is not in the ground-truth categories")


def _load_results(coco_gt, results: list[dict], iou_type: str):
    """``coco_gt.loadRes`` as detectron2 calls it; an empty list gives an empty COCO."""
    results = copy.deepcopy(results)
    if iou_type == "segm":
        for r in results:
            r.pop("bbox", None)
    with contextlib.redirect_stdout(io.StringIO()):
        if results:
            return coco_gt.loadRes(results)
        empty = {k: copy.deepcopy(coco_gt.dataset[k]) for k in ("images", "categories")}
        return _coco_from_dict({**empty, "annotations": []})


def run_cocoeval(gt_coco: dict, results: list[dict], iou_type: str = "segm"):
    """Run COCOeval (official pycocotools); returns (coco_eval, summarize text)."""
    from pycocotools.cocoeval import COCOeval

    if iou_type not in ("segm", "bbox"):
        raise ZsError(f"iou_type must be 'segm' or 'bbox', got '{iou_type}'")
    coco_gt = _coco_from_dict(gt_coco)
    _check_results(coco_gt, results, iou_type)
    coco_dt = _load_results(coco_gt, results, iou_type)
    ev = COCOeval(coco_gt, coco_dt, iou_type)
    ev.params.maxDets = [1, 10, 100]
    with contextlib.redirect_stdout(io.StringIO()):
        ev.evaluate()
        ev.accumulate()
    table = io.StringIO()
    with contextlib.redirect_stdout(table):
        ev.summarize()
    return ev, table.getvalue()


def _mean_precision(p: np.ndarray) -> float | None:
    p = p[p > -1]
    return float(np.mean(p)) if p.size else None


def per_category_ap(coco_eval, gt_coco: dict, results: list[dict]) -> dict[str, dict]:
    """detectron2's per-category AP / AP50 / AP75 (fractions), keyed by str(category id)."""
    precision = coco_eval.eval["precision"]  # [T iou, R recall, K cls, A area, M maxdets]
    names = {int(c["id"]): c.get("name", str(c["id"])) for c in gt_coco["categories"]}
    num_gt: dict[int, int] = {}
    for a in gt_coco["annotations"]:
        if not a.get("iscrowd", 0):
            num_gt[a["category_id"]] = num_gt.get(a["category_id"], 0) + 1
    num_det: dict[int, int] = {}
    for r in results:
        num_det[r["category_id"]] = num_det.get(r["category_id"], 0) + 1
    out = {}
    for k, cat in enumerate(coco_eval.params.catIds):
        out[str(cat)] = {
            "name": names[cat],
            "ap": _mean_precision(precision[:, :, k, 0, -1]),
            "ap50": _mean_precision(precision[0, :, k, 0, -1]),
            "ap75": _mean_precision(precision[5, :, k, 0, -1]),
            "num_gt": num_gt.get(cat, 0),
            "num_det": num_det.get(cat, 0),
        }
    return out


def instance_metrics(gt_coco: dict, results: list[dict], iou_type: str = "segm",
                     unseen_ids: Iterable[int | str] = ()) -> dict:
    """COCO AP of ``results`` (COCO results list) against ``gt_coco`` (COCO instances dict).

    Returns per_class, all (the 12 COCOeval stats as fractions, None where
    undefined), ``summary_text`` (COCOeval's table), ``stats`` (raw), and with
    ``unseen_ids`` seen/unseen/hm blocks over per-class AP, AP50 and AP75
    (classes whose AP is defined, i.e. that have non-crowd GT). Unseen ids
    that are not instance categories (stuff) are skipped; unknown names raise.
    """
    cats = gt_coco.get("categories", [])
    unseen = resolve_class_ids(unseen_ids, [c["id"] for c in cats], [c.get("name", "") for c in cats],
                               skip_unknown_ids=True)
    coco_eval, text = run_cocoeval(gt_coco, results, iou_type)
    stats = [float(s) for s in coco_eval.stats]
    per_class = per_category_ap(coco_eval, gt_coco, results)
    res = {
        "iou_type": iou_type,
        "per_class": per_class,
        "all": {name: (s if s >= 0 else None) for name, s in zip(STAT_NAMES, stats)},
        "stats": stats,
        "summary_text": text,
        "num_images": len(gt_coco["images"]),
        "num_detections": len(results),
    }
    if unseen:
        res["unseen_ids"] = [str(u) for u in unseen]
        for key in AP_KEYS:  # each key has its own set of defined classes (all equal here)
            blocks = seen_unseen_blocks(per_class, unseen, (key,), lambda r, k=key: r[k] is not None)
            for name in ("seen", "unseen", "hm"):
                res.setdefault(name, {}).update(blocks[name])
    return res
