"""Cached vs full-image evaluation of the same head on the same validation images.

Builds a random Mask2Former (ResNet-50 layout, 100 queries, hidden 256 by
default; ``--tiny`` for the test-size model), a few generated COCO-panoptic
images, a head (the segmenter's class head, sharpened so queries pass the 0.8
threshold), extracts the val split with ``zs extract``'s job, then times

* cached evaluation (``zs.evaluate.cached.evaluate_cached``: stored queries + masks), and
* full-image evaluation (``zs.evaluate.full_image.evaluate_full_image``: segmenter end to end),

and prints seconds, images/s, the speed-up, and PQ/mIoU of both (and their
difference). Extraction is a one-time cost and is reported separately.

The default geometry is COCO val's: 480 x 640 images, segmenter input resized
to Mask2Former's COCO test size (shortest edge 800, longest 1333), so both the
segmenter forward and the post-processing (masks resized to 480 x 640) cost
what they cost on COCO. ``--image-size 320 --input-size 320`` is the reduced
setting of earlier measurements.

    .venv/bin/python benchmarks/bench_evaluate.py                      # 8 COCO-sized images, R50 layout
    .venv/bin/python benchmarks/bench_evaluate.py --image-size 320 --input-size 320   # reduced
    .venv/bin/python benchmarks/bench_evaluate.py --n-images 50 --device cuda
"""

from __future__ import annotations

import argparse
import functools
import json
import tempfile
import time
from pathlib import Path

import torch


def parse_args(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--n-images", type=int, default=8)
    ap.add_argument("--image-size", type=int, default=480,
                    help="image height (width = 4/3 of it; COCO val images are mostly 480 x 640)")
    ap.add_argument("--input-size", type=int, default=800,
                    help="segmenter input shortest edge (Mask2Former COCO test: 800; longest edge 5/3 of it)")
    ap.add_argument("--tiny", action="store_true", help="tiny test segmenter instead of the R50 layout")
    ap.add_argument("--tasks", default="panoptic,semantic,instance")
    ap.add_argument("--device", default="cpu")
    ap.add_argument("--threads", type=int, default=1, help="torch CPU threads")
    ap.add_argument("--workdir", default=None, help="keep the generated data here (default: a temp dir)")
    ap.add_argument("--reuse", action="store_true",
                    help="reuse the world (segmenter, head, store) already in --workdir instead of building it")
    ap.add_argument("--repeat", type=int, default=1,
                    help="time each path this many times and keep the fastest (a shared, loaded box is noisy)")
    return ap.parse_args(argv)


def build_world(root: Path, args):
    from transformers import Mask2FormerForUniversalSegmentation

    from zs.extract.testing import tiny_segmenter_config, save_segmenter_dir, write_tiny_coco_panoptic
    from zs.vocab import Vocabulary

    size = args.image_size
    images, json_path, png = write_tiny_coco_panoptic(root / "data", args.n_images, seed=0,
                                                      size=(size, size * 4 // 3))
    cats = json.loads(json_path.read_text())["categories"]
    vocab = Vocabulary.from_coco_categories(cats, unseen=("stripe", "grass"), name="bench")
    vocab.save(root / "data" / "vocab.json")
    torch.manual_seed(0)
    model = Mask2FormerForUniversalSegmentation(
        tiny_segmenter_config(vocab.num_classes, resnet50=not args.tiny)).eval()
    last = model.model.transformer_module.decoder.mask_predictor.mask_embedder.get_submodule("2.0")
    with torch.no_grad():  # random masks are ~0.5 everywhere; give them a trained model's contrast
        last.weight.mul_(150.0)
        last.bias.zero_()
    seg_dir = save_segmenter_dir(model, root / "segmenter", shortest_edge=args.input_size,
                                 longest_edge=args.input_size * 5 // 3)
    return images, json_path, png, vocab, seg_dir


def build_head(segmenter, vocab, out_dir: Path):
    from zs.heads import HeadConfig, LinearHead, save_head
    from zs.manifest import make_manifest

    cfg = HeadConfig(kind="linear", query_dim=segmenter.query_dim, num_classes=vocab.num_classes,
                     seen=[c.seen for c in vocab.categories], vocab_sha256=vocab.sha256,
                     segmenter_sha256=segmenter.sha256, method="bench-sharpened")
    head = LinearHead(cfg)
    with torch.no_grad():
        head.fc.weight.copy_(segmenter.class_head.weight.detach().cpu() * 20)
        head.fc.bias.copy_(segmenter.class_head.bias.detach().cpu() * 20)
    save_head(head, out_dir, make_manifest("zs-head", config=cfg, seed=0))
    return head.eval()


def extract(root: Path, seg_dir, images, json_path, png, device):
    from zs.extract.job import ExtractConfig
    from zs.extract.run import run
    from zs.store import open_store

    t0 = time.perf_counter()
    run(ExtractConfig(split="val", store=str(root / "store"), segmenter=str(seg_dir), images=str(images),
                      json=str(json_path), png=str(png), vocab=str(root / "data" / "vocab.json"), masks=True,
                      batch_size=1, workers=1, num_points=1024, device=device))
    return open_store(root / "store"), time.perf_counter() - t0


def headline(metrics: dict) -> dict:
    out = {}
    for task, key in (("panoptic", "pq"), ("semantic", "miou"), ("instance", "ap50")):
        if task in metrics:
            out[f"{task}.{key}"] = (metrics[task].get("all") or {}).get(key)
    return out


def prepare(root: Path, args):
    """(segmenter, head, store, dataset, vocab, extraction seconds or None when reused)."""
    from zs.extract.datasets import CocoPanoptic
    from zs.extract.segmenter import load_segmenter
    from zs.heads import load_head
    from zs.store import open_store
    from zs.vocab import Vocabulary

    data = root / "data"
    if args.reuse and (root / "store").exists():
        segmenter = load_segmenter(root / "segmenter", device=args.device)
        dataset = CocoPanoptic(data / "images", data / "panoptic.json", data / "panoptic")
        return (segmenter, load_head(root / "head").eval(), open_store(root / "store"), dataset,
                Vocabulary.load(data / "vocab.json"), None)
    images, json_path, png, vocab, seg_dir = build_world(root, args)
    segmenter = load_segmenter(seg_dir, device=args.device)
    head = build_head(segmenter, vocab, root / "head")
    store, extract_s = extract(root, seg_dir, images, json_path, png, args.device)
    return segmenter, head, store, CocoPanoptic(images, json_path, png), vocab, extract_s


def fastest(repeat: int, run):
    """The result of ``run()`` with the smallest ``timing.seconds`` over ``repeat`` runs, with
    ``cpu_seconds`` (process CPU time of that run, all threads: less sensitive to other users' load)."""
    results = []
    for _ in range(max(1, repeat)):
        cpu0 = time.process_time()
        res = run()
        res["cpu_seconds"] = time.process_time() - cpu0  # includes the final metrics (COCOeval etc.)
        results.append(res)
    return min(results, key=lambda r: r["timing"]["seconds"])


def main(argv=None) -> None:
    from zs.evaluate.cached import evaluate_cached
    from zs.evaluate.full_image import evaluate_full_image
    from zs.evaluate.streaming import InferenceConfig, parse_tasks

    args = parse_args(argv)
    torch.set_num_threads(args.threads)
    tasks = parse_tasks(args.tasks)
    with tempfile.TemporaryDirectory() as tmp:
        root = Path(args.workdir or tmp)
        segmenter, head, store, dataset, vocab, extract_s = prepare(root, args)
        evaluate_full_image(segmenter, head, dataset, vocab, tasks=tasks, device=args.device, limit=1)  # warm-up:
        evaluate_cached(store, head, tasks=tasks, device=args.device, limit=1)  # lazy imports, allocator
        timed = functools.partial(fastest, args.repeat)
        full = timed(lambda: evaluate_full_image(segmenter, head, dataset, vocab, tasks=tasks, device=args.device))
        cached = timed(lambda: evaluate_cached(store, head, tasks=tasks, device=args.device))
        probs = timed(lambda: evaluate_cached(store, head, tasks=tasks, device=args.device,
                                              infer=InferenceConfig(mask_upsample="probs")))
    model = "tiny" if args.tiny else "R50 layout (Q=100, D=256)"
    print(f"segmenter: {model}, {args.n_images} images of {args.image_size}x{args.image_size * 4 // 3}, segmenter input "
          f"shortest edge {args.input_size}, tasks {','.join(tasks)}, "
          f"device {args.device}, {args.threads} thread(s)")
    if extract_s is not None:
        print(f"one-time extraction (zs extract job, masks on): {extract_s:.2f} s")
    print(f"timing: fastest of {args.repeat} run(s) per path")
    print(f"{'path':<28}{'seconds':>10}{'img/s':>10}{'cpu s':>9}  metrics (fractions)")
    for name, res in (("full image", full), ("cached (logits upsample)", cached), ("cached (probs upsample)", probs)):
        t = res["timing"]["seconds"]
        print(f"{name:<28}{t:>10.3f}{res['num_images'] / t:>10.2f}{res['cpu_seconds']:>9.2f}  "
              f"{headline(res['metrics'])}")
    print(f"speed-up cached vs full image: {full['timing']['seconds'] / cached['timing']['seconds']:.1f}x "
          f"(CPU time incl. final metrics: {full['cpu_seconds'] / cached['cpu_seconds']:.1f}x)")
    f, c, p = headline(full["metrics"]), headline(cached["metrics"]), headline(probs["metrics"])
    for key in f:
        if f[key] is not None and c[key] is not None:
            print(f"|delta {key}| full vs cached: logits {abs(f[key] - c[key]):.4f}, probs {abs(f[key] - p[key]):.4f}")


if __name__ == "__main__":
    main()
