"""Cost of the NaN/Inf check a stage runs before training, next to what training reads anyway.

    .venv/bin/python benchmarks/bench_finite.py                  # the demo store's size (1000 train images)
    .venv/bin/python benchmarks/bench_finite.py --images 10000   # bigger

A toy store shaped like the demo's (Q=20 queries, D=64, CLIP tokens) is written
to a temp folder; then, in one run and side by side (median of --repeats):
``require_finite`` over query_embed + clip_global of the train split (what
``zs adapt`` checks), and one epoch of 12-image batches (what one pass of
training reads). Prints a table; timings on a shared machine are noisy, the
ratio is the figure to quote.
"""

from __future__ import annotations

import argparse
import statistics
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "tests"))  # the test worlds: toyworld


def _median_seconds(fn, repeats: int) -> float:
    times = []
    for _ in range(repeats):
        t0 = time.perf_counter()
        fn()
        times.append(time.perf_counter() - t0)
    return statistics.median(times)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--images", type=int, default=1000)
    ap.add_argument("--queries", type=int, default=20)
    ap.add_argument("--dim", type=int, default=64)
    ap.add_argument("--repeats", type=int, default=5)
    args = ap.parse_args()

    from zs.store.finite import require_finite
    from toyworld.store import write_toy_store

    with tempfile.TemporaryDirectory() as tmp:
        store = write_toy_store(Path(tmp) / "s", n_train=args.images, n_val=0, num_queries=args.queries,
                                dim=args.dim, text_dim=32, masks=False, clip=True)

        def check():
            require_finite(store.split("train"), ("query_embed", "clip_global"), stage="bench")

        def epoch():
            for _ in store.split("train").image_batches(12, seed=0, epochs=1):
                pass

        t_check, t_epoch = _median_seconds(check, args.repeats), _median_seconds(epoch, args.repeats)
    print(f"train split: {args.images} images x {args.queries} queries x {args.dim} dims (float16)")
    print(f"{'finite check (query_embed + clip_global)':44s} {t_check * 1e3:9.1f} ms")
    print(f"{'one epoch of 12-image batches':44s} {t_epoch * 1e3:9.1f} ms")
    print(f"{'check / epoch':44s} {t_check / t_epoch:9.3f}")


if __name__ == "__main__":
    main()
