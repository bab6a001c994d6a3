"""Headline benchmark: one PADing iteration with the backbone in the loop vs read from the store.

Part 1 (per iteration, 12 images):
  * backbone in the loop: an R50-size Mask2Former (transformers, random
    weights, built from a config, nothing downloaded) forward at SIZE x SIZE
    (default 928: PADing's panoptic training input, ``INPUT.IMAGE_SIZE: 928`` with
    the LSJ mapper's ``FixedSizeCrop(928, 928)``; ``--size 512`` was the earlier, reduced setting),
    Hungarian matching against random GT (zs.extract.matching: class + BCE +
    dice costs on 12,544 sampled points), then one generator step + one
    classifier step (PADing defaults);
  * from the store: the same generator + classifier step on a batch of 12
    images read from a COCO-shaped store (Q=100, D=256, K=133, Dt=512).
Part 2: a PADing-default run (20,000 iterations by default) on that store; wall time.
When fewer iterations run (``--iterations``), the 20,000-iteration time is printed as an
extrapolation from the measured per-iteration time, labelled as such.

Every timing is printed with the process CPU time and the machine's load average
(the dev box is shared; with 1 thread, CPU time is the less load-sensitive figure).

    python benchmarks/bench_generator.py                       # defaults (a few minutes on CPU)
    python benchmarks/bench_generator.py --store-images 45617  # full COCO-shaped store (~2.3 GB)
    python benchmarks/bench_generator.py --skip-full           # part 1 only
    python benchmarks/bench_generator.py --threads 2 --compare-threads ""   # 2 threads only
    python benchmarks/bench_generator.py --store-images 45617 --threads 2 --skip-step   # the full 20k run only
    python benchmarks/bench_generator.py --device cuda --json out.json   # on a GPU (benchmarks/gpu_check.sh)

On ``--device cuda`` every timing synchronises the device first; the precision policy
(full fp32, no TF32) is the one every zs command uses.
"""

from __future__ import annotations

import argparse
import os
import shutil
import statistics
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
import torch

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "tests"))  # the test worlds: toyworld

K, UNSEEN, Q, D, DT = 133, 14, 100, 256, 512


def coco_vocab():
    from zs.vocab import PADING_UNSEEN_IDS, Vocabulary

    filler = [i for i in range(1, 201) if i not in PADING_UNSEEN_IDS][: K - len(PADING_UNSEEN_IDS)]
    ids = sorted(filler + list(PADING_UNSEEN_IDS))  # 133 ids, 14 of them PADing's unseen
    cats = [{"id": i, "name": f"c{i}", "isthing": int(i <= 90), "seen": i not in PADING_UNSEEN_IDS} for i in ids]
    return Vocabulary.from_dict({"name": "coco-shaped", "categories": cats})


def _record(rng, row, means, w_logits, seen_ids, cat_ids, spread=0.3, noise=0.7):
    from zs.store import ImageRecord

    s = int(rng.integers(3, 12))
    labels = rng.choice(seen_ids, size=s)
    match = np.full(Q, -1, np.int64)
    match[rng.choice(Q, size=s, replace=False)] = np.arange(s)
    embed = noise * rng.standard_normal((Q, D), dtype=np.float32)  # [Q, D]
    hit = match >= 0
    embed[hit] = means[labels[match[hit]]] + spread * rng.standard_normal((s, D), dtype=np.float32)
    cost = np.where(hit, 1.0, np.nan).astype(np.float32)
    segs = [{"segment_id": j + 1, "category_id": int(cat_ids[k]), "iscrowd": 0, "area": 100, "bbox": [0, 0, 10, 10]}
            for j, k in enumerate(labels)]
    geo = {"resized_h": 800, "resized_w": 1216, "padded_h": 800, "padded_w": 1216, "flip": False,
           "crop_x0": 0, "crop_y0": 0, "crop_h": 800, "crop_w": 1216, "view": None}
    return ImageRecord(image_id=row + 1, file_name=f"{row + 1:012d}.jpg", height=800, width=1216, geometry=geo,
                       query_embed=embed, query_logits=embed @ w_logits, segments=segs, match_segment=match,
                       match_cost=cost)


def make_store(path: Path, n_images: int, seed: int = 0):
    """A COCO-shaped store: Gaussian class clusters (means from the text embeddings) for matched
    queries, noise for unmatched ones, 3-11 segments per image, seen classes only."""
    from zs.heads import HeadConfig, LinearHead, save_head
    from zs.manifest import hash_obj, make_manifest
    from zs.store import create_store

    t = time.perf_counter()
    vocab = coco_vocab()
    rng = np.random.default_rng(seed)
    text = rng.standard_normal((K, DT)).astype(np.float32)
    text /= np.linalg.norm(text, axis=1, keepdims=True)
    means = (text @ rng.standard_normal((DT, D)).astype(np.float32)).astype(np.float32)  # [K, D]
    seg = {"name": "random-r50", "path": None, "sha256": hash_obj({"bench": seed}), "num_queries": Q,
           "query_dim": D, "num_classes": K, "config": {}}
    store = create_store(path, {"segmenter": seg, "clip": None, "vocabulary": vocab.to_dict(),
                                "dataset": {"train": {"format": "coco-panoptic", "num_images": n_images}}})
    store.write_text("default", text, {"source": "random"})
    w_logits = np.zeros((D, K + 1), np.float32)
    w_logits[:, :K] = means.T / 64.0
    seen_ids = np.asarray(vocab.seen_indices)
    with store.open_writer("train", num_images=n_images, num_queries=Q, query_dim=D, num_classes=K,
                           chunk_images=64, inputs_sha256=hash_obj({"bench": seed})) as writer:
        for row in writer.pending():
            writer.write(row, _record(np.random.default_rng([seed, row]), row, means, w_logits, seen_ids,
                                           np.asarray(vocab.ids)))
    cfg = HeadConfig(kind="linear", query_dim=D, num_classes=K, seen=[bool(x) for x in vocab.seen_mask()],
                     vocab_sha256=vocab.sha256, segmenter_sha256=seg["sha256"], method="seen-only")
    head = LinearHead(cfg)
    with torch.no_grad():
        head.fc.weight.copy_(torch.from_numpy(w_logits.T))
        head.fc.bias.zero_()
    save_head(head, store.seen_head_path, make_manifest("head", config=cfg, method="seen-only"))
    return store, time.perf_counter() - t


def sync(device) -> None:
    """Wait for the device's queued work (timings on CUDA)."""
    if torch.device(device).type == "cuda":
        torch.cuda.synchronize(device)


def backbone_iteration(model, images, seed: int = 0) -> dict:
    """Forward + matching for a batch of images; returns the image-batch dict the loop consumes."""
    from zs.extract.matching import match_queries, sample_points

    dev = images.device
    g = torch.Generator().manual_seed(seed)
    with torch.inference_mode():
        out = model(pixel_values=images)
        hidden = out.transformer_decoder_last_hidden_state
        embed = model.model.transformer_module.decoder.layernorm(hidden)  # [B, Q, D] class-head input
    labels = torch.full((images.shape[0], Q), K, dtype=torch.long)
    h, w = images.shape[-2:]
    for b in range(images.shape[0]):
        n_gt = int(torch.randint(3, 12, (1,), generator=g))
        gt_labels = torch.randint(0, K, (n_gt,), generator=g)
        gt_masks = (torch.rand(n_gt, h // 4, w // 4, generator=g) > 0.5).float()
        pts = sample_points(12544, seed=seed, image_id=b)
        match, _ = match_queries(out.class_queries_logits[b], out.masks_queries_logits[b], gt_labels.to(dev),
                                 gt_masks.to(dev), pts.to(dev))
        hit = match >= 0
        labels[b, torch.from_numpy(hit)] = gt_labels[torch.from_numpy(match[hit])]
    return {"embed": embed.float(), "label": labels.to(dev)}


def to_step_batch(batch: dict) -> dict:
    embed = batch["embed"].reshape(-1, D)
    label = batch["label"].reshape(-1)
    m = label < K
    return {"real": embed[m], "labels": label[m], "unmatched": embed[~m], "all_embed": embed, "all_labels": label}


def build_r50_mask2former():
    from transformers import Mask2FormerForUniversalSegmentation

    from toyworld.extract_inputs import tiny_segmenter_config

    torch.manual_seed(0)
    model = Mask2FormerForUniversalSegmentation(tiny_segmenter_config(K, resnet50=True)).eval()
    return model, sum(p.numel() for p in model.parameters())


def load() -> str:
    return "load average " + ", ".join(f"{x:.2f}" for x in os.getloadavg())


def time_store_steps(cfg, st, stream, repeats: int) -> tuple[float, float]:
    """Median wall and CPU seconds of ``repeats`` generator + classifier steps read from the store."""
    from zs.generate.train import train_step

    train_step(cfg, st, next(stream))  # warm-up
    wall, cpu = [], []
    for _ in range(repeats):
        batch = next(stream)
        sync(cfg.device)
        t, c = time.perf_counter(), time.process_time()
        train_step(cfg, st, batch)
        sync(cfg.device)
        wall.append(time.perf_counter() - t)
        cpu.append(time.process_time() - c)
    return statistics.median(wall), statistics.median(cpu)


def cold_read_per_iteration(store_path: str, n_images: int, chunks: int = 4) -> float:
    """Seconds of chunk decoding per iteration when the store is larger than the reader's cache.

    Each epoch decodes every image chunk once (chunk-contiguous windows), so one iteration of
    ``n_images`` images costs (decode time of one chunk) * n_images / chunk_images."""
    from zs.store import open_store

    split = open_store(store_path).split("train")
    arr, c = split.array("query_embed"), split.chunk_images
    times = []
    for ch in range(min(chunks, split.num_images // c)):
        t = time.perf_counter()
        np.asarray(arr[ch * c:(ch + 1) * c], dtype=np.float32)  # what ChunkCache does on a miss
        times.append(time.perf_counter() - t)
    return statistics.median(times) * n_images / c if times else float("nan")


def part1(store_path: str, out_dir: Path, size: int, n_images: int, repeats: int, compare_threads=(),
          device: str = "cpu") -> dict:
    from zs.generate.config import FitConfig
    from zs.generate.data import batch_stream, open_inputs
    from zs.generate.train import build_state, train_step
    from zs.runtime import resolve_device

    dev = resolve_device(device)
    cfg = FitConfig(store=store_path, out=str(out_dir / "unused"), device=str(dev), batch_images=n_images).resolved()
    inputs = open_inputs(cfg)
    st = build_state(cfg, inputs, dev)
    stream = batch_stream(cfg, inputs, dev)
    threads = torch.get_num_threads()
    store_wall, store_cpu = time_store_steps(cfg, st, stream, repeats)
    other = {}
    for n in compare_threads:
        torch.set_num_threads(n)
        other[n] = time_store_steps(cfg, st, stream, repeats)
    torch.set_num_threads(threads)
    load_store = load()
    model, n_params = build_r50_mask2former()
    model = model.to(dev)
    images = torch.randn(n_images, 3, size, size).to(dev)
    if dev.type == "cuda":  # warm-up: cuDNN / cuBLAS initialisation is not the iteration's cost
        backbone_iteration(model, images[:1])
    sync(dev)
    t, c = time.perf_counter(), time.process_time()
    batch = backbone_iteration(model, images)
    parts = train_step(cfg, st, to_step_batch(batch))
    sync(dev)
    backbone_time, backbone_cpu = time.perf_counter() - t, time.process_time() - c
    cold = cold_read_per_iteration(store_path, n_images)
    return {"cold_read_s": cold, "store_s": store_wall, "store_cpu_s": store_cpu, "other_threads": other, "load_store": load_store,
            "backbone_s": backbone_time, "backbone_cpu_s": backbone_cpu, "load_backbone": load(),
            "params": n_params, "matched": int((batch["label"] < K).sum()), "losses": parts}


def part2(store_path: str, out_dir: Path, iterations: int, device: str = "cpu") -> dict:
    from zs.generate.config import FitConfig
    from zs.generate.train import fit_generator

    cfg = FitConfig(store=store_path, out=str(out_dir / "gen"), device=device, iterations=iterations,
                    checkpoint_every=max(iterations // 4, 1), progress=True)
    t, c = time.perf_counter(), time.process_time()
    fit_generator(cfg)
    sync(cfg.device if cfg.device != "auto" else "cpu")
    return {"wall_s": time.perf_counter() - t, "cpu_s": time.process_time() - c, "iterations": iterations,
            "load": load()}


def report(args, r: dict) -> None:
    print(f"\nOne PADing iteration ({args.images} images), device {args.device}, torch threads={args.threads}:")
    print(f"  backbone in the loop  (R50 Mask2Former, {r['params'] / 1e6:.1f} M params, {args.size}x{args.size}, "
          f"random weights; forward + zs.extract.matching Hungarian + gen/cls step): {r['backbone_s']:.3f} s "
          f"(CPU {r['backbone_cpu_s']:.3f} s; {r['load_backbone']})")
    print(f"  read from the store   (same gen/cls step, median of {args.repeats}):              "
          f"{r['store_s'] * 1e3:.1f} ms (CPU {r['store_cpu_s'] * 1e3:.1f} ms; {r['load_store']})")
    for n, (wall, cpu) in r["other_threads"].items():
        print(f"  read from the store, torch threads={n}:                                       "
              f"{wall * 1e3:.1f} ms (CPU {cpu * 1e3:.1f} ms)")
    print(f"  ratio: {r['backbone_s'] / r['store_s']:.0f}x wall, {r['backbone_cpu_s'] / r['store_cpu_s']:.0f}x CPU")
    print(f"  (batches came from the reader's chunk cache; a store larger than the cache adds ~"
          f"{r['cold_read_s'] * 1e3:.1f} ms/iteration of chunk decoding, measured on this store)")


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--store-images", type=int, default=2000, help="images in the COCO-shaped store (full: 45617)")
    ap.add_argument("--size", type=int, default=928,
                    help="backbone input size (square; PADing trains on 928 x 928 LSJ crops)")
    ap.add_argument("--images", type=int, default=12, help="images per iteration")
    ap.add_argument("--repeats", type=int, default=20, help="store iterations timed (median)")
    ap.add_argument("--iterations", type=int, default=20000, help="part 2 iterations")
    ap.add_argument("--skip-full", action="store_true", help="skip part 2")
    ap.add_argument("--skip-step", action="store_true", help="skip part 1 (only the long run)")
    ap.add_argument("--threads", type=int, default=1,
                    help="torch threads (1: on a shared 2-core box, 2 threads measured slower)")
    ap.add_argument("--compare-threads", default="2",
                    help="comma-separated extra thread counts for the store step (empty: none)")
    ap.add_argument("--workdir", default=None, help="where to write the store (default: a temp dir, removed)")
    ap.add_argument("--device", default="cpu", help="cpu | cuda | cuda:N (store step, backbone and the long run)")
    ap.add_argument("--json", default=None, help="also write the figures to this JSON file")
    args = ap.parse_args()
    figures = {"args": vars(args), "torch": torch.__version__}
    torch.set_num_threads(args.threads)
    compare = [int(x) for x in args.compare_threads.split(",") if x.strip()]
    work = Path(args.workdir or tempfile.mkdtemp(prefix="zs-bench-gen-"))
    try:
        if (work / "store" / "seen_head" / "config.json").is_file():  # finished store of an earlier --workdir run
            from zs.store import open_store

            n = open_store(work / "store").split("train").num_images
            if n != args.store_images:
                raise SystemExit(f"{work}/store holds {n} images, not --store-images {args.store_images}")
            how = "reused from --workdir"
        else:
            _, t_store = make_store(work / "store", args.store_images)
            how = f"written in {t_store:.1f} s"
        print(f"COCO-shaped store: {args.store_images} images x {Q} queries x {D} (K={K}, {UNSEEN} unseen, "
              f"Dt={DT}) {how} ({load()})")
        if not args.skip_step:
            r = part1(str(work / "store"), work, args.size, args.images, args.repeats, compare, args.device)
            report(args, r)
            figures["step"] = {k: v for k, v in r.items() if k != "losses"}
            figures["step"]["ratio_wall"] = r["backbone_s"] / r["store_s"]
            _write_json(args.json, figures)
        if not args.skip_full:
            shutil.rmtree(work / "gen", ignore_errors=True)
            f = part2(str(work / "store"), work, args.iterations, args.device)
            figures["run"] = f
            _write_json(args.json, figures)
            per_it = f["wall_s"] / f["iterations"]
            print(f"\nPADing-default run: {f['iterations']} iterations on the {args.store_images}-image store, "
                  f"torch threads={args.threads}: {f['wall_s']:.1f} s wall ({f['wall_s'] / 60:.2f} min, "
                  f"{per_it * 1e3:.1f} ms/it), CPU {f['cpu_s']:.1f} s ({f['load']})")
            if f["iterations"] < 20000:
                print(f"  EXTRAPOLATED (not run) to 20,000 iterations at that rate: {20000 * per_it / 60:.1f} min wall, "
                      f"{20000 * f['cpu_s'] / f['iterations'] / 60:.1f} min CPU")
    finally:
        if not args.workdir:
            shutil.rmtree(work, ignore_errors=True)


def _write_json(path, figures: dict) -> None:
    if path:
        from zs.manifest import write_json_atomic
        from zs.runtime import compute_entry

        write_json_atomic(path, {**figures, "compute": compute_entry()})


if __name__ == "__main__":
    np.set_printoptions(precision=3)
    main()
