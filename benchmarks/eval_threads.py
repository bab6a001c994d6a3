"""Cached evaluation (fast path, all three tasks) on two cores: one process with 1 or 2 torch
threads against two one-thread processes (``evaluate_cached(workers=2)``, ``zs evaluate
--workers 2``), alternating, on a ``bench_evaluate.py`` world at COCO geometry.

Each configuration evaluates the first ``--small`` and the first ``--large`` images of the world
(whole calls: loop, process start-up, merge and final metrics). The two wall times give a fixed
cost (start-up, warm-up) and a cost per image, ``wall = fixed + per_image * n``; the 5,000-image
COCO val projection is ``fixed + 5000 * per_image``. The default sizes split into whole rounds of
the two-process path's 8-image chunks (2 and 4 chunks), so neither size leaves a worker idle.

    .venv/bin/python benchmarks/eval_threads.py --workdir W --n-images 40 --repeat 2
    # builds the world in W first if it is not there (R50 layout, 480 x 640 images, input 800;
    # bench_evaluate.py --workdir W builds the same world with 8 images)
"""

from __future__ import annotations

import argparse
import time
from pathlib import Path

CONFIGS = (("1 process x 1 thread", 1, 1), ("1 process x 2 threads", 1, 2), ("2 processes x 1 thread", 2, 1))


def main(argv=None) -> None:
    import torch

    import bench_evaluate
    from zs.evaluate.evaluation.cached import evaluate_cached

    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--workdir", required=True, help="a bench_evaluate.py world (built here if absent)")
    ap.add_argument("--n-images", type=int, default=40, help="images of the world when it is built here")
    ap.add_argument("--small", type=int, default=16, help="images of the first timed call")
    ap.add_argument("--large", type=int, default=32, help="images of the second timed call")
    ap.add_argument("--repeat", type=int, default=2)
    args = ap.parse_args(argv)
    root = Path(args.workdir)
    torch.set_num_threads(1)
    bench_args = bench_evaluate.parse_args(["--workdir", str(root), "--n-images", str(args.n_images), "--reuse"])
    _, head, store, _, _, _ = bench_evaluate.prepare(root, bench_args)
    evaluate_cached(store, head, limit=1)  # warm-up: lazy imports, allocator
    best: dict = {}
    metrics: dict = {}
    for _ in range(args.repeat):
        for name, workers, threads in CONFIGS:
            for n in (args.small, args.large):
                torch.set_num_threads(threads)
                t0 = time.perf_counter()
                res = evaluate_cached(store, head, workers=workers, limit=n)
                wall = time.perf_counter() - t0
                metrics[name] = bench_evaluate.headline(res["metrics"])
                key = (name, res["num_images"])
                best[key] = min(wall, best.get(key, float("inf")))
    torch.set_num_threads(1)
    print(f"cached evaluation, fast path, all tasks, COCO geometry (R50 layout, 100 queries); fastest of "
          f"{args.repeat} per size, configurations alternating; wall = fixed + per image x n")
    base = None
    for name, _, _ in CONFIGS:
        (n1, t1), (n2, t2) = sorted((n, t) for (c, n), t in best.items() if c == name)
        per_image = (t2 - t1) / (n2 - n1)
        fixed = t2 - per_image * n2
        base = base or per_image
        print(f"{name:<24} {n1} images {t1:6.2f} s, {n2} images {t2:6.2f} s -> {1000 * per_image:4.0f} ms/image "
              f"+ {fixed:5.2f} s fixed; 5,000 images: {(fixed + 5000 * per_image) / 60:5.1f} min; "
              f"{base / per_image:.2f}x per image   {metrics[name]}")


if __name__ == "__main__":
    main()
