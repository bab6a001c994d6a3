"""Cached evaluation (fast path, all three tasks) on two cores: one process with 1 or 2 torch
threads against two one-thread processes (``evaluate_cached(workers=2)``, ``zs evaluate
--workers 2``), alternating, on a ``bench_evaluate.py`` world at COCO geometry; projects a
5,000-image COCO val evaluation from each (whole call: loop, process start-up, merge and final
metrics, scaled linearly from the images measured, so start-up is over-counted).

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
            torch.set_num_threads(threads)
            t0 = time.perf_counter()
            res = evaluate_cached(store, head, workers=workers)
            wall = time.perf_counter() - t0
            metrics[name] = bench_evaluate.headline(res["metrics"])
            if name not in best or wall < best[name][0]:
                best[name] = (wall, res["num_images"])
    print(f"cached evaluation, fast path, all tasks, COCO geometry (R50 layout, 100 queries); fastest of "
          f"{args.repeat}, configurations alternating")
    base = best[CONFIGS[0][0]][0]
    for name, (wall, n) in best.items():
        print(f"{name:<24} {wall:7.2f} s for {n} images ({1000 * wall / n:.0f} ms/image) -> 5,000 images: "
              f"{5000 * wall / n / 60:5.1f} min; {base / wall:.2f}x   {metrics[name]}")


if __name__ == "__main__":
    main()
