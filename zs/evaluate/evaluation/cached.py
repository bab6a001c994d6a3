"""Cached evaluation: panoptic/semantic/instance metrics from the store's validation queries and masks.

No backbone, no pixel decoder: per image, the head turns the stored query
embeddings into class probabilities, the stored mask logits
(``SplitReader.mask_logits``) are brought to the image size as Mask2Former does
(:func:`zs.evaluate.evaluation.inference.masks_to_image`), and the shared streaming
driver (:class:`zs.evaluate.evaluation.streaming.StreamingEvaluation`) runs Mask2Former's
inference and folds the image into the metrics. One image in memory at a time.
"""

from __future__ import annotations

import functools
import logging
import time
from pathlib import Path

import numpy as np
import torch
from tqdm import tqdm

from zs.errors import StoreError
from zs.evaluate.evaluation.streaming import TASKS, ImageMasks, InferenceConfig, PanopticGroundTruth, StreamingEvaluation
from zs.store.layout import EXTRACT_FAILURES

log = logging.getLogger(__name__)

GEOMETRY_KEYS = ("resized_h", "resized_w", "padded_h", "padded_w", "flip", "crop_x0", "crop_y0", "crop_h",
                 "crop_w", "view")
EMBED_BATCH = 64  # images whose query embeddings are read and classified at once


def eval_split(store, split: str = "val"):
    """The split to evaluate on; StoreError if it is absent or has no masks."""
    if split not in store.splits:
        raise StoreError(f"{store.url}: no '{split}' split to evaluate on (splits: {', '.join(store.splits) or 'none'})")
    reader = store.split(split)
    if not reader.has_masks:
        raise StoreError(f"{store.url}: split '{split}' has no masks (extract it with masks to evaluate from the cache)")
    return reader


def check_head_fits_store(head, store, reader) -> None:
    """Refuse a head made for another query size, class count, vocabulary or segmenter (ProvenanceError)."""
    import dataclasses

    from zs.heads import check_head_fits

    target = dataclasses.replace(store.identity, query_dim=reader.query_dim)  # the split's own query size
    check_head_fits(head, target, where=f"store {store.url}")


def store_ground_truth(store, split: str = "val", json_path=None, png_dir=None) -> PanopticGroundTruth:
    """COCO panoptic GT named by the store manifest's ``dataset[split]`` (or given explicitly)."""
    ds = (store.manifest.get("dataset") or {}).get(split) or {}
    json_path = json_path or ds.get("json")
    png_dir = png_dir or ds.get("png")
    if not json_path or not png_dir:
        raise StoreError(f"{store.url}/manifest.json: dataset.{split} names no ground truth (json/png); "
                         f"pass --gt-json/--gt-png")
    if ds.get("format", "coco-panoptic") != "coco-panoptic":
        raise StoreError(f"{store.url}/manifest.json: dataset.{split}.format '{ds.get('format')}' "
                         f"(cached evaluation reads coco-panoptic ground truth)")
    for p in (json_path, png_dir):
        if not Path(p).exists():
            raise StoreError(f"{p}: ground truth named by {store.url}/manifest.json not found")
    return PanopticGroundTruth(json_path, png_dir, store.vocab)


def evaluation_rows(reader, limit: int | None = None):
    """The images table of the test-time view (view 0), in row order, first ``limit`` rows."""
    images = reader.images()
    if "view" in images.columns:
        images = images[images["view"].fillna(0).astype(int) == 0]
    images = images.sort_values("row")
    return images if limit is None else images.head(int(limit))


def row_geometry(image_row) -> dict:
    return {k: image_row[k] for k in GEOMETRY_KEYS if k in image_row and image_row[k] == image_row[k]}


def _class_probs(reader, head, rows: np.ndarray, device) -> torch.Tensor:
    embed = torch.from_numpy(np.ascontiguousarray(reader.query_embed(rows))).to(device)  # [n, Q, D]
    n, q, d = embed.shape
    return head.class_probs(embed.reshape(n * q, d)).reshape(n, q, -1)  # [n, Q, K+1]


def evaluate_cached(store, head, *, tasks=TASKS, limit: int | None = None, split: str = "val", device="cpu",
                    infer: InferenceConfig = InferenceConfig(), pred_dir=None, gt_json=None, gt_png=None,
                    workers: int = 1, progress: bool = False) -> dict:
    """Evaluate ``head`` on the store's cached validation queries and masks.

    ``workers`` > 1 (CPU only) splits the images into contiguous chunks evaluated by that many
    processes of one thread each (:func:`evaluate_in_processes`); the metrics are those of
    one process (the statistics are sums; float sums up to rounding). Mask2Former's post-processing of
    one image is a chain of small tensor operations that two threads of one process barely speed up;
    two processes of one thread each do.
    Returns ``{"metrics": {task: block, "unseen_confusion": ...}, "num_images", "timing"}``.
    """
    from zs.errors import ConfigError

    if workers < 1:
        raise ConfigError(f"--workers {workers}: must be at least 1")
    reader = eval_split(store, split)
    check_head_fits_store(head, store, reader)
    gt_reader = store_ground_truth(store, split, gt_json, gt_png)
    records = evaluation_rows(reader, limit).to_dict("records")
    failed = store.read_json(split, EXTRACT_FAILURES, default=[]) or []
    if failed and limit is None:
        log.warning("split '%s': %d image(s) failed at extraction and are not scored (see %s/%s/%s; rerun "
                    "`zs extract` to retry them)", split, len(failed), store.url, split, EXTRACT_FAILURES)
    if workers > 1 and torch.device(device).type != "cpu":
        log.warning("--workers %d: evaluation on %s runs in one process", workers, device)
        workers = 1
    head = head.to(device).eval()
    t0 = time.perf_counter()
    with tqdm(total=len(records), desc="evaluate (cached)", unit="img", disable=not progress) as bar:
        if workers > 1 and len(records) > 1:
            evaluation = evaluate_in_processes(store, head, records, workers=workers, tasks=tasks, split=split,
                                               infer=infer, pred_dir=pred_dir, gt_json=gt_reader.json_path,
                                               gt_png=gt_reader.png_dir, bar=bar)
        else:
            evaluation = StreamingEvaluation(store.vocab, tasks, infer=infer, pred_dir=pred_dir)
            evaluate_records(evaluation, reader, gt_reader, head, records, device=device, infer=infer, bar=bar)
    seconds = time.perf_counter() - t0
    metrics = evaluation.evaluate()
    return {"metrics": metrics, "num_images": evaluation.num_images,
            "timing": {"seconds": seconds, "images_per_second": evaluation.num_images / max(seconds, 1e-9),
                       "workers": workers}}


def evaluate_records(evaluation: StreamingEvaluation, reader, gt_reader, head, records: list[dict], *, device,
                     infer: InferenceConfig, bar=None) -> None:
    """Fold the images-table ``records`` into ``evaluation``, in order (``head`` already on ``device``)."""
    for start in range(0, len(records), EMBED_BATCH):
        batch = records[start:start + EMBED_BATCH]
        probs = _class_probs(reader, head, np.array([r["row"] for r in batch]), device)  # [n, Q, K+1]
        load = functools.partial(_load_row, reader, gt_reader, device=device, upsample=infer.mask_upsample)
        for (gt, masks), class_probs in zip(prefetched(load, batch), probs):
            evaluation.process(gt, class_probs, masks)
            if bar is not None:
                bar.update(1)


def _image_masks(reader, row: int, geometry: dict, out_hw, device, upsample: str) -> ImageMasks:
    """The stored masks of ``row``: logits (Mask2Former's path), or their sigmoid with ``upsample="probs"``."""
    if upsample == "probs":
        masks = torch.from_numpy(reader.mask_probs(row)).to(device)  # [Q, h, w]
        return ImageMasks(masks, geometry, out_hw, is_prob=True, upsample="probs")
    masks = torch.from_numpy(reader.mask_logits(row)).to(device)  # [Q, h, w]
    return ImageMasks(masks, geometry, out_hw, is_prob=False)


def _load_row(reader, gt_reader, rec: dict, *, device, upsample: str):
    """Ground truth and stored masks of one images-table record."""
    gt = gt_reader.load(int(rec["image_id"]))
    return gt, _image_masks(reader, int(rec["row"]), row_geometry(rec), gt.ids.shape, device, upsample)


def prefetched(load, items):
    """Yield ``load(item)`` for each item, loading the next one in a background thread meanwhile.

    Reading and decoding an image's masks and ground-truth PNG (zstd, numpy, PIL: they release
    the GIL) overlaps the previous image's inference; two images are in memory at a time.
    """
    from concurrent.futures import ThreadPoolExecutor

    items = list(items)
    if not items:
        return
    with ThreadPoolExecutor(max_workers=1, thread_name_prefix="zs-eval-prefetch") as pool:
        future = pool.submit(load, items[0])
        for i in range(len(items)):
            result = future.result()
            if i + 1 < len(items):
                future = pool.submit(load, items[i + 1])
            yield result


# -- several processes ----------------------------------------------------------------------

MIN_CHUNK = 8  # images per chunk at least (a chunk's result crosses a process boundary)
CHUNKS_PER_WORKER = 8  # for the progress bar and load balance

_worker: dict = {}  # per worker process: reader, ground truth, head, evaluation settings


def chunks(items: list, workers: int) -> list[list]:
    """Contiguous chunks: about ``CHUNKS_PER_WORKER`` per worker of >= ``MIN_CHUNK`` items, and at least one per
    worker (while there are items)."""
    n = max(1, min(workers, len(items)), min(workers * CHUNKS_PER_WORKER, len(items) // MIN_CHUNK))
    size = -(-len(items) // n)
    return [items[i:i + size] for i in range(0, len(items), size)]


def _init_worker(store_url: str, split: str, gt_json: str, gt_png: str, head, tasks, infer: InferenceConfig,
                 pred_dir) -> None:
    from zs.store import open_store

    torch.set_num_threads(1)
    store = open_store(store_url, mode="r")
    _worker.update(reader=store.split(split), vocab=store.vocab, head=head.eval(), tasks=tasks, infer=infer,
                   gt_reader=PanopticGroundTruth(gt_json, gt_png, store.vocab), pred_dir=pred_dir)


def _evaluate_chunk(records: list[dict]) -> StreamingEvaluation:
    w = _worker
    evaluation = StreamingEvaluation(w["vocab"], w["tasks"], infer=w["infer"], pred_dir=w["pred_dir"])
    evaluate_records(evaluation, w["reader"], w["gt_reader"], w["head"], records, device="cpu", infer=w["infer"])
    evaluation.last_predictions = {}
    return evaluation


def evaluate_in_processes(store, head, records: list[dict], *, workers: int, tasks, split: str,
                          infer: InferenceConfig, pred_dir, gt_json, gt_png, bar=None) -> StreamingEvaluation:
    """``records`` (the images table's rows, in order) evaluated by ``workers`` one-thread processes;
    returns the merged :class:`StreamingEvaluation` (its ``evaluate()`` gives the metrics)."""
    import multiprocessing
    from concurrent.futures import ProcessPoolExecutor

    parts = chunks(records, workers)
    workers = min(workers, len(parts))
    log.info("evaluating %d images in %d chunks over %d processes", len(records), len(parts), workers)
    merged = StreamingEvaluation(store.vocab, tasks, infer=infer, pred_dir=pred_dir)
    initargs = (str(store.url), split, str(gt_json), str(gt_png), head.cpu(), tasks, infer, pred_dir)
    # spawn: a forked copy of a process that already ran torch's thread pools can hang
    with ProcessPoolExecutor(workers, mp_context=multiprocessing.get_context("spawn"), initializer=_init_worker,
                             initargs=initargs) as pool:
        for part, result in zip(parts, pool.map(_evaluate_chunk, parts)):
            merged.merge(result)
            if bar is not None:
                bar.update(len(part))
    return merged
