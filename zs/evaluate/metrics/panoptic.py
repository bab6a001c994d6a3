"""Panoptic quality (PQ/SQ/RQ) exactly as panopticapi's ``pq_compute``.

Rules (panopticapi ``evaluation.py`` @7bb4655, ``pq_compute_single_core``):

* id 0 is VOID; a GT or predicted pixel carries a segment id.
* A (GT, pred) pair matches when the categories agree, the GT is not crowd and
  IoU > 0.5 (strict), with IoU = I / (|pred| + |gt| − I − |pred ∩ VOID|).
  Predicted areas come from the id map, GT areas from the segment's ``area``.
* Unmatched non-crowd GT -> FN; crowd GT never counts.
* Unmatched prediction -> FP unless (|pred ∩ VOID| + |pred ∩ crowd of its
  category|) / |pred| > 0.5 (one crowd segment per category: the last listed).
* Per class PQ = ΣIoU / (TP + FP/2 + FN/2), SQ = ΣIoU / TP (0 if TP = 0),
  RQ = TP / (TP + FP/2 + FN/2); All/Things/Stuff = unweighted means over the
  classes of the group with TP + FP + FN > 0.

The statistics are sums (:class:`PQStat`), so per-image / per-worker results
merge with ``+=`` in any order (float sums differ by ~1e-16).
"""

from __future__ import annotations

import dataclasses
import threading
from collections import Counter, defaultdict
from typing import Iterable, Sequence

import numpy as np

from zs.errors import ZsError
from zs.evaluate.metrics.splits import resolve_class_ids, seen_unseen_blocks

VOID = 0
OFFSET = 256 * 256 * 256  # ids are 24-bit (R + 256·G + 256²·B)
PQ_KEYS = ("pq", "sq", "rq")


@dataclasses.dataclass
class PQStatCat:
    """Sums for one category: ΣIoU of matches, TP, FP, FN."""

    iou: float = 0.0
    tp: int = 0
    fp: int = 0
    fn: int = 0

    def __iadd__(self, other: "PQStatCat") -> "PQStatCat":
        self.iou += other.iou
        self.tp += other.tp
        self.fp += other.fp
        self.fn += other.fn
        return self


class PQStat:
    """Per-category :class:`PQStatCat` plus a GT-segment -> predicted-class count.

    ``confusion[(gt_cat, pred_cat)]`` counts non-crowd GT segments by the
    category of the prediction that overlaps them most (0 = nothing predicted).
    """

    def __init__(self) -> None:
        self.per_cat: dict[int, PQStatCat] = defaultdict(PQStatCat)
        self.confusion: Counter = Counter()
        self.num_images = 0

    def __iadd__(self, other: "PQStat") -> "PQStat":
        for cat, stat in other.per_cat.items():
            self.per_cat[cat] += stat
        self.confusion.update(other.confusion)
        self.num_images += other.num_images
        return self

    def __getitem__(self, cat: int) -> PQStatCat:
        return self.per_cat[cat]


def _check_segments(segments: Sequence[dict], categories: set[int], what: str) -> dict[int, dict]:
    """segments_info list -> {id: segment}; ZsError on duplicate/VOID ids or unknown categories."""
    out: dict[int, dict] = {}
    for s in segments:
        sid = int(s["id"])
        if sid == VOID:
            raise ZsError(f"{what}: segment id 0 is reserved for VOID")
        if sid in out:
            raise ZsError(f"{what}: segment id {sid} is listed twice in segments_info")
        if int(s["category_id"]) not in categories:
            raise ZsError(f"{what}: segment {sid} has unknown category_id {s['category_id']}")
        out[sid] = s
    return out


def _intersections(gt_ids, gt_keys, pred_ids, pred_keys, what):
    """Intersection counts [1+G, 1+P] between GT and predicted segments (row/col 0 = VOID).

    The same counts as panopticapi's ``np.unique`` over ``gt·2^24 + pred``, without sorting: each
    map's ids become row/column indices through a lookup table (1 + position in ``[VOID, *keys]``,
    0 for an id that is not a segment), and one ``bincount`` over ``row·(2+P) + col`` counts the
    pairs; the counts of row or column 0 are the pixels of unknown ids (ZsError), the rest is the
    matrix.
    """
    gt_flat, pred_flat = _flat_ids(gt_ids, f"{what} (ground truth)"), _flat_ids(pred_ids, f"{what} (prediction)")
    rows = _segment_index(gt_flat, gt_keys, f"{what} (ground truth)")  # [N] in 0..G+1
    cols = _segment_index(pred_flat, pred_keys, f"{what} (prediction)")  # [N] in 0..P+1
    shape = (len(gt_keys) + 2, len(pred_keys) + 2)
    pairs = np.multiply(rows, shape[1], dtype=np.int64)  # [N]
    pairs += cols
    counts = np.bincount(pairs, minlength=shape[0] * shape[1]).reshape(shape)  # [2+G, 2+P]
    for flat, index, unknown, side in ((gt_flat, rows, counts[0].sum(), "ground truth"),
                                       (pred_flat, cols, counts[:, 0].sum(), "prediction")):
        if unknown:
            raise ZsError(f"{what} ({side}): segment id {int(flat[np.argmax(index == 0)])} is in the PNG but "
                          f"not in segments_info")
    return counts[1:, 1:]  # [1+G, 1+P] int64


_LUT = threading.local()


def _lookup_table() -> np.ndarray:
    """This thread's id -> 1 + index table over all 2^24 ids (int32, 0 = not a segment; zero pages are not
    touched until written); reset after each use."""
    lut = getattr(_LUT, "table", None)
    if lut is None:
        lut = _LUT.table = np.zeros(OFFSET, dtype=np.int32)
    return lut


def _flat_ids(ids, what: str) -> np.ndarray:
    """[H, W] integer ids -> [H*W]; ZsError unless all lie in [0, 2^24) (checked by the table lookup for
    unsigned maps)."""
    flat = np.asarray(ids).reshape(-1)
    if flat.dtype.kind not in "iu":
        raise ZsError(f"{what}: segment ids must be integers, got {flat.dtype}")
    if flat.size and flat.dtype.kind == "i" and int(flat.min()) < 0:
        raise ZsError(f"{what}: segment ids must lie in [0, 2^24)")
    return flat


def _segment_index(flat: np.ndarray, keys: Sequence[int], what: str) -> np.ndarray:
    """Segment ids [N] -> [N] int32: 1 for VOID, 1 + i for ``keys[i - 1]``, 0 for any other id."""
    table = np.asarray([VOID, *keys], dtype=np.int64)
    if table.size and (int(table.min()) < 0 or int(table.max()) >= OFFSET):
        raise ZsError(f"{what}: segments_info ids must lie in [0, 2^24)")
    lut = _lookup_table()
    lut[table] = np.arange(1, len(table) + 1, dtype=np.int32)
    try:
        return lut[flat]  # [N]
    except IndexError:
        raise ZsError(f"{what}: segment ids must lie in [0, 2^24)") from None
    finally:
        lut[table] = 0


def image_pq_stat(
    gt_ids: np.ndarray,
    gt_segments: Sequence[dict],
    pred_ids: np.ndarray,
    pred_segments: Sequence[dict],
    categories: set[int],
    what: str = "image",
) -> PQStat:
    """PQ statistics of one image (panopticapi rules, module docstring).

    ``gt_ids``/``pred_ids``: [H, W] integer segment-id maps (0 = VOID).
    ``what`` names the image in error messages.
    """
    if gt_ids.shape != pred_ids.shape:
        raise ZsError(f"{what}: prediction size {tuple(pred_ids.shape)} != ground truth size {tuple(gt_ids.shape)}")
    gt_segms = _check_segments(gt_segments, categories, f"{what} (ground truth)")
    pred_segms = _check_segments(pred_segments, categories, f"{what} (prediction)")
    gt_keys, pred_keys = sorted(gt_segms), sorted(pred_segms)
    inter = _intersections(gt_ids, gt_keys, pred_ids, pred_keys, what)  # [1+G, 1+P]
    pred_area = inter.sum(axis=0)  # [1+P]
    gt_area_png = inter.sum(axis=1)  # [1+G]
    missing = [pid for j, pid in enumerate(pred_keys, 1) if pred_area[j] == 0]
    if missing:
        raise ZsError(f"{what} (prediction): segment ids {missing} are in segments_info but not in the PNG")
    gt_area = [0] + [int(gt_segms[g].get("area", gt_area_png[i])) for i, g in enumerate(gt_keys, 1)]
    stat = PQStat()
    stat.num_images = 1
    gt_matched, pred_matched = _match_segments(inter, gt_keys, gt_segms, gt_area, pred_keys, pred_segms,
                                               pred_area, stat)
    crowd = _count_false_negatives(gt_keys, gt_segms, gt_segments, gt_matched, stat)
    _count_false_positives(inter, pred_keys, pred_segms, pred_area, pred_matched, crowd, stat)
    _count_segment_confusion(inter, gt_keys, gt_segms, pred_keys, pred_segms, stat)
    return stat


def _match_segments(inter, gt_keys, gt_segms, gt_area, pred_keys, pred_segms, pred_area, stat):
    """TP matches: same category, GT not crowd, IoU > 0.5; visited in (gt id, pred id) order."""
    gt_matched, pred_matched = set(), set()
    rows, cols = np.nonzero(inter[1:, 1:])
    for r, c in zip(rows.tolist(), cols.tolist()):
        g, p = gt_segms[gt_keys[r]], pred_segms[pred_keys[c]]
        if int(g.get("iscrowd", 0)) == 1 or int(g["category_id"]) != int(p["category_id"]):
            continue
        i = int(inter[r + 1, c + 1])
        union = int(pred_area[c + 1]) + gt_area[r + 1] - i - int(inter[0, c + 1])
        iou = i / union
        if iou > 0.5:
            cat = stat[int(g["category_id"])]
            cat.tp += 1
            cat.iou += iou
            gt_matched.add(gt_keys[r])
            pred_matched.add(pred_keys[c])
    return gt_matched, pred_matched


def _count_false_negatives(gt_keys, gt_segms, gt_segments, gt_matched, stat) -> dict[int, int]:
    """FN for unmatched non-crowd GT; returns {category: row of its (last) crowd segment}."""
    row_of = {g: r for r, g in enumerate(gt_keys, 1)}
    crowd: dict[int, int] = {}
    for s in gt_segments:  # segments_info order, as panopticapi's dict
        sid = int(s["id"])
        if sid in gt_matched:
            continue
        if int(s.get("iscrowd", 0)) == 1:
            crowd[int(s["category_id"])] = row_of[sid]
            continue
        stat[int(s["category_id"])].fn += 1
    return crowd


def _count_false_positives(inter, pred_keys, pred_segms, pred_area, pred_matched, crowd, stat) -> None:
    """FP for unmatched predictions not lying > 50% on VOID + same-category crowd."""
    for c, pid in enumerate(pred_keys, 1):
        if pid in pred_matched:
            continue
        cat = int(pred_segms[pid]["category_id"])
        ignored = int(inter[0, c])
        if cat in crowd:
            ignored += int(inter[crowd[cat], c])
        if ignored / int(pred_area[c]) > 0.5:
            continue
        stat[cat].fp += 1


def _count_segment_confusion(inter, gt_keys, gt_segms, pred_keys, pred_segms, stat) -> None:
    """Each non-crowd GT segment -> category of the prediction overlapping it most (0: none)."""
    for r, gid in enumerate(gt_keys, 1):
        g = gt_segms[gid]
        if int(g.get("iscrowd", 0)) == 1:
            continue
        row = inter[r, 1:]  # [P]
        pred_cat = int(pred_segms[pred_keys[int(row.argmax())]]["category_id"]) if row.any() else 0
        stat.confusion[(int(g["category_id"]), pred_cat)] += 1


def pq_per_class(stat: PQStat, categories: Sequence[dict]) -> dict[str, dict]:
    """Per-category PQ/SQ/RQ/TP/FP/FN (panopticapi ``pq_average``), keyed by str(id)."""
    out = {}
    for c in categories:
        s = stat.per_cat.get(int(c["id"]), PQStatCat())
        denom = s.tp + 0.5 * s.fp + 0.5 * s.fn
        counted = s.tp + s.fp + s.fn > 0
        out[str(c["id"])] = {
            "name": c.get("name", str(c["id"])),
            "isthing": int(c.get("isthing", 1)),
            "pq": s.iou / denom if counted else 0.0,
            "sq": s.iou / s.tp if s.tp != 0 else 0.0,
            "rq": s.tp / denom if counted else 0.0,
            "tp": s.tp, "fp": s.fp, "fn": s.fn,
            "iou_sum": s.iou,
            "counted": counted,
        }
    return out


def pq_group(per_class: dict[str, dict], isthing: bool | None) -> dict:
    """All (isthing None) / Things / Stuff block: mean over counted classes; None if n = 0."""
    pq = sq = rq = 0.0
    n = 0
    for rec in per_class.values():
        if isthing is not None and bool(rec["isthing"]) != isthing:
            continue
        if not rec["counted"]:
            continue
        n += 1
        pq += rec["pq"]
        sq += rec["sq"]
        rq += rec["rq"]
    if n == 0:
        return {"pq": None, "sq": None, "rq": None, "n": 0}
    return {"pq": pq / n, "sq": sq / n, "rq": rq / n, "n": n}


def summarize_pq(stat: PQStat, categories: Sequence[dict], unseen_ids: Iterable[int] = ()) -> dict:
    """The result dict: per_class, all, things, stuff (+ seen, unseen, hm when a split is given)."""
    per_class = pq_per_class(stat, categories)
    res = {
        "per_class": per_class,
        "all": pq_group(per_class, None),
        "things": pq_group(per_class, True),
        "stuff": pq_group(per_class, False),
    }
    unseen = [str(u) for u in unseen_ids]
    if unseen:
        res["unseen_ids"] = unseen
        res.update(seen_unseen_blocks(per_class, unseen, PQ_KEYS, lambda r: r["counted"]))
    res["num_images"] = stat.num_images
    return res


class PanopticEvaluator:
    """Streaming PQ: ``reset() / process(...) / evaluate()``, merge with ``+=``.

    ``categories``: list of dict(id, name, isthing); ``unseen_ids``: category
    ids (or names) of the unseen group; seen = every other category.
    """

    def __init__(self, categories: Sequence[dict], unseen_ids: Iterable[int | str] = ()) -> None:
        if not categories:
            raise ZsError("PanopticEvaluator: empty categories list")
        self.categories = [dict(c) for c in categories]
        ids = [int(c["id"]) for c in self.categories]
        names = [c.get("name", str(c["id"])) for c in self.categories]
        self.unseen_ids = resolve_class_ids(unseen_ids, ids, names)
        self._cat_set = set(ids)
        self.reset()

    def reset(self) -> None:
        self.stat = PQStat()

    def process(self, gt_ids, gt_segments, pred_ids, pred_segments, image_id=None) -> None:
        """Fold in one image: [H, W] id maps (0 = VOID) and their segments_info lists.

        GT segments need ``id, category_id, iscrowd, area`` (``area`` defaults
        to the pixel count); predicted segments ``id, category_id``.
        """
        what = f"image {image_id}" if image_id is not None else f"image #{self.stat.num_images}"
        self.stat += image_pq_stat(np.asarray(gt_ids), gt_segments, np.asarray(pred_ids), pred_segments,
                                   self._cat_set, what)

    def add_stat(self, stat: PQStat) -> None:
        """Fold in statistics computed elsewhere (a worker's :class:`PQStat`)."""
        self.stat += stat

    def __iadd__(self, other: "PanopticEvaluator") -> "PanopticEvaluator":
        if [c["id"] for c in other.categories] != [c["id"] for c in self.categories]:
            raise ZsError("cannot merge PanopticEvaluators over different categories")
        self.stat += other.stat
        return self

    def evaluate(self) -> dict:
        """per_class, all, things, stuff (+ seen, unseen, hm); fractions in [0, 1]."""
        return summarize_pq(self.stat, self.categories, self.unseen_ids)

    def unseen_confusion(self) -> dict:
        """Where unseen GT segments went: rows = unseen GT classes, cols = predicted class."""
        return segment_confusion(self.stat, self.categories, self.unseen_ids)


def segment_confusion(stat: PQStat, categories: Sequence[dict], gt_ids: Iterable[int]) -> dict:
    """``{"gt_labels", "pred_labels", "matrix"}``: GT segments of ``gt_ids`` by predicted class.

    Columns are every category in order plus ``"(none)"`` (no overlapping prediction).
    """
    name = {int(c["id"]): c.get("name", str(c["id"])) for c in categories}
    rows = [int(g) for g in gt_ids]
    cols = [int(c["id"]) for c in categories] + [0]
    matrix = [[int(stat.confusion.get((g, p), 0)) for p in cols] for g in rows]
    return {
        "gt_labels": [name[g] for g in rows],
        "pred_labels": [name[p] for p in cols[:-1]] + ["(none)"],
        "matrix": matrix,
        "unit": "segments",
    }
