"""Store benchmark: write/read throughput, batch sampling vs in-memory numpy, mask bytes per image.

    .venv/bin/python benchmarks/bench_store.py                 # 5,000 x 100 x 256 float16 (~256 MB raw)
    .venv/bin/python benchmarks/bench_store.py --images 500    # quick
    .venv/bin/python benchmarks/bench_store.py --images 45617  # COCO train seen split (needs ~3 GB disk)

Prints a side-by-side table. Data is random (embeddings compress poorly, as real ones do);
masks are realistic: soft sigmoid blobs for a few queries, weak duplicates, the rest near-empty.
"""

from __future__ import annotations

import argparse
import shutil
import tempfile
import time
from pathlib import Path

import numpy as np

from zs.store import ImageRecord, create_store, open_store
from zs.vocab import Vocabulary

K = 20


def vocab() -> Vocabulary:
    cats = [{"id": i + 1, "name": f"c{i}", "isthing": int(i < 12), "seen": i % 5 != 0} for i in range(K)]
    return Vocabulary.from_dict({"name": "bench", "categories": cats})


def manifest(q: int, d: int) -> dict:
    return {"segmenter": {"name": "bench", "sha256": "-", "num_queries": q, "query_dim": d, "num_classes": K},
            "clip": None, "vocabulary": vocab().to_dict(), "dataset": {}}


def make_pool(rng, q: int, d: int, size: int = 64) -> list[dict]:
    """A pool of per-image arrays (reused round-robin, so generation does not dominate the timing)."""
    pool = []
    for _ in range(size):
        s = int(rng.integers(3, 9))
        match = np.full(q, -1)
        match[rng.choice(q, s, replace=False)] = np.arange(s)
        pool.append({"embed": rng.normal(size=(q, d)).astype(np.float32),
                     "logits": rng.normal(size=(q, K + 1)).astype(np.float32),
                     "match": match, "cats": rng.integers(1, K + 1, size=s)})
    return pool


def record(i: int, p: dict, masks=None) -> ImageRecord:  # masks: [Q, h, w] logits
    segs = [{"segment_id": j + 1, "category_id": int(c), "iscrowd": 0, "area": 100, "bbox": [0, 0, 10, 10]}
            for j, c in enumerate(p["cats"])]
    return ImageRecord(image_id=i, file_name=f"{i}.jpg", height=800, width=1333, geometry={},
                       query_embed=p["embed"], query_logits=p["logits"], mask_logits=masks, segments=segs,
                       match_segment=p["match"], match_cost=np.where(p["match"] >= 0, 1.0, np.nan))


def bench_write(path: Path, n: int, q: int, d: int, seed: int) -> dict:
    pool = make_pool(np.random.default_rng(seed), q, d)
    store = create_store(path, manifest(q, d))
    t0 = time.perf_counter()
    with store.open_writer("train", num_images=n, num_queries=q, query_dim=d, num_classes=K) as w:
        for i in range(n):
            w.write(i, record(i, pool[i % len(pool)]))
    secs = time.perf_counter() - t0
    return {"secs": secs, "raw_mb": n * q * d * 2 / 1e6}


def bench_read(path: Path) -> dict:
    sp = open_store(path).split("train")
    c, n = sp.chunk_images, sp.num_images
    t0 = time.perf_counter()
    for lo in range(0, n, c):
        sp.query_embed(slice(lo, lo + c))
    seq = time.perf_counter() - t0
    rows = np.random.default_rng(0).choice(n, size=min(n, 2000), replace=False)
    t0 = time.perf_counter()
    for r in rows:
        sp.query_embed(slice(int(r), int(r) + 1))
    rand = (time.perf_counter() - t0) / len(rows) * n
    return {"seq_secs": seq, "random_secs_per_pass": rand}


def bench_batches(path: Path, batch: int, n_batches: int) -> dict:
    import torch  # imported before timing

    sp = open_store(path).split("train")
    t0 = time.perf_counter()
    it = sp.matched_batches(batch, seed=0, labels=range(K))
    next(it)
    first = time.perf_counter() - t0  # reading the queries table + first window of chunks
    t0 = time.perf_counter()
    for _ in range(n_batches):
        next(it)
    store_secs = time.perf_counter() - t0  # steady state (chunks decoded once, then LRU-cached)
    rows, label, seg = sp.query_labels()
    r, qi = np.nonzero(seg >= 0)
    mem = sp.query_embed(slice(None))[r, qi]  # in-memory numpy of the same matched features
    lab = label[r, qi]
    rng = np.random.default_rng(0)
    t0 = time.perf_counter()
    done = 0
    while done < n_batches:
        perm = rng.permutation(len(lab))
        for s in range(0, len(perm) - batch + 1, batch):
            idx = perm[s:s + batch]
            torch.from_numpy(mem[idx]), torch.from_numpy(lab[idx])
            done += 1
            if done == n_batches:
                break
    mem_secs = time.perf_counter() - t0
    return {"store_secs": store_secs, "mem_secs": mem_secs, "matched": int(len(lab)), "first": first}


def realistic_masks(rng, q: int, h: int, w: int) -> np.ndarray:
    """[Q, h, w] logits: 5-15 confident soft blobs, 20 weak duplicates (p < 0.5), the rest
    near-empty with smooth spatial variation (logits -13..-5)."""
    yy = np.arange(h, dtype=np.float32)[None, :, None]
    xx = np.arange(w, dtype=np.float32)[None, None, :]
    fy, fx, py, px = (rng.uniform(0.01, 0.08, size=(4, q, 1, 1)) * [[[[1]]], [[[1]]], [[[80]]], [[[80]]]])
    logits = -9.0 + 2.0 * np.cos(fy * yy + py) + 2.0 * np.cos(fx * xx + px)  # [Q, h, w]
    n_obj = int(rng.integers(5, 15))
    for j in range(n_obj + 20):
        cy, cx = rng.uniform(0, h), rng.uniform(0, w)
        ry, rx = rng.uniform(8, h / 2.5), rng.uniform(8, w / 2.5)
        dist = 1.0 - np.sqrt(((yy[0] - cy) / ry) ** 2 + ((xx[0] - cx) / rx) ** 2)  # [h, w], > 0 inside
        sharp = rng.uniform(30, 100)  # soft border of a few pixels
        if j < n_obj:
            logits[j] = np.minimum(sharp * dist, 8.0)
        else:  # weak duplicate of some object: below 0.5 everywhere
            logits[j] = np.minimum(sharp * dist - 6.0, rng.uniform(-4.0, 0.0))
    return np.clip(logits, -30, 30).astype(np.float32)


def fixture_a_masks(rng, q: int, h: int, w: int, reference: Path) -> np.ndarray:
    """[Q, h, w] logits of detectron2's Mask2Former (reference fixture A: 2 images x 20 queries at 64 x 80),
    bilinearly upsampled to (h, w), queries drawn at random: the fixture's logit distribution at COCO size."""
    import torch

    maps = np.concatenate([np.load(p) for p in sorted((reference / "outputs").glob("img?_pred_masks.npy"))])
    pick = torch.from_numpy(maps[rng.choice(len(maps), q)])[None]  # [1, Q, 64, 80]
    return torch.nn.functional.interpolate(pick, size=(h, w), mode="bilinear", align_corners=False)[0].numpy()


def native_bits_per_value(reference: Path) -> float:
    """Compressed bits per mask value of fixture A's logits at their own resolution (no upsampling)."""
    from numcodecs import Delta, Zstd

    from zs.store.masks import ZSTD_LEVEL, encode_logits

    maps = [np.load(p) for p in sorted((reference / "outputs").glob("img?_pred_masks.npy"))]
    nbytes = sum(len(Zstd(ZSTD_LEVEL).encode(Delta("int16").encode(encode_logits(m)))) for m in maps)
    return 8 * nbytes / sum(m.size for m in maps)


def bench_masks(path: Path, n: int, q: int, hw: tuple[int, int], seed: int, source: str, reference: Path) -> dict:
    rng = np.random.default_rng(seed)
    store = create_store(path, manifest(q, 8))
    pool = make_pool(rng, q, 8, size=1)
    make = realistic_masks if source == "blobs" else lambda r, *a: fixture_a_masks(r, *a, reference)
    masks = [make(rng, q, *hw) for _ in range(min(n, 4))]  # generation is not timed
    t0 = time.perf_counter()
    with store.open_writer("val", num_images=n, num_queries=q, query_dim=8, num_classes=K,
                           mask_shape=hw, chunk_images=1) as w:
        for i in range(n):
            w.write(i, record(i, pool[0], masks[i % len(masks)]))
    secs = time.perf_counter() - t0
    sp = open_store(path).split("val")
    t0 = time.perf_counter()
    for i in range(n):
        sp.mask_logits(i)
    read = time.perf_counter() - t0
    on_disk = sum(p.stat().st_size for p in (path / "val/arrays.zarr/mask_logits").rglob("*") if p.is_file())
    return {"bytes_per_image": on_disk / n, "raw_f16": q * hw[0] * hw[1] * 2, "write_s": secs / n, "read_s": read / n}


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--images", type=int, default=5000)
    ap.add_argument("--queries", type=int, default=100)
    ap.add_argument("--dim", type=int, default=256)
    ap.add_argument("--batch", type=int, default=256)
    ap.add_argument("--batches", type=int, default=500)
    ap.add_argument("--mask-images", type=int, default=8)
    ap.add_argument("--mask-shape", type=int, nargs=2, default=(200, 334))
    ap.add_argument("--dir", default=None, help="work directory (default: a temp dir, removed after)")
    ap.add_argument("--reference", type=Path,
                    default=Path(__file__).resolve().parents[1].parent / "shared/reference/d2-mask2former/A",
                    help="detectron2 fixture A (its pred_masks give realistic logits)")
    ap.add_argument("--masks-only", action="store_true", help="only the mask measurements")
    a = ap.parse_args()
    work = Path(a.dir or tempfile.mkdtemp(prefix="zs-bench-"))
    try:
        run(a, work)
    finally:
        if a.dir is None:
            shutil.rmtree(work, ignore_errors=True)


def run(a, work: Path) -> None:
    if not a.masks_only:
        run_embeddings(a, work)
    run_masks(a, work)


def run_embeddings(a, work: Path) -> None:
    w = bench_write(work / "emb", a.images, a.queries, a.dim, 0)
    r = bench_read(work / "emb")
    b = bench_batches(work / "emb", a.batch, a.batches)
    mb = w["raw_mb"]
    print(f"store benchmark: {a.images} images x {a.queries} queries x {a.dim} dims float16 ({mb:.0f} MB raw)")
    print(f"{'measure':44s} {'store':>14s} {'reference':>14s} {'ratio':>8s}")
    print(f"{'write (incl. tables, consolidation)':44s} {mb / w['secs']:10.1f} MB/s {a.images / w['secs']:9.0f} im/s")
    print(f"{'read query_embed, chunk-sequential':44s} {mb / r['seq_secs']:10.1f} MB/s "
          f"{mb / r['random_secs_per_pass']:9.1f} MB/s {r['random_secs_per_pass'] / r['seq_secs']:7.1f}x"
          "   (reference = random single rows)")
    per_s, per_m = b["store_secs"] / a.batches * 1e3, b["mem_secs"] / a.batches * 1e3
    print(f"{f'matched_batches({a.batch}), ms/batch':44s} {per_s:11.3f} ms {per_m:11.3f} ms {per_s / per_m:7.1f}x"
          f"   (reference = in-memory numpy; {b['matched']} matched queries)")
    print(f"{'matched_batches: first batch (tables + chunks)':44s} {b['first'] * 1e3:11.1f} ms")


def run_masks(a, work: Path) -> None:
    q, (h, w) = a.queries, a.mask_shape
    print(f"mask logits (int16 asinh code, Delta + Zstd), {q} x {h} x {w} per image; reference = raw float16")
    sources = ["blobs"] + (["fixture-a"] if a.reference.is_dir() else [])
    for source in sources:
        m = bench_masks(work / f"masks-{source}", a.mask_images, q, (h, w), 0, source, a.reference)
        print(f"{f'{source}: bytes/image':44s} {m['bytes_per_image'] / 1e6:11.3f} MB {m['raw_f16'] / 1e6:11.3f} MB "
              f"{m['raw_f16'] / m['bytes_per_image']:7.1f}x")
        print(f"{f'{source}: write / read per image':44s} {m['write_s'] * 1e3:11.1f} ms {m['read_s'] * 1e3:11.1f} ms")
    if a.reference.is_dir():
        bits = native_bits_per_value(a.reference)
        print(f"{'fixture-a at its own 64x80 resolution':44s} {bits:8.2f} bit/value -> "
              f"{bits * q * h * w / 8e6:.2f} MB at {q}x{h}x{w} (random weights: noise-like, an upper bound)")


if __name__ == "__main__":
    main()
