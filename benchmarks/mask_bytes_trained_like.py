"""Stored bytes per image of trained-like mask logits, through the store's own codec chain.

``benchmarks/bench_store.py --masks-only`` measures synthetic blobs and fixture A's random-weight
logits; this measures ``toyworld.predictions.trained_like_image``'s logits (one smooth mask per
segment with noisy borders, weak duplicates, no-object queries with near-empty masks or
unconstrained smooth blobs) at 1/4 of an 800 x 1333 input (images 480 x 800 -> masks 200 x 336),
written as the store writes them (int16 asinh code, Delta + Zstd, one chunk per image).

    .venv/bin/python benchmarks/mask_bytes_trained_like.py --images 4
"""

from __future__ import annotations

import argparse
import sys
import tempfile
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "tests"))  # the test worlds: toyworld


def main(argv=None) -> None:
    import zarr

    from toyworld.predictions import trained_like_image
    from zs.store.masks import MASK_DTYPE, encode_logits, mask_codecs

    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--images", type=int, default=4)
    ap.add_argument("--queries", type=int, default=100)
    args = ap.parse_args(argv)
    rng = np.random.default_rng(0)
    isthing = [True] * 80 + [False] * 53
    sizes = []
    with tempfile.TemporaryDirectory() as tmp:
        for i in range(args.images):
            logits = trained_like_image(rng, i, 133, isthing, (480, 800), args.queries).mask_logits.numpy()
            path = Path(tmp) / f"{i}.zarr"
            arr = zarr.create_array(str(path), shape=(1, *logits.shape), chunks=(1, *logits.shape),
                                    dtype=MASK_DTYPE, **mask_codecs())
            arr[0] = encode_logits(logits)
            sizes.append(sum(p.stat().st_size for p in (path / "c").rglob("*") if p.is_file()))
    q, h, w = logits.shape
    print(f"trained-like mask logits, {q} x {h} x {w} per image, {args.images} images: "
          f"{np.mean(sizes) / 1e6:.3f} MB per image ({8 * np.mean(sizes) / logits.size:.2f} bit/value; "
          f"raw float16 {2 * logits.size / 1e6:.2f} MB)")


if __name__ == "__main__":
    main()
