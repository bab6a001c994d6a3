"""Side-by-side: the zs adapt methods on a toy store (matched val query accuracy, seen/unseen/HM, time).

    .venv/bin/python benchmarks/adapt_methods.py            # small, a minute or two on 2 cores
    .venv/bin/python benchmarks/adapt_methods.py --n-train 2000 --gen-iters 2000 --steps 3000

Accuracy = top-1 over K+1 (no-object included) of matched val queries, as the
heads are used at inference; HM = 2su/(s+u). Not a PQ: see `zs evaluate`.
"""

from __future__ import annotations

import argparse
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
import torch

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "tests"))  # the test worlds: toyworld


def accuracy(head, reader, classes) -> float:
    q = reader.queries(columns=["row", "query", "label"])
    q = q[q["label"].isin(list(classes))]
    emb = reader.query_embed(np.unique(q["row"].to_numpy()))
    row_pos = {r: i for i, r in enumerate(np.unique(q["row"].to_numpy()))}
    x = torch.from_numpy(emb[[row_pos[r] for r in q["row"]], q["query"].to_numpy()])
    with torch.no_grad():
        pred = head(x).argmax(-1).numpy()
    return float((pred == q["label"].to_numpy()).mean())


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--n-train", type=int, default=256)
    ap.add_argument("--n-val", type=int, default=64)
    ap.add_argument("--gen-iters", type=int, default=300)
    ap.add_argument("--gen-kind", default="gmmn")
    ap.add_argument("--steps", type=int, default=None, help="adapt steps (default: per-method defaults)")
    ap.add_argument("--gamma", default=None, help="calibration for every method (value or 'auto')")
    ap.add_argument("--seed", type=int, default=0)
    args = ap.parse_args()
    torch.set_num_threads(1)

    from zs.adapt import AdaptConfig, adapt
    from zs.generate import FitConfig, fit_generator
    from zs.heads import load_head
    from toyworld.store import write_toy_store

    root = Path(tempfile.mkdtemp(prefix="zs-bench-adapt-"))
    store = write_toy_store(root / "store", n_train=args.n_train, n_val=args.n_val, seed=args.seed)
    t = time.perf_counter()
    gen = fit_generator(FitConfig(store=str(store.url), out=str(root / "gen"), kind=args.gen_kind,
                                  schedule="two-stage", iterations=args.gen_iters, device="cpu", seed=args.seed))
    print(f"generator {args.gen_kind}: {args.gen_iters} iterations in {time.perf_counter() - t:.1f}s")
    val = store.split("val")
    seen, unseen = store.vocab.seen_indices, store.vocab.unseen_indices
    print(f"{'method':<12} {'steps':>6} {'time s':>7} {'seen':>6} {'unseen':>7} {'HM':>6} {'gamma':>7}")
    runs = [("seen-only", {}), ("projection", {}), ("classifier", {"generator": gen}), ("v2c", {}),
            ("cpa", {"generator": gen, "init_head": root / "v2c"})]
    for method, kw in runs:
        cfg = AdaptConfig(store=store, method=method, out=root / method, device="cpu", seed=args.seed,
                          steps=args.steps if method != "seen-only" else None, gamma=args.gamma, **kw)
        t = time.perf_counter()
        head = load_head(adapt(cfg))
        dt = time.perf_counter() - t
        s, u = accuracy(head, val, seen), accuracy(head, val, unseen)
        hm = 2 * s * u / (s + u) if s + u > 0 else 0.0
        print(f"{method:<12} {cfg.num_steps:>6} {dt:>7.1f} {s:>6.3f} {u:>7.3f} {hm:>6.3f} {head.cfg.gamma:>7.3f}")


if __name__ == "__main__":
    main()
