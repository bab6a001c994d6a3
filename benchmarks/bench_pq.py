"""PQ throughput on COCO-sized panoptic PNG pairs: ``zs metrics panoptic`` vs panopticapi's ``pq_compute``.

Generates ``--images`` GT/prediction pairs (``--height`` x ``--width``, about
``--segments`` segments each: stuff bands + rectangle things; predictions are
shifted copies with class swaps and misses), then times, side by side in one run:

* panopticapi's ``pq_compute`` as published (cocodataset/panopticapi ``evaluation.py``),
  re-stated step by step below (panopticapi is not a dependency): ``multiprocessing.Pool``
  with ``cpu_count()`` workers over ``np.array_split`` chunks; per image: decode both PNGs
  with ``np.array(Image.open(...), dtype=np.uint32)`` and ``rgb2id``, ``np.unique`` of the
  prediction for the segment areas, ``np.unique`` over ``gt·2^24 + pred`` for the
  intersections, then the per-segment loops (matches, FN with crowd, FP with void + crowd);
  ``pq_average`` per class;
* ``zs metrics panoptic --workers N`` (``evaluate_panoptic_files`` on a process pool of N,
  the CLI's code path), and serially;
* panopticapi's per-image code on one core, for reference.

Per-class results (TP, FP, FN, IoU sum, PQ/SQ/RQ) must be identical between panopticapi's
and zs's (checked; IoU sums to 1e-9). ``--workers`` defaults to ``os.cpu_count()`` for both.
Timings on a shared machine are noisy: the paths alternate and each keeps its fastest of
``--repeat`` runs.

    .venv/bin/python benchmarks/bench_pq.py                 # 300 images, 640x480
    .venv/bin/python benchmarks/bench_pq.py --images 5000   # COCO val size
"""

from __future__ import annotations

import argparse
import json
import multiprocessing
import os
import resource
import tempfile
import time
from collections import defaultdict
from concurrent.futures import ProcessPoolExecutor
from pathlib import Path

import numpy as np
from PIL import Image

from zs.evaluate.metrics import evaluate_panoptic_files

OFFSET = 256 * 256 * 256
CATS = [{"id": i, "name": f"c{i}", "isthing": int(i <= 40)} for i in range(1, 61)]


def _save_ids(path: Path, ids: np.ndarray) -> None:
    ids = ids.astype(np.uint32)
    rgb = np.stack([ids % 256, ids // 256 % 256, ids // 65536], axis=-1).astype(np.uint8)  # [H, W, 3]
    Image.fromarray(rgb).save(path)


def _segments(ids: np.ndarray, cat_of: dict[int, int]) -> list[dict]:
    labels, counts = np.unique(ids, return_counts=True)
    return [{"id": int(i), "category_id": cat_of[int(i)], "iscrowd": 0, "area": int(c)}
            for i, c in zip(labels, counts) if i != 0]


def make_pair(rng, h: int, w: int, n_segments: int):
    """One GT/prediction pair of id maps plus their category of each id."""
    gt = np.zeros((h, w), np.int64)
    cat_of: dict[int, int] = {}
    bands = max(2, n_segments // 4)
    edges = np.sort(rng.integers(0, h, bands - 1))
    for b, (y0, y1) in enumerate(zip([0, *edges], [*edges, h])):
        sid = int(rng.integers(1, OFFSET))
        gt[y0:y1] = sid
        cat_of[sid] = int(rng.integers(41, 61))  # stuff
    for _ in range(n_segments - bands):
        y, x = int(rng.integers(0, h - 40)), int(rng.integers(0, w - 40))
        sh, sw = int(rng.integers(20, 160)), int(rng.integers(20, 160))
        sid = int(rng.integers(1, OFFSET))
        gt[y:y + sh, x:x + sw] = sid
        cat_of[sid] = int(rng.integers(1, 41))
    gt[rng.random((h, w)) < 0.01] = 0  # VOID specks
    pred = np.roll(gt, (int(rng.integers(-6, 7)), int(rng.integers(-6, 7))), axis=(0, 1))
    pred_cat = {}
    for sid in np.unique(pred):
        if sid == 0:
            continue
        c = cat_of[int(sid)]
        pred_cat[int(sid)] = c if rng.random() > 0.15 else int(rng.integers(1, 61))
    return gt, cat_of, pred, pred_cat


def write_dataset(root: Path, n: int, h: int, w: int, n_segments: int, seed: int = 0):
    rng = np.random.default_rng(seed)
    for d in ("gt", "pred"):
        (root / d).mkdir(parents=True, exist_ok=True)
    gt_anns, pred_anns = [], []
    for i in range(n):
        gt, cat_of, pred, pred_cat = make_pair(rng, h, w, n_segments)
        name = f"{i:012d}.png"
        _save_ids(root / "gt" / name, gt)
        _save_ids(root / "pred" / name, pred)
        gt_anns.append({"image_id": i, "file_name": name, "segments_info": _segments(gt, cat_of)})
        segs = _segments(pred, pred_cat)
        pred_anns.append({"image_id": i, "file_name": name,
                          "segments_info": [{"id": s["id"], "category_id": s["category_id"]} for s in segs]})
    images = [{"id": i, "file_name": f"{i:012d}.jpg", "height": h, "width": w} for i in range(n)]
    (root / "gt.json").write_text(json.dumps({"images": images, "annotations": gt_anns, "categories": CATS}))
    (root / "pred.json").write_text(json.dumps({"annotations": pred_anns}))


# -- panopticapi's pq_compute, step by step ---------------------------------------------------

def _pa_rgb2id(color: np.ndarray) -> np.ndarray:
    return color[:, :, 0] + 256 * color[:, :, 1] + 256 * 256 * color[:, :, 2]


def _pa_single_core(annotation_set, gt_folder: str, pred_folder: str, categories: dict) -> dict:
    """panopticapi ``pq_compute_single_core``: {category: [iou, tp, fp, fn]}."""
    stat = defaultdict(lambda: [0.0, 0, 0, 0])
    for gt_ann, pred_ann in annotation_set:
        pan_gt = _pa_rgb2id(np.array(Image.open(os.path.join(gt_folder, gt_ann["file_name"])), dtype=np.uint32))
        pan_pred = _pa_rgb2id(np.array(Image.open(os.path.join(pred_folder, pred_ann["file_name"])), dtype=np.uint32))
        gt_segms = {el["id"]: el for el in gt_ann["segments_info"]}
        pred_segms = {el["id"]: el for el in pred_ann["segments_info"]}
        pred_labels_set = set(el["id"] for el in pred_ann["segments_info"])  # areas + sanity checks
        labels, labels_cnt = np.unique(pan_pred, return_counts=True)
        for label, label_cnt in zip(labels, labels_cnt):
            if label not in pred_segms:
                if label == 0:
                    continue
                raise KeyError(f"segment {label} in PNG, not in JSON")
            pred_segms[label]["area"] = label_cnt
            pred_labels_set.remove(label)
            if pred_segms[label]["category_id"] not in categories:
                raise KeyError(f"unknown category {pred_segms[label]['category_id']}")
        if pred_labels_set:
            raise KeyError(f"segments {list(pred_labels_set)} in JSON, not in PNG")
        pan_gt_pred = pan_gt.astype(np.uint64) * OFFSET + pan_pred.astype(np.uint64)  # intersections
        gt_pred_map = {}
        labels, labels_cnt = np.unique(pan_gt_pred, return_counts=True)
        for label, intersection in zip(labels, labels_cnt):
            gt_pred_map[(label // OFFSET, label % OFFSET)] = intersection
        gt_matched, pred_matched = set(), set()  # matches
        for (gt_label, pred_label), intersection in gt_pred_map.items():
            if gt_label not in gt_segms or pred_label not in pred_segms:
                continue
            if gt_segms[gt_label]["iscrowd"] == 1:
                continue
            if gt_segms[gt_label]["category_id"] != pred_segms[pred_label]["category_id"]:
                continue
            union = (pred_segms[pred_label]["area"] + gt_segms[gt_label]["area"] - intersection
                     - gt_pred_map.get((0, pred_label), 0))
            iou = intersection / union
            if iou > 0.5:
                s = stat[gt_segms[gt_label]["category_id"]]
                s[1] += 1
                s[0] += iou
                gt_matched.add(gt_label)
                pred_matched.add(pred_label)
        crowd_labels_dict = {}  # false negatives; crowd ignored
        for gt_label, gt_info in gt_segms.items():
            if gt_label in gt_matched:
                continue
            if gt_info["iscrowd"] == 1:
                crowd_labels_dict[gt_info["category_id"]] = gt_label
                continue
            stat[gt_info["category_id"]][3] += 1
        for pred_label, pred_info in pred_segms.items():  # false positives; void + same-class crowd ignored
            if pred_label in pred_matched:
                continue
            intersection = gt_pred_map.get((0, pred_label), 0)
            if pred_info["category_id"] in crowd_labels_dict:
                intersection += gt_pred_map.get((crowd_labels_dict[pred_info["category_id"]], pred_label), 0)
            if intersection / pred_info["area"] > 0.5:
                continue
            stat[pred_info["category_id"]][2] += 1
    return dict(stat)


def _pa_merge(parts) -> dict:
    total = defaultdict(lambda: [0.0, 0, 0, 0])
    for part in parts:
        for cat, v in part.items():
            for i in range(4):
                total[cat][i] += v[i]
    return total


def _pa_per_class(stat: dict, categories: dict) -> dict:
    """panopticapi ``pq_average``'s per-class results (+ the raw sums, for the comparison)."""
    out = {}
    for label in categories:
        iou, tp, fp, fn = stat.get(label, [0.0, 0, 0, 0])
        if tp + fp + fn == 0:
            out[label] = {"pq": 0.0, "sq": 0.0, "rq": 0.0, "iou": 0.0, "tp": 0, "fp": 0, "fn": 0}
            continue
        out[label] = {"pq": iou / (tp + 0.5 * fp + 0.5 * fn), "sq": iou / tp if tp != 0 else 0,
                      "rq": tp / (tp + 0.5 * fp + 0.5 * fn), "iou": iou, "tp": tp, "fp": fp, "fn": fn}
    return out


def pq_compute(gt_json: Path, pred_json: Path, gt_folder: Path, pred_folder: Path, workers: int | None = None,
               single_core: bool = False) -> dict:
    """panopticapi ``pq_compute``: read the JSONs, pair annotations, ``pq_compute_multi_core``, per-class PQ."""
    gt_js, pred_js = json.loads(Path(gt_json).read_text()), json.loads(Path(pred_json).read_text())
    categories = {el["id"]: el for el in gt_js["categories"]}
    pred_annotations = {el["image_id"]: el for el in pred_js["annotations"]}
    matched = [(gt_ann, pred_annotations[gt_ann["image_id"]]) for gt_ann in gt_js["annotations"]]
    if single_core:
        return _pa_per_class(_pa_single_core(matched, str(gt_folder), str(pred_folder), categories), categories)
    cpu_num = workers or multiprocessing.cpu_count()
    splits = np.array_split(matched, cpu_num)
    with multiprocessing.Pool(processes=cpu_num) as pool:
        jobs = [pool.apply_async(_pa_single_core, (split, str(gt_folder), str(pred_folder), categories))
                for split in splits]
        stat = _pa_merge(j.get() for j in jobs)
    return _pa_per_class(stat, categories)


def same_per_class(pa: dict, zs_res: dict) -> bool:
    """panopticapi's per-class results == zs's (counts exact, IoU sums and PQ/SQ/RQ to 1e-9)."""
    for cat, r in pa.items():
        z = zs_res["per_class"][str(cat)]
        if (r["tp"], r["fp"], r["fn"]) != (z["tp"], z["fp"], z["fn"]):
            return False
        if any(abs(r[k] - z[k2]) > 1e-9 for k, k2 in (("iou", "iou_sum"), ("pq", "pq"), ("sq", "sq"), ("rq", "rq"))):
            return False
    return True


def _cpu() -> float:
    """CPU seconds of this process and its finished children (pool workers are joined by then)."""
    me, kids = resource.getrusage(resource.RUSAGE_SELF), resource.getrusage(resource.RUSAGE_CHILDREN)
    return me.ru_utime + me.ru_stime + kids.ru_utime + kids.ru_stime


def _timed(fn):
    t0 = time.perf_counter()
    out = fn()
    return out, time.perf_counter() - t0


def _timed_cpu(fn):
    c0, t0 = _cpu(), time.perf_counter()
    out = fn()
    return out, time.perf_counter() - t0, _cpu() - c0


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--images", type=int, default=300)
    ap.add_argument("--height", type=int, default=480)
    ap.add_argument("--width", type=int, default=640)
    ap.add_argument("--segments", type=int, default=20)
    ap.add_argument("--workers", type=int, default=os.cpu_count(), help="processes for both (panopticapi: cpu_count)")
    ap.add_argument("--repeat", type=int, default=2, help="fastest of N runs per path (paths alternate)")
    ap.add_argument("--skip-single", action="store_true", help="skip the single-core runs")
    args = ap.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        root = Path(tmp)
        _, t_gen = _timed(lambda: write_dataset(root, args.images, args.height, args.width, args.segments))
        files = (root / "gt.json", root / "gt", root / "pred.json", root / "pred")
        pa_files = (root / "gt.json", root / "pred.json", root / "gt", root / "pred")

        def zs_parallel():
            with ProcessPoolExecutor(args.workers) as ex:  # as `zs metrics panoptic --workers N`
                return evaluate_panoptic_files(*files, executor=ex)

        paths = {f"panopticapi pq_compute, {args.workers} processes": lambda: pq_compute(*pa_files, args.workers),
                 f"zs metrics panoptic, {args.workers} processes": zs_parallel}
        if not args.skip_single:
            paths["panopticapi, 1 core"] = lambda: pq_compute(*pa_files, single_core=True)
            paths["zs, serial"] = lambda: evaluate_panoptic_files(*files)
        best: dict = {}
        for _ in range(max(1, args.repeat)):
            for name, fn in paths.items():
                out, t, cpu = _timed_cpu(fn)
                if name not in best or t < best[name][1]:
                    best[name] = (out, t, cpu)
    names = list(paths)
    pa_res, zs_res = best[names[0]][0], best[names[1]][0]
    identical = same_per_class(pa_res, zs_res) and all(
        same_per_class(best[n][0], zs_res) if n.startswith("panopticapi") else same_per_class(pa_res, best[n][0])
        for n in names[2:])
    n = args.images
    print(f"{n} image pairs {args.height}x{args.width}, ~{args.segments} segments (generated in {t_gen:.1f} s); "
          f"PQ All {100 * zs_res['all']['pq']:.2f}; per-class results identical: {identical}; "
          f"fastest of {args.repeat}, paths alternating")
    print(f"{'method':<40}{'seconds':>9}{'images/s':>10}{'vs pq_compute':>15}{'cpu s':>8}{'cpu ratio':>11}")
    base, base_cpu = best[names[0]][1], best[names[0]][2]
    for name in names:
        _, t, cpu = best[name]
        print(f"{name:<40}{t:>9.2f}{n / t:>10.1f}{base / t:>14.2f}x{cpu:>8.2f}{base_cpu / cpu:>10.2f}x")
    print("cpu s: CPU time of all processes of the run (workers included): the work, less sensitive to other "
          "users of the cores than wall time")
    if not identical:
        raise SystemExit("per-class results differ")


if __name__ == "__main__":
    main()
