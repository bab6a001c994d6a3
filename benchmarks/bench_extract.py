"""End-to-end `zs extract` throughput vs a bare segmenter forward loop over the same images.

    .venv/bin/python benchmarks/bench_extract.py                 # tiny + R50-size, few images
    .venv/bin/python benchmarks/bench_extract.py --images 50 --size 512 --configs r50
    .venv/bin/python benchmarks/bench_extract.py --forward-modes --configs r50 --images 4 --threads 2

``--forward-modes`` times the segmenter forward alone, two ways interleaved in one
run: batched with T intra-op threads (numbers depend on T) vs
``zs.extract.forward.forward_images`` (one thread per image, images side by side;
numbers independent of T and the batch), and prints what the latter costs.

The R50-size configuration is Mask2Former's COCO R50 layout (ResNet-50, hidden 256,
100 queries, 6 encoder / 9 decoder layers) with random weights; images are
random-content PNGs of SIZE x SIZE in COCO panoptic format, preprocessed at native
size (shortest edge = SIZE). The ratio = e2e images/s / bare images/s (goal >= 0.85).
The bare loop gets the images already decoded and preprocessed; e2e does everything
(decode, preprocess, forward, matching, masks for val, store writes).
"""

from __future__ import annotations

import argparse
import shutil
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "tests"))  # the test worlds: toyworld


def _segmenter(root: Path, name: str, size: int, num_labels: int) -> Path:
    from toyworld.extract_inputs import tiny_segmenter_dir

    return tiny_segmenter_dir(root / f"seg_{name}", num_labels, image_size=size, resnet50=(name == "r50"))


def _bare_loop(seg, pixels, batch: int) -> float:
    """images/s of forward passes alone, batched by equal padded size like the job."""
    groups: dict = {}
    for x in pixels:
        groups.setdefault(tuple(x.shape), []).append(x)
    t0 = time.perf_counter()
    for xs in groups.values():
        for k in range(0, len(xs), batch):
            seg.forward(seg.collate(xs[k: k + batch]))
    return len(pixels) / (time.perf_counter() - t0)


def bench_forward_modes(name: str, n: int, size: int, batch: int, threads: int, repeats: int) -> dict:
    """img/s of the batched T-thread forward vs the thread-invariant one (zs.extract.forward), interleaved."""
    import statistics

    import torch

    from zs.extract.datasets import CocoPanoptic
    from zs.extract.forward import forward_images
    from zs.extract.segmenter import load_segmenter
    from toyworld.extract_inputs import TINY_CATEGORIES, write_tiny_coco_panoptic

    torch.set_num_threads(threads)
    root = Path(tempfile.mkdtemp(prefix=f"bench_fwd_{name}_"))
    try:
        i, j, p = write_tiny_coco_panoptic(root / "data", n, seed=0, size=(size, size))
        seg = load_segmenter(_segmenter(root, name, size, len(TINY_CATEGORIES)))
        ds = CocoPanoptic(i, j, p)
        pixels = [seg.preprocess(ds[k].image)[0] for k in range(n)]
        groups: dict = {}
        for x in pixels:
            groups.setdefault(tuple(x.shape), []).append(x)
        batches = [xs[k: k + batch] for xs in groups.values() for k in range(0, len(xs), batch)]
        modes = {"batched": lambda b: seg.forward(seg.collate(b)), "invariant": lambda b: forward_images(seg, b)}
        for fn in modes.values():  # warm-up
            fn(batches[0])
        times: dict = {m: [] for m in modes}
        for _ in range(repeats):
            for m, fn in modes.items():
                t0 = time.perf_counter()
                for b in batches:
                    fn(b)
                times[m].append(time.perf_counter() - t0)
        med = {m: statistics.median(t) for m, t in times.items()}
        return {"config": name, "images": n, "size": size, "batch": batch, "threads": threads,
                "batched_img_s": n / med["batched"], "invariant_img_s": n / med["invariant"],
                "cost": med["invariant"] / med["batched"] - 1.0}
    finally:
        shutil.rmtree(root, ignore_errors=True)


def bench(name: str, n: int, size: int, batch: int, split: str, threads: int) -> dict:
    import torch

    from zs.extract.datasets import CocoPanoptic
    from zs.extract.job import ExtractConfig
    from zs.extract.run import build_context, run
    from toyworld.extract_inputs import TINY_CATEGORIES, write_tiny_coco_panoptic

    torch.set_num_threads(threads)
    root = Path(tempfile.mkdtemp(prefix=f"bench_{name}_"))
    try:
        i, j, p = write_tiny_coco_panoptic(root / "data", n, seed=0, size=(size, size))
        seg_dir = _segmenter(root, name, size, len(TINY_CATEGORIES))
        cfg = ExtractConfig(split=split, store=str(root / "warm"), segmenter=str(seg_dir), images=str(i),
                            json=str(j), png=str(p), batch_size=batch, limit=min(n, batch))
        run(cfg)  # warm-up: loads + caches the segmenter, first forwards
        ctx = build_context(cfg)
        ds = CocoPanoptic(i, j, p)
        pixels = [ctx.seg.preprocess(ds[k].image)[0] for k in range(n)]
        bare = max(_bare_loop(ctx.seg, pixels, batch) for _ in range(2))  # best of 2 (first warms shapes)
        t0 = time.perf_counter()
        res = run(ExtractConfig(**{**cfg.__dict__, "store": str(root / "store"), "limit": None}))
        e2e = res.written / (time.perf_counter() - t0)
        return {"config": name, "images": n, "size": size, "batch": batch, "split": split,
                "bare_img_s": bare, "e2e_img_s": e2e, "ratio": e2e / bare}
    finally:
        shutil.rmtree(root, ignore_errors=True)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--images", type=int, default=8, help="images per configuration (tiny uses 4x)")
    ap.add_argument("--size", type=int, default=512)
    ap.add_argument("--batch", type=int, default=2)
    ap.add_argument("--split", default="val", help="val stores masks; train does not")
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--configs", default="tiny,r50")
    ap.add_argument("--forward-modes", action="store_true",
                    help="instead: batched T-thread forward vs the thread-invariant forward, side by side")
    ap.add_argument("--repeats", type=int, default=3, help="with --forward-modes: interleaved repeats (median)")
    args = ap.parse_args()
    if args.forward_modes:
        print(f"{'config':6} {'images':>6} {'size':>5} {'batch':>5} {'threads':>7} {'batched img/s':>13} "
              f"{'invariant img/s':>15} {'cost':>6}")
        for name in args.configs.split(","):
            r = bench_forward_modes(name, args.images, 128 if name == "tiny" else args.size, args.batch,
                                    args.threads, args.repeats)
            print(f"{r['config']:6} {r['images']:6d} {r['size']:5d} {r['batch']:5d} {r['threads']:7d} "
                  f"{r['batched_img_s']:13.3f} {r['invariant_img_s']:15.3f} {r['cost']:+6.1%}")
        return
    rows = []
    for name in args.configs.split(","):
        n = args.images * 4 if name == "tiny" else args.images
        size = 128 if name == "tiny" else args.size
        rows.append(bench(name, n, size, args.batch, args.split, args.threads))
    print(f"{'config':6} {'images':>6} {'size':>5} {'split':>5} {'bare img/s':>11} {'e2e img/s':>10} {'ratio':>6}")
    for r in rows:
        print(f"{r['config']:6} {r['images']:6d} {r['size']:5d} {r['split']:>5} {r['bare_img_s']:11.2f} "
              f"{r['e2e_img_s']:10.2f} {r['ratio']:6.2f}")


if __name__ == "__main__":
    main()
