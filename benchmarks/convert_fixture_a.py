"""Conversion of reference fixture A: time to convert, inference time, and agreement with detectron2.

Prints a side-by-side table (detectron2's own figures come from the fixture
manifest, measured on the machine that made it). Run:

    .venv/bin/python benchmarks/convert_fixture_a.py [--repeats 3] [--threads 2]
"""

from __future__ import annotations

import argparse
import json
import tempfile
import time
from pathlib import Path

import numpy as np
import torch

FIXTURE = Path(__file__).resolve().parents[1].parent / "shared" / "reference" / "d2-mask2former" / "A"


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--repeats", type=int, default=3)
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--fixture", type=Path, default=FIXTURE)
    args = ap.parse_args()
    torch.set_num_threads(args.threads)
    from zs.evaluate.evaluation.segment import read_image, segment_image
    from zs.extract.d2 import convert_checkpoint
    from zs.extract.segmenter import load_segmenter

    manifest = json.loads((args.fixture / "manifest.json").read_text())
    with tempfile.TemporaryDirectory() as tmp:
        t0 = time.perf_counter()
        convert_checkpoint(args.fixture / "config.yaml", args.fixture / "model_final.pth", Path(tmp) / "seg")
        t_convert = time.perf_counter() - t0
        t0 = time.perf_counter()
        seg = load_segmenter(Path(tmp) / "seg")
        t_load = time.perf_counter() - t0
        rows = []
        for i, info in enumerate(manifest["images"]):
            z = segment_image(Path(tmp) / "seg", args.fixture / info["file"], resize=False)
            pixels, _ = seg.preprocess(read_image(args.fixture / info["file"]), resize=False)
            times = []
            for _ in range(args.repeats):
                t0 = time.perf_counter()
                seg.forward(seg.collate([pixels]))
                times.append(time.perf_counter() - t0)
            ref = {k: np.load(args.fixture / "outputs" / f"img{i}_{k}.npy")
                   for k in ("pred_logits", "pred_masks", "decoder_embedding", "panoptic_seg")}
            rows.append((info["file"], manifest["timing_s"]["inference_per_image"][i], min(times),
                         np.abs(z["class_logits"] - ref["pred_logits"]).max(),
                         np.abs(z["mask_logits"] - ref["pred_masks"]).max(),
                         np.abs(z["query_embed"] - ref["decoder_embedding"]).max(),
                         (z["panoptic_seg"] == ref["panoptic_seg"]).mean()))
    print(f"conversion (load + check + write): {t_convert:.2f} s; load_segmenter: {t_load:.2f} s")
    print(f"{'image':18s} {'d2 infer s':>10s} {'zs fwd s':>12s} {'|dlogits|':>10s} {'|dmasks|':>10s} "
          f"{'|dembed|':>10s} {'pan px eq':>9s}")
    for r in rows:
        print(f"{r[0]:18s} {r[1]:10.3f} {r[2]:12.3f} {r[3]:10.2e} {r[4]:10.2e} {r[5]:10.2e} {r[6]:9.4f}")
    print("tolerances (fixture README): logits 1e-3, masks 2e-3, embed 5e-4, panoptic pixels >= 0.999")
    print("inference = one forward of the padded input (min over repeats); d2 figure from the fixture manifest")


if __name__ == "__main__":
    main()
