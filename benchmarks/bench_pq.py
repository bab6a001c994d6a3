"""PQ throughput on COCO-sized panoptic PNG pairs: zs serial vs N workers vs panopticapi-style.

Generates ``--images`` GT/prediction pairs (``--height`` x ``--width``, about
``--segments`` segments each: stuff bands + rectangle things; predictions are
shifted copies with class swaps and misses), then times
``zs.evaluate.metrics.evaluate_panoptic_files`` serially and on a process pool,
and a re-statement of panopticapi's per-image core (``np.unique`` over
``gt·2^24 + pred``) as the baseline. All three must give the same PQ.

    .venv/bin/python benchmarks/bench_pq.py                 # 100 images, 640x480, workers 2
    .venv/bin/python benchmarks/bench_pq.py --images 5000   # COCO val size
"""

from __future__ import annotations

import argparse
import json
import tempfile
import time
from concurrent.futures import ProcessPoolExecutor
from pathlib import Path

import numpy as np
from PIL import Image

from zs.evaluate.metrics import evaluate_panoptic_files, read_panoptic_png

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


def panopticapi_style(root: Path) -> float:
    """PQ All with panopticapi's per-image core (np.unique over gt*OFFSET + pred), serial."""
    gt_js, pred_js = json.loads((root / "gt.json").read_text()), json.loads((root / "pred.json").read_text())
    pred_by = {a["image_id"]: a for a in pred_js["annotations"]}
    stat: dict[int, list] = {}
    for gt_ann in gt_js["annotations"]:
        pred_ann = pred_by[gt_ann["image_id"]]
        g = read_panoptic_png(root / "gt" / gt_ann["file_name"])
        p = read_panoptic_png(root / "pred" / pred_ann["file_name"])
        _panopticapi_image(g, gt_ann, p, pred_ann, stat)
    pqs = [s[0] / (s[1] + 0.5 * s[2] + 0.5 * s[3]) for s in stat.values() if s[1] + s[2] + s[3] > 0]
    return sum(pqs) / len(pqs)


def _panopticapi_image(pan_gt, gt_ann, pan_pred, pred_ann, stat) -> None:
    gt_segms = {el["id"]: el for el in gt_ann["segments_info"]}
    pred_segms = {el["id"]: dict(el) for el in pred_ann["segments_info"]}
    labels, cnt = np.unique(pan_pred, return_counts=True)
    for label, c in zip(labels, cnt):
        if label in pred_segms:
            pred_segms[label]["area"] = c
    pairs, inter = np.unique(pan_gt.astype(np.uint64) * OFFSET + pan_pred.astype(np.uint64), return_counts=True)
    gp = {(int(k) // OFFSET, int(k) % OFFSET): int(i) for k, i in zip(pairs, inter)}
    gt_m, pred_m = set(), set()
    for (gl, pl), i in gp.items():
        if gl not in gt_segms or pl not in pred_segms or gt_segms[gl]["iscrowd"] == 1:
            continue
        if gt_segms[gl]["category_id"] != pred_segms[pl]["category_id"]:
            continue
        iou = i / (pred_segms[pl]["area"] + gt_segms[gl]["area"] - i - gp.get((0, pl), 0))
        if iou > 0.5:
            s = stat.setdefault(gt_segms[gl]["category_id"], [0.0, 0, 0, 0])
            s[0] += iou
            s[1] += 1
            gt_m.add(gl)
            pred_m.add(pl)
    for gl, info in gt_segms.items():
        if gl not in gt_m and info["iscrowd"] == 0:
            stat.setdefault(info["category_id"], [0.0, 0, 0, 0])[3] += 1
    for pl, info in pred_segms.items():
        if pl not in pred_m and gp.get((0, pl), 0) / info["area"] <= 0.5:
            stat.setdefault(info["category_id"], [0.0, 0, 0, 0])[2] += 1


def _timed(fn):
    t0 = time.perf_counter()
    out = fn()
    return out, time.perf_counter() - t0


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--images", type=int, default=100)
    ap.add_argument("--height", type=int, default=480)
    ap.add_argument("--width", type=int, default=640)
    ap.add_argument("--segments", type=int, default=20)
    ap.add_argument("--workers", type=int, default=2)
    args = ap.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        root = Path(tmp)
        _, t_gen = _timed(lambda: write_dataset(root, args.images, args.height, args.width, args.segments))
        files = (root / "gt.json", root / "gt", root / "pred.json", root / "pred")
        serial, t_serial = _timed(lambda: evaluate_panoptic_files(*files))
        with ProcessPoolExecutor(args.workers) as ex:
            parallel, t_par = _timed(lambda: evaluate_panoptic_files(*files, executor=ex))
        ref_pq, t_ref = _timed(lambda: panopticapi_style(root))
    assert abs(serial["all"]["pq"] - parallel["all"]["pq"]) < 1e-12
    assert abs(serial["all"]["pq"] - ref_pq) < 1e-12, (serial["all"]["pq"], ref_pq)
    n = args.images
    print(f"{n} image pairs {args.height}x{args.width}, ~{args.segments} segments (generated in {t_gen:.1f} s); "
          f"PQ All {100 * serial['all']['pq']:.2f} (identical in all three)")
    print(f"{'method':<34}{'seconds':>9}{'images/s':>10}")
    for name, t in (("panopticapi-style core, serial", t_ref), ("zs serial", t_serial),
                    (f"zs {args.workers} worker processes", t_par)):
        print(f"{name:<34}{t:>9.2f}{n / t:>10.1f}")


if __name__ == "__main__":
    main()
