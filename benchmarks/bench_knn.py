"""kNN for ``zs diagnose``: FAISS flat inner-product index vs numpy brute force.

COCO scale by default: ~50,000 real matched validation queries x 256 dims as
the base, 14 unseen classes x 1,000 synthetic features as queries, k = 10,
cosine. Prints a side-by-side table (seconds, queries/s, ratio) and checks that
both return the same neighbours (up to float32 near-ties).

    .venv/bin/python benchmarks/bench_knn.py                       # 50,000 x 256, 14 x 1,000
    .venv/bin/python benchmarks/bench_knn.py --base 10000 --per-class 200   # quick
    .venv/bin/python benchmarks/bench_knn.py --device cuda         # GPU index when faiss-gpu is installed
"""

from __future__ import annotations

import argparse
import time

import numpy as np


def make_data(n_base: int, dim: int, classes: int, per_class: int, seed: int):
    """Clustered features like matched queries: 133 class means + noise; queries near 14 of them."""
    rng = np.random.default_rng(seed)
    means = rng.normal(size=(133, dim)).astype(np.float32)
    base = means[rng.integers(0, 133, n_base)] + 0.6 * rng.normal(size=(n_base, dim)).astype(np.float32)
    q_means = means[rng.choice(133, classes, replace=False)]
    queries = np.repeat(q_means, per_class, 0) + 0.6 * rng.normal(size=(classes * per_class, dim)).astype(np.float32)
    return base.astype(np.float32), queries.astype(np.float32)


def best_of(fn, repeat: int):
    times, out = [], None
    for _ in range(repeat):
        t = time.perf_counter()
        out = fn()
        times.append(time.perf_counter() - t)
    return min(times), out


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--base", type=int, default=50_000, help="real features (index size)")
    p.add_argument("--dim", type=int, default=256)
    p.add_argument("--classes", type=int, default=14)
    p.add_argument("--per-class", type=int, default=1000)
    p.add_argument("--k", type=int, default=10)
    p.add_argument("--repeat", type=int, default=2)
    p.add_argument("--device", default="cpu", help="cpu | cuda (FAISS GPU index with faiss-gpu)")
    p.add_argument("--seed", type=int, default=0)
    a = p.parse_args()

    import faiss

    from zs.evaluate.diagnose.knn import KnnIndex, brute_force_knn, neighbours_match

    base, queries = make_data(a.base, a.dim, a.classes, a.per_class, a.seed)
    t_build, index = best_of(lambda: KnnIndex(base, device=a.device), 1)
    t_faiss, (s_f, i_f) = best_of(lambda: index.search(queries, a.k), a.repeat)
    t_np, (s_n, i_n) = best_of(lambda: brute_force_knn(base, queries, a.k), a.repeat)
    same = neighbours_match(i_f, s_f, i_n, s_n, tol=1e-5)
    m = len(queries)
    print(f"kNN: base {a.base} x {a.dim}, queries {a.classes} x {a.per_class} = {m}, k = {a.k}, cosine; "
          f"faiss {faiss.__version__} ({index.backend}, {faiss.omp_get_max_threads()} threads); best of {a.repeat}")
    rows = [("faiss " + index.backend.split("-")[1], t_faiss, t_build), ("numpy brute force", t_np, 0.0)]
    print(f"{'method':20s} {'search s':>10s} {'queries/s':>12s} {'build s':>9s}")
    for name, t, tb in rows:
        print(f"{name:20s} {t:10.3f} {m / t:12.0f} {tb:9.3f}")
    print(f"ratio numpy / faiss: {t_np / t_faiss:.2f}x")
    print(f"identical neighbours: {(i_f == i_n).mean() * 100:.3f}% "
          f"(rest float32 near-ties: {'yes' if same.all() else 'NO, ' + str((~same).sum()) + ' differ'})")


if __name__ == "__main__":
    main()
