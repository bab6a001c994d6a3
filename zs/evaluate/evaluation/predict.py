"""A run's predictions again, for chosen images: what panels and ``zs export`` draw on.

A run directory (``zs evaluate``'s ``RUN_DIR``) records in ``metrics.json``
what it was evaluated on: the store (cached) or the segmenter and dataset
(full image), the head, the thresholds and ``--limit``. :func:`load_run`
reads that file (the reports read it through here too), :func:`run_source` the
inputs it names; :func:`predict` runs the same inference again through the
shared streaming driver (:class:`zs.evaluate.evaluation.streaming.StreamingEvaluation`),
so the predictions are the ones the run was scored on, and hands each image's
outputs to a writer (:class:`zs.evaluate.evaluation.streaming.PredictionWriter` or
:class:`Captured`). Predictions written by ``zs evaluate --save-predictions``
(``RUN_DIR/predictions``) are read back by :func:`saved_panoptic` instead.
"""

from __future__ import annotations

import dataclasses
import functools
import os
from pathlib import Path

import numpy as np

from zs.errors import ZsError
from zs.manifest import read_json


@dataclasses.dataclass
class RunSource:
    """What a run was evaluated on, read back from its ``metrics.json``."""

    run_dir: Path
    mode: str  # "cached" | "full-image"
    head: str
    vocab: object  # zs.vocab.Vocabulary
    gt_json: Path
    gt_png: Path
    images_dir: Path | None  # the dataset's image folder (None when the run does not name it)
    infer: object  # zs.evaluate.evaluation.streaming.InferenceConfig
    limit: int | None
    provenance: dict

    @functools.cached_property
    def image_files(self) -> dict[int, str]:
        """image_id -> image file name, from the ground-truth JSON's ``images`` (read once)."""
        return {int(d["id"]): str(d["file_name"]) for d in read_json(self.gt_json).get("images", [])}

    def image_path(self, image_id: int) -> Path | None:
        name = self.image_files.get(int(image_id))
        return None if name is None or self.images_dir is None else self.images_dir / name


def load_run(run_dir: str | os.PathLike) -> dict:
    """``RUN_DIR/metrics.json`` (ZsError naming it if missing or malformed)."""
    path = Path(run_dir) / "metrics.json"
    if not path.is_file():
        raise ZsError(f"{path}: no metrics.json in run directory {run_dir}")
    metrics = read_json(path)
    if not isinstance(metrics, dict):
        raise ZsError(f"{path}: expected a JSON object")
    return metrics


def run_source(run_dir) -> RunSource:
    """The inputs of ``RUN_DIR/metrics.json``; ZsError naming the missing field or file."""
    from zs.evaluate.evaluation.streaming import InferenceConfig

    run_dir = Path(run_dir)
    prov = load_run(run_dir).get("provenance") or {}
    where = f"{run_dir / 'metrics.json'}"
    mode = prov.get("mode")
    if mode not in ("cached", "full-image"):
        raise ZsError(f"{where}: provenance.mode is {mode!r}: not a `zs evaluate` run (no predictions to redo)")
    head = (prov.get("head") or {}).get("path")
    dataset = prov.get("dataset") or {}
    if not head or not Path(head).is_dir():
        raise ZsError(f"{where}: head {head!r} named by provenance.head.path not found")
    if not dataset.get("json") or not dataset.get("png"):
        raise ZsError(f"{where}: provenance.dataset names no ground truth (json/png)")
    for key in ("json", "png"):
        if not Path(dataset[key]).exists():
            raise ZsError(f"{dataset[key]}: ground truth named by {where} (provenance.dataset.{key}) not found")
    thresholds = {k: v for k, v in (prov.get("thresholds") or {}).items()
                  if k in {f.name for f in dataclasses.fields(InferenceConfig)}}
    thresholds.setdefault("exact", True)  # runs scored before the fast path existed used the exact one
    return RunSource(run_dir, mode, head, _vocab(prov, where), Path(dataset["json"]), Path(dataset["png"]),
                     Path(dataset["images"]) if dataset.get("images") else None, InferenceConfig(**thresholds),
                     prov.get("limit"), prov)


def _vocab(prov: dict, where: str):
    from zs.store import open_store
    from zs.vocab import Vocabulary

    if prov["mode"] == "cached":
        url = (prov.get("store") or {}).get("url")
        if not url or not Path(url).exists():
            raise ZsError(f"{where}: store {url!r} named by provenance.store.url not found")
        return open_store(url, mode="r").vocab
    source = str((prov.get("vocabulary") or {}).get("source") or "")
    if source.startswith("store "):
        return open_store(source[len("store "):], mode="r").vocab
    if not source or not Path(source).is_file():
        raise ZsError(f"{where}: vocabulary {source!r} named by provenance.vocabulary.source not found")
    return Vocabulary.load(source)


class Captured:
    """A writer for :class:`StreamingEvaluation` that keeps each image's panoptic output in memory."""

    def __init__(self):
        self.panoptic: dict[int, tuple[np.ndarray, list[dict]]] = {}  # image_id -> (seg [H, W], segments)

    def write_panoptic(self, image_id: int, png_name: str, seg: np.ndarray, segments: list[dict]) -> None:
        self.panoptic[int(image_id)] = (seg, segments)

    def write_semantic(self, png_name: str, labels: np.ndarray) -> None:
        pass

    def close(self, instance_results) -> None:
        pass


def evaluated_ids(source: RunSource) -> list[int]:
    """The image ids the run evaluated, in its order (``--limit`` respected)."""
    if source.mode == "cached":
        from zs.evaluate.evaluation.cached import eval_split, evaluation_rows
        from zs.store import open_store

        store = open_store(source.provenance["store"]["url"], mode="r")
        reader = eval_split(store, source.provenance["store"].get("split", "val"))
        return [int(i) for i in evaluation_rows(reader, source.limit)["image_id"]]
    ids = sorted(source.image_files)
    return ids if source.limit is None else ids[: int(source.limit)]


def predict(source: RunSource, image_ids, writer, *, tasks=("panoptic",), device="cpu", progress=False):
    """Run ``source``'s inference on ``image_ids`` (in order), each image's outputs to ``writer``.

    Returns the :class:`StreamingEvaluation` (its ``results`` hold COCO instance results).
    """
    from zs.evaluate.evaluation.streaming import StreamingEvaluation
    from zs.heads import load_head

    evaluation = StreamingEvaluation(source.vocab, tasks, infer=source.infer)
    evaluation.writer = writer
    head = load_head(source.head).to(device).eval()
    run = _predict_cached if source.mode == "cached" else _predict_full_image
    run(source, head, [int(i) for i in image_ids], evaluation, device, progress)
    return evaluation


def _predict_cached(source, head, ids, evaluation, device, progress) -> None:
    import torch
    from tqdm import tqdm

    from zs.evaluate.evaluation.cached import (_load_row, check_head_fits_store, eval_split, evaluation_rows,
                                    store_ground_truth)
    from zs.store import open_store

    split = source.provenance["store"].get("split", "val")
    store = open_store(source.provenance["store"]["url"], mode="r")
    reader = eval_split(store, split)
    check_head_fits_store(head, store, reader)
    gt_reader = store_ground_truth(store, split, source.gt_json, source.gt_png)
    rows = evaluation_rows(reader).set_index("image_id", drop=False)
    missing = [i for i in ids if i not in rows.index]
    if missing:
        raise ZsError(f"store {store.url}: image ids {missing[:5]} not in its '{split}' split")
    with torch.inference_mode():
        for image_id in tqdm(ids, desc="predict (cached)", unit="img", disable=not progress):
            rec = rows.loc[image_id].to_dict()
            embed = torch.from_numpy(np.ascontiguousarray(reader.query_embed(np.array([rec["row"]])))).to(device)
            class_probs = head.class_probs(embed[0])  # [Q, K+1]
            gt, masks = _load_row(reader, gt_reader, rec, device=device, upsample=source.infer.mask_upsample)
            evaluation.process(gt, class_probs, masks)


def _predict_full_image(source, head, ids, evaluation, device, progress) -> None:
    from tqdm import tqdm

    from zs.evaluate.evaluation.full_image import _ground_truth, check_head_fits_segmenter, predict_image
    from zs.extract.datasets import CocoPanoptic
    from zs.extract.segmenter import load_segmenter

    if source.images_dir is None:
        raise ZsError(f"{source.run_dir / 'metrics.json'}: provenance.dataset names no image folder")
    dataset = CocoPanoptic(source.images_dir, source.gt_json, source.gt_png)
    index = {int(info["id"]): i for i, info in enumerate(dataset.image_infos)}
    segmenter = load_segmenter(source.provenance["segmenter"]["path"], device=device)
    check_head_fits_segmenter(head, segmenter, source.vocab)
    for image_id in tqdm(ids, desc="predict (full image)", unit="img", disable=not progress):
        if image_id not in index:
            raise ZsError(f"{source.gt_json}: no image with id {image_id}")
        sample = dataset[index[image_id]]
        class_probs, masks = predict_image(segmenter, head, sample.image, device)
        evaluation.process(_ground_truth(dataset, index[image_id], sample), class_probs, masks)


def saved_panoptic(run_dir, image_ids) -> dict[int, tuple[np.ndarray, list[dict]]] | None:
    """``RUN_DIR/predictions`` (``zs evaluate --save-predictions``) for ``image_ids``, or None if not all there."""
    from zs.evaluate.metrics import read_panoptic_png
    from zs.manifest import read_json

    pred = Path(run_dir) / "predictions"
    if not (pred / "panoptic.json").is_file():
        return None
    by_id = {int(a["image_id"]): a for a in read_json(pred / "panoptic.json").get("annotations", [])}
    out = {}
    for i in image_ids:
        ann = by_id.get(int(i))
        if ann is None or not (pred / "panoptic" / ann["file_name"]).is_file():
            return None
        out[int(i)] = (read_panoptic_png(pred / "panoptic" / ann["file_name"]), list(ann["segments_info"]))
    return out
