"""Stored bytes per image of trained-like mask logits, through the store's own codec chain.

``benchmarks/bench_store.py --masks-only`` measures synthetic blobs and fixture A's random-weight
logits; this measures ``toyworld.predictions.trained_like_image``'s logits (one smooth mask per
segment with noisy borders, weak duplicates, no-object queries with near-empty masks or
unconstrained smooth blobs) at 1/4 of an 800 x 1333 input (images 480 x 800 -> masks 200 x 336),
written as the store writes them (int16 asinh code, Delta + Zstd, one chunk per image).

``--codecs`` adds, on the same images, what other choices would give (bytes and encode time per
image): higher Zstd levels of the same chain, Blosc's byte shuffle, and a coarser asinh code
with the same step at logit 0 (``A = 0.25, B = 32``: half the far-field precision), with the share
of identical panoptic pixels each code keeps on fixture A (``../shared/reference``); and the
order-0 entropy of a 2-D predictor's residuals (row delta, then column delta), a bound for a
custom codec that zarr does not have built in.

    .venv/bin/python benchmarks/mask_bytes_trained_like.py --images 4
    .venv/bin/python benchmarks/mask_bytes_trained_like.py --images 4 --codecs
"""

from __future__ import annotations

import argparse
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "tests"))  # the test worlds: toyworld
FIXTURE_A = Path(__file__).resolve().parents[2] / "shared" / "reference" / "d2-mask2former" / "A"


def stored_bytes(codes: np.ndarray, directory: Path) -> int:
    """Bytes on disk of one image's codes written as the store writes them."""
    import zarr

    from zs.store.masks import MASK_DTYPE, mask_codecs

    arr = zarr.create_array(str(directory), shape=(1, *codes.shape), chunks=(1, *codes.shape),
                            dtype=MASK_DTYPE, **mask_codecs())
    arr[0] = codes
    return sum(p.stat().st_size for p in (directory / "c").rglob("*") if p.is_file())


def alternatives(images: list[np.ndarray]) -> None:
    """Bytes and encode time per image of other codec choices on the same logits."""
    from numcodecs import Blosc, Delta, Zstd

    from zs.store.masks import ZSTD_LEVEL, encode_logits

    codes = [encode_logits(x) for x in images]
    coarse = [np.rint(32 * np.arcsinh(x / 0.25)).astype(np.int16) for x in images]

    def row(name, chain, data):
        t0 = time.perf_counter()
        sizes = []
        for x in data:
            b = x
            for codec in chain:
                b = codec.encode(b)
            sizes.append(len(b))
        ms = 1000 * (time.perf_counter() - t0) / len(data)
        print(f"  {name:<44s} {np.mean(sizes) / 1e6:6.3f} MB  {ms:7.0f} ms/image")

    print("alternatives (numcodecs, same bytes as zarr's codecs; encode time on this machine):")
    row(f"store: Delta + Zstd {ZSTD_LEVEL}", [Delta("int16"), Zstd(ZSTD_LEVEL)], codes)
    for level in (12, 15, 19):
        row(f"Delta + Zstd {level}", [Delta("int16"), Zstd(level)], codes)
    row("Delta + Blosc(zstd 5, byte shuffle)", [Delta("int16"), Blosc("zstd", 5, Blosc.SHUFFLE)], codes)
    row(f"coarser code A=0.25 B=32, Delta + Zstd {ZSTD_LEVEL}", [Delta("int16"), Zstd(ZSTD_LEVEL)], coarse)
    agreement = fixture_a_agreement()
    if agreement:
        print("  panoptic pixels identical to float32 logits on fixture A (img0, img1; the store's test asks >= 99.9 %):")
        for name, values in agreement.items():
            print(f"    {name:<42s} " + "  ".join(f"{100 * v:.3f} %" for v in values))
    bits = []
    for c in codes:
        resid = np.diff(np.diff(c.astype(np.int32), axis=2), axis=1)  # [Q, h-1, w-1]
        _, counts = np.unique(resid, return_counts=True)
        p = counts / counts.sum()
        bits.append(float(-(p * np.log2(p)).sum()))
    print(f"  {'2-D predictor, order-0 entropy (a bound)':<44s} {np.mean(bits) * codes[0].size / 8e6:6.3f} MB"
          f"  ({np.mean(bits):.2f} bit/value; not a zarr built-in)")


def fixture_a_agreement(root: Path = FIXTURE_A) -> dict[str, list[float]]:
    """Share of panoptic pixels that stay the same when fixture A's logits go through each code (empty
    without the fixture)."""
    import json

    import torch

    from zs.evaluate.evaluation.inference import masks_to_image, panoptic_inference
    from zs.store.masks import decode_logits, encode_logits

    if not (root / "manifest.json").is_file():
        return {}
    codes = {"store code (A=0.5, B=64)": lambda x: decode_logits(encode_logits(x)),
             "coarser code (A=0.25, B=32)": lambda x: (0.25 * np.sinh(np.rint(32 * np.arcsinh(x / 0.25)) / 32)
                                                     ).astype(np.float32)}
    out = {name: [] for name in codes}
    for image in json.loads((root / "manifest.json").read_text())["images"]:
        name = Path(image["file"]).stem
        h, w = image["height"], image["width"]
        geo = {"resized_h": h, "resized_w": w, "padded_h": image["padded_input_hw"][0],
               "padded_w": image["padded_input_hw"][1]}
        cls = torch.from_numpy(np.load(root / "outputs" / f"{name}_pred_logits.npy")).softmax(-1)  # [Q, K+1]
        logits = np.load(root / "outputs" / f"{name}_pred_masks.npy")  # [Q, h, w]
        isthing = torch.arange(cls.shape[1] - 1) < 80

        def infer(masks):
            return panoptic_inference(cls, masks_to_image(torch.from_numpy(masks), geo, (h, w), is_prob=False),
                                      isthing)[0]

        full = infer(logits)
        for code_name, code in codes.items():
            out[code_name].append(float((infer(code(logits)) == full).float().mean()))
    return out


def main(argv=None) -> None:
    from toyworld.predictions import trained_like_image
    from zs.store.masks import encode_logits

    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--images", type=int, default=4)
    ap.add_argument("--queries", type=int, default=100)
    ap.add_argument("--codecs", action="store_true", help="also measure other codec choices")
    args = ap.parse_args(argv)
    rng = np.random.default_rng(0)
    isthing = [True] * 80 + [False] * 53
    images = [trained_like_image(rng, i, 133, isthing, (480, 800), args.queries).mask_logits.numpy()
              for i in range(args.images)]
    with tempfile.TemporaryDirectory() as tmp:
        sizes = [stored_bytes(encode_logits(x), Path(tmp) / f"{i}.zarr") for i, x in enumerate(images)]
    q, h, w = images[0].shape
    print(f"trained-like mask logits, {q} x {h} x {w} per image, {args.images} images: "
          f"{np.mean(sizes) / 1e6:.3f} MB per image ({8 * np.mean(sizes) / images[0].size:.2f} bit/value; "
          f"raw float16 {2 * images[0].size / 1e6:.2f} MB)")
    if args.codecs:
        alternatives(images)


if __name__ == "__main__":
    main()
