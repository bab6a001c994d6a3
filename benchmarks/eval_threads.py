"""Cached evaluation (fast path, all three tasks) with 1 and 2 torch threads, alternating, on a
``bench_evaluate.py`` world; projects a 5,000-image evaluation from each (loop + final metrics,
scaled linearly).

    .venv/bin/python benchmarks/bench_evaluate.py --workdir W        # once: builds the world
    .venv/bin/python benchmarks/eval_threads.py --workdir W --repeat 3
"""

from __future__ import annotations

import argparse
import time


def main(argv=None) -> None:
    import torch

    from zs.evaluate.evaluation.cached import evaluate_cached
    from zs.heads import load_head
    from zs.store import open_store

    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--workdir", required=True, help="a bench_evaluate.py --workdir (store + head)")
    ap.add_argument("--repeat", type=int, default=3)
    args = ap.parse_args(argv)
    store, head = open_store(f"{args.workdir}/store"), load_head(f"{args.workdir}/head").eval()
    evaluate_cached(store, head, limit=1)  # warm-up
    best: dict = {}
    for _ in range(args.repeat):
        for threads in (1, 2):
            torch.set_num_threads(threads)
            c0, t0 = time.process_time(), time.perf_counter()
            res = evaluate_cached(store, head)
            wall, cpu = time.perf_counter() - t0, time.process_time() - c0
            if threads not in best or wall < best[threads][0]:
                best[threads] = (wall, cpu, res["num_images"])
    print(f"cached evaluation, fast path, all tasks; fastest of {args.repeat}, thread counts alternating")
    for threads, (wall, cpu, n) in best.items():
        print(f"{threads} thread(s): {wall:.2f} s wall, {cpu:.2f} s CPU for {n} images -> 5,000 images: "
              f"{5000 * wall / n / 60:.1f} min wall")
    print(f"2 threads vs 1: {best[1][0] / best[2][0]:.2f}x")


if __name__ == "__main__":
    main()
