"""Fast vs exact post-processing: metrics and disagreeing pixels on trained-like predictions at COCO geometry.

``zs evaluate`` (cached and full image) uses a fast post-processing by default
(one bilinear resize per query, only the queries each task can use) and
Mask2Former's own with ``--exact``. This script runs both on the same
predictions and prints, side by side:

* PQ (all), mIoU (all), AP (all) of each path and their differences (goal: each <= 0.01);
* the disagreeing pixel fractions: panoptic segment-id map, panoptic category map, semantic
  label map, instance masks (XOR / union over the same (query, class) pairs), and the largest
  difference of an instance score;
* the post-processing time of each path (inference + metrics folding; timings on a shared
  machine are noisy, the ratio is measured on the same images in one run).

Predictions are trained-like (``toyworld.predictions.trained_like_image``): 100 queries, one per
ground-truth segment with a confident class (10 % wrong, 8 % unsure), weak duplicates, the rest
no-object with near-empty masks; mask logits at 1/4 of the padded 800 x 1067 input, stored with
the store's int16 code (as the cached path reads them); 133 classes (80 things), COCO's geometry.

    .venv/bin/python benchmarks/eval_agreement.py                 # 200 images of 480 x 640
    .venv/bin/python benchmarks/eval_agreement.py --images 20     # a quick look
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

import numpy as np
import torch

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "tests"))  # the test worlds: toyworld


def parse_args(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--images", type=int, default=200)
    ap.add_argument("--height", type=int, default=480)
    ap.add_argument("--width", type=int, default=640)
    ap.add_argument("--queries", type=int, default=100)
    ap.add_argument("--classes", type=int, default=133, help="COCO panoptic: 133 (the first 80 are things)")
    ap.add_argument("--threads", type=int, default=1)
    ap.add_argument("--seed", type=int, default=0)
    return ap.parse_args(argv)


def vocabulary(num_classes: int):
    from zs.vocab import Vocabulary

    things = min(80, num_classes * 3 // 5)
    cats = [{"id": i + 1, "name": f"c{i + 1}", "isthing": int(i < things)} for i in range(num_classes)]
    return Vocabulary.from_coco_categories(cats, name="agreement")


def disagreement(exact: dict, fast: dict) -> dict:
    """Disagreeing pixel counts of one image's predictions (``StreamingEvaluation.last_predictions``)."""
    out = {}
    (seg_e, segs_e), (seg_f, segs_f) = exact["panoptic"], fast["panoptic"]
    out["pixels"] = seg_e.size
    out["panoptic_id"] = int((seg_e != seg_f).sum())
    cat_e = np.zeros(max(seg_e.max(), 0) + 1, np.int64)
    for s in segs_e:
        cat_e[s["id"]] = s["category_id"]
    cat_f = np.zeros(max(seg_f.max(), 0) + 1, np.int64)
    for s in segs_f:
        cat_f[s["id"]] = s["category_id"]
    out["panoptic_category"] = int((cat_e[seg_e] != cat_f[seg_f]).sum())
    out["segments_same"] = int([s["category_id"] for s in segs_e] == [s["category_id"] for s in segs_f])
    out["semantic"] = int((exact["semantic"] != fast["semantic"]).sum())
    inst_e, inst_f = exact["instance"], fast["instance"]
    pairs_e = {(q, lab): (row, score) for q, lab, row, score in inst_e["pairs"]}
    pairs_f = {(q, lab): (row, score) for q, lab, row, score in inst_f["pairs"]}
    out["instance_xor"] = out["instance_union"] = 0
    out["instance_score"] = 0.0
    for key in pairs_e.keys() & pairs_f.keys():  # the same detection on both paths: its mask and score
        (re, se), (rf, sf) = pairs_e[key], pairs_f[key]
        me, mf = inst_e["masks"][re], inst_f["masks"][rf]
        out["instance_xor"] += int((me ^ mf).sum())
        out["instance_union"] += int((me | mf).sum())
        out["instance_score"] = max(out["instance_score"], abs(se - sf))
    dropped = [pairs_e[k][1] for k in pairs_e.keys() - pairs_f.keys()]
    out["instance_dropped"] = len(dropped)
    out["instance_dropped_max"] = max(dropped, default=0.0)
    out["instance_pairs"] = len(pairs_e)
    out["instance_extra"] = len(pairs_f.keys() - pairs_e.keys())
    return out


def headline(metrics: dict) -> dict:
    return {"PQ": metrics["panoptic"]["all"]["pq"], "mIoU": metrics["semantic"]["all"]["miou"],
            "AP": metrics["instance"]["all"]["ap"]}


def main(argv=None) -> None:
    from zs.evaluate.evaluation.streaming import ImageMasks, InferenceConfig, StreamingEvaluation
    from toyworld.predictions import trained_like_image
    from zs.store.masks import decode_logits, encode_logits

    args = parse_args(argv)
    torch.set_num_threads(args.threads)
    vocab = vocabulary(args.classes)
    tasks = ("panoptic", "semantic", "instance")
    paths = {"exact": StreamingEvaluation(vocab, tasks, infer=InferenceConfig(exact=True)),
             "fast": StreamingEvaluation(vocab, tasks, infer=InferenceConfig())}
    seconds = {name: 0.0 for name in paths}
    totals: dict = {}
    kept = []
    rng = np.random.default_rng(args.seed)
    for i in range(args.images):
        img = trained_like_image(rng, i, vocab.num_classes, vocab.isthing_mask(), (args.height, args.width),
                                 args.queries)
        logits = torch.from_numpy(decode_logits(encode_logits(img.mask_logits.numpy())))  # as the store keeps them
        scores, labels = img.class_probs.max(-1)
        kept.append(int((labels.ne(vocab.num_classes) & (scores > 0.8)).sum()))
        for name, ev in paths.items():
            t0 = time.perf_counter()
            ev.process(img.gt, img.class_probs, ImageMasks(logits, img.geometry, img.gt.ids.shape, is_prob=False))
            seconds[name] += time.perf_counter() - t0
        for k, v in disagreement(paths["exact"].last_predictions, paths["fast"].last_predictions).items():
            totals[k] = max(totals.get(k, 0.0), v) if k in ("instance_score", "instance_dropped_max") \
                else totals.get(k, 0) + v
    results = {name: headline(ev.evaluate()) for name, ev in paths.items()}
    px = totals["pixels"]
    print(f"{args.images} trained-like images {args.height}x{args.width}, {args.queries} queries, "
          f"{vocab.num_classes} classes, masks {img.mask_logits.shape[1]}x{img.mask_logits.shape[2]} "
          f"(input {img.geometry['resized_h']}x{img.geometry['resized_w']}); "
          f"panoptic keeps {np.mean(kept):.1f} queries per image on average; {args.threads} thread(s)")
    print(f"{'metric':<8}{'exact':>10}{'fast':>10}{'|delta|':>10}")
    for key in ("PQ", "mIoU", "AP"):
        e, f = results["exact"][key], results["fast"][key]
        print(f"{key:<8}{e:>10.4f}{f:>10.4f}{abs(e - f):>10.4f}")
    print("disagreeing pixels: "
          f"panoptic ids {totals['panoptic_id'] / px:.5f}, panoptic categories {totals['panoptic_category'] / px:.5f}, "
          f"semantic {totals['semantic'] / px:.5f}, instance masks {totals['instance_xor'] / max(1, totals['instance_union']):.5f} "
          f"of their union; the same panoptic segments (ids, categories) in {totals['segments_same']} of "
          f"{args.images} images; "
          f"largest instance score difference {totals['instance_score']:.2e}")
    print(f"instance detections: {totals['instance_pairs']} exact, {totals['instance_dropped']} of them dropped by "
          f"the fast path (class probability < {InferenceConfig().instance_min_prob}; highest exact score among them "
          f"{totals['instance_dropped_max']:.4f}), {totals['instance_extra']} only on the fast path")
    e, f = seconds["exact"], seconds["fast"]
    print(f"post-processing time: exact {e:.2f} s ({1000 * e / args.images:.0f} ms/img), "
          f"fast {f:.2f} s ({1000 * f / args.images:.0f} ms/img): {e / f:.1f}x (same images, one run)")


if __name__ == "__main__":
    main()
