"""The fast post-processing (the default) on trained-like COCO-geometry images, alone: time per image
of the image loop and of the final metrics (PQ, mIoU, COCOeval), and how many queries an image
holds at the image size. The predictions are those of ``eval_agreement.py`` (``toyworld.predictions``:
COCO's 133 classes, 100 queries, 480 x 640 images, masks through the store's int16 code); the
images are made first, so only the evaluation is timed.

    .venv/bin/python benchmarks/eval_trained_like.py --images 40
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

import numpy as np
import torch

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "tests"))  # the test worlds: toyworld


def main(argv=None) -> None:
    from eval_agreement import vocabulary
    from toyworld.predictions import trained_like_image
    from zs.evaluate.evaluation.streaming import ImageMasks, InferenceConfig, StreamingEvaluation
    from zs.store.masks import decode_logits, encode_logits

    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--images", type=int, default=40)
    ap.add_argument("--classes", type=int, default=133)
    ap.add_argument("--threads", type=int, default=1)
    ap.add_argument("--seed", type=int, default=0)
    args = ap.parse_args(argv)
    torch.set_num_threads(args.threads)
    vocab = vocabulary(args.classes)
    rng = np.random.default_rng(args.seed)
    images = []
    for i in range(args.images):
        img = trained_like_image(rng, i, vocab.num_classes, vocab.isthing_mask())
        images.append((img, torch.from_numpy(decode_logits(encode_logits(img.mask_logits.numpy())))))
    evaluation = StreamingEvaluation(vocab, ("panoptic", "semantic", "instance"), infer=InferenceConfig())
    held = []
    t0 = time.perf_counter()
    for img, logits in images:
        masks = ImageMasks(logits, img.geometry, img.gt.ids.shape, is_prob=False)
        evaluation.process(img.gt, img.class_probs, masks)
        held.append(len(masks.held()[0]))
    t1 = time.perf_counter()
    evaluation.evaluate()
    t2 = time.perf_counter()
    n = args.images
    print(f"{n} trained-like images 480x640, {vocab.num_classes} classes, 100 queries, {args.threads} thread(s): "
          f"{np.mean(held):.1f} queries held per image; image loop {1000 * (t1 - t0) / n:.0f} ms/image, "
          f"final metrics {t2 - t1:.2f} s ({1000 * (t2 - t1) / n:.1f} ms/image; "
          f"{len(evaluation.results)} instance detections)")


if __name__ == "__main__":
    main()
