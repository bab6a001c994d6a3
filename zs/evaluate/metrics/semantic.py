"""Semantic segmentation metrics from a confusion matrix, as detectron2's SemSegEvaluator.

``conf[pred, gt] += bincount((K+1)·pred + gt)`` with GT ignore pixels mapped
to K (that column is dropped). ``tp = diag[:K]``, ``pos_gt`` / ``pos_pred`` are
column / row sums of ``conf[:K, :K]``. A class absent from GT has undefined
(None) IoU and accuracy and is excluded from the means *even when predicted*;
a GT class never predicted has IoU 0 and counts. mIoU = mean IoU over defined
classes, fwIoU = Σ IoU·pos_gt/Σpos_gt over them, mACC = mean accuracy over GT
classes, pACC = Σtp / Σpos_gt.
"""

from __future__ import annotations

import logging
import os
from pathlib import Path
from typing import Iterable, Sequence

import numpy as np

from zs.errors import ZsError
from zs.evaluate.metrics.splits import nan_to_none, resolve_class_ids, seen_unseen_blocks

log = logging.getLogger(__name__)


class SemSegEvaluator:
    """Streaming mIoU: ``reset() / process(gt, pred) / evaluate()``, merge with ``+=``.

    ``unseen``: class indices (or names, with ``names``) of the unseen group.
    """

    def __init__(self, num_classes: int, ignore_label: int = 255, unseen: Iterable[int | str] = (),
                 names: Sequence[str] | None = None) -> None:
        if num_classes < 1:
            raise ZsError(f"SemSegEvaluator: num_classes must be >= 1, got {num_classes}")
        if names is not None and len(names) != num_classes:
            raise ZsError(f"SemSegEvaluator: {len(names)} names for {num_classes} classes")
        if 0 <= ignore_label < num_classes:
            raise ZsError(f"SemSegEvaluator: ignore_label {ignore_label} is a class index (< {num_classes})")
        self.num_classes = int(num_classes)
        self.ignore_label = int(ignore_label)
        self.names = list(names) if names is not None else [str(i) for i in range(num_classes)]
        self.unseen = resolve_class_ids(unseen, list(range(num_classes)), self.names)
        self.reset()

    def reset(self) -> None:
        k1 = self.num_classes + 1
        self.conf = np.zeros((k1, k1), dtype=np.int64)  # [K+1 pred, K+1 gt]

    def process(self, gt: np.ndarray, pred: np.ndarray, what: str = "image") -> None:
        """Fold in one image: ``gt`` [H, W] class indices (ignore_label allowed), ``pred`` [H, W] in [0, K)."""
        gt, pred = np.asarray(gt), np.asarray(pred)
        if gt.shape != pred.shape:
            raise ZsError(f"{what}: prediction size {pred.shape} != ground truth size {gt.shape}")
        k = self.num_classes
        gt = gt.astype(np.int64).reshape(-1)  # [P]
        pred = pred.astype(np.int64).reshape(-1)  # [P]
        bad_pred = (pred < 0) | (pred >= k)
        if bad_pred.any():
            raise ZsError(f"{what}: predicted label {int(pred[bad_pred][0])} outside [0, {k})")
        gt = np.where(gt == self.ignore_label, k, gt)
        bad_gt = (gt < 0) | (gt > k)
        if bad_gt.any():
            raise ZsError(f"{what}: ground-truth label {int(gt[bad_gt][0])} is neither in [0, {k}) "
                          f"nor the ignore label {self.ignore_label}")
        self.conf += np.bincount((k + 1) * pred + gt, minlength=self.conf.size).reshape(self.conf.shape)

    def __iadd__(self, other: "SemSegEvaluator") -> "SemSegEvaluator":
        if other.conf.shape != self.conf.shape:
            raise ZsError("cannot merge SemSegEvaluators with different num_classes")
        self.conf += other.conf
        return self

    def per_class(self) -> dict[str, dict]:
        """Per class (keyed by str(index)): name, iou, acc (None = undefined), tp, pos_gt, pos_pred."""
        k = self.num_classes
        tp = self.conf.diagonal()[:-1].astype(np.float64)  # [K]
        pos_gt = self.conf[:-1, :-1].sum(axis=0).astype(np.float64)  # [K]
        pos_pred = self.conf[:-1, :-1].sum(axis=1).astype(np.float64)  # [K]
        acc = np.full(k, np.nan)
        iou = np.full(k, np.nan)
        acc_valid = pos_gt > 0
        acc[acc_valid] = tp[acc_valid] / pos_gt[acc_valid]
        union = pos_gt + pos_pred - tp
        iou_valid = acc_valid & (union > 0)
        iou[iou_valid] = tp[iou_valid] / union[iou_valid]
        return {
            str(i): {
                "name": self.names[i],
                "iou": nan_to_none(iou[i]),
                "acc": nan_to_none(acc[i]),
                "tp": int(tp[i]), "pos_gt": int(pos_gt[i]), "pos_pred": int(pos_pred[i]),
            }
            for i in range(k)
        }

    def summary(self) -> dict:
        """``{miou, fwiou, macc, pacc}`` (detectron2 arithmetic); None when no GT pixel."""
        tp = self.conf.diagonal()[:-1].astype(np.float64)  # [K]
        pos_gt = self.conf[:-1, :-1].sum(axis=0).astype(np.float64)  # [K]
        pos_pred = self.conf[:-1, :-1].sum(axis=1).astype(np.float64)  # [K]
        if pos_gt.sum() == 0:
            return {"miou": None, "fwiou": None, "macc": None, "pacc": None}
        acc_valid = pos_gt > 0
        union = pos_gt + pos_pred - tp
        iou_valid = acc_valid & (union > 0)
        acc = tp[acc_valid] / pos_gt[acc_valid]
        iou = tp[iou_valid] / union[iou_valid]
        weights = pos_gt / pos_gt.sum()
        return {
            "miou": float(np.sum(iou) / np.sum(iou_valid)),
            "fwiou": float(np.sum(iou * weights[iou_valid])),
            "macc": float(np.sum(acc) / np.sum(acc_valid)),
            "pacc": float(np.sum(tp) / np.sum(pos_gt)),
        }

    def evaluate(self) -> dict:
        """per_class, all (+ seen, unseen, hm over mIoU when a split is given)."""
        per_class = self.per_class()
        res = {"per_class": per_class, "all": self.summary()}
        if self.unseen:
            res["unseen_ids"] = [str(u) for u in self.unseen]
            blocks = seen_unseen_blocks(per_class, self.unseen, ("iou",), lambda r: r["iou"] is not None)
            for name in ("seen", "unseen"):
                b = blocks[name]
                res[name] = {"miou": b["iou"], "n": b["n"], "pacc": self._group_pacc(name == "unseen")}
            res["hm"] = {"miou": blocks["hm"]["iou"]}
        return res

    def _group_pacc(self, unseen: bool) -> float | None:
        """Σtp / Σpos_gt over the classes of one group (informative)."""
        idx = [i for i in range(self.num_classes) if (i in self.unseen) == unseen]
        tp = self.conf.diagonal()[idx].sum()
        pos_gt = self.conf[:-1, :-1].sum(axis=0)[idx].sum()
        return float(tp / pos_gt) if pos_gt > 0 else None

    def unseen_confusion(self) -> dict:
        """Where unseen GT pixels went: rows = unseen GT classes, cols = predicted class."""
        rows = list(self.unseen)
        matrix = self.conf[:-1, rows].T  # [U, K]  (pred rows of the confusion, per unseen gt column)
        return {
            "gt_labels": [self.names[i] for i in rows],
            "pred_labels": list(self.names),
            "matrix": matrix.astype(int).tolist(),
            "unit": "pixels",
        }


def read_label_png(path: str | os.PathLike) -> np.ndarray:
    """A single-channel label PNG -> [H, W] int64; ZsError if missing or not single-channel."""
    from PIL import Image

    try:
        with Image.open(path) as im:
            arr = np.asarray(im)
    except FileNotFoundError:
        raise ZsError(f"{path}: label PNG not found") from None
    except OSError as e:
        raise ZsError(f"{path}: not a readable PNG ({e})") from None
    if arr.ndim != 2:
        raise ZsError(f"{path}: expected a single-channel label PNG, got shape {arr.shape}")
    return arr.astype(np.int64)


def evaluate_semantic_files(gt_folder, pred_folder, num_classes: int, *, ignore_label: int = 255,
                            unseen: Iterable[int | str] = (), names: Sequence[str] | None = None,
                            progress: bool = False) -> dict:
    """mIoU of a folder of predicted label PNGs against a GT folder (files paired by name).

    Every GT PNG needs a prediction of the same name (ZsError naming the first missing one).
    """
    from tqdm import tqdm

    gt_folder, pred_folder = Path(gt_folder), Path(pred_folder)
    if not gt_folder.is_dir():
        raise ZsError(f"{gt_folder}: ground-truth folder not found")
    if not pred_folder.is_dir():
        raise ZsError(f"{pred_folder}: prediction folder not found")
    files = sorted(p.name for p in gt_folder.glob("*.png"))
    if not files:
        raise ZsError(f"{gt_folder}: no .png files")
    missing = [f for f in files if not (pred_folder / f).is_file()]
    if missing:
        raise ZsError(f"{pred_folder / missing[0]}: prediction missing ({len(missing)} of {len(files)} GT files)")
    ev = SemSegEvaluator(num_classes, ignore_label, unseen, names)
    for f in tqdm(files, disable=not progress, desc="mIoU", unit="img"):
        ev.process(read_label_png(gt_folder / f), read_label_png(pred_folder / f), what=str(pred_folder / f))
    res = ev.evaluate()
    res["num_images"] = len(files)
    if ev.unseen:
        res["unseen_confusion"] = ev.unseen_confusion()
    return res
