"""``zs export``: a run's predictions in the formats other tools open.

* ``coco-panoptic``: ``panoptic/*.png`` + ``panoptic.json`` (images, annotations,
  categories): what panopticapi, detectron2 and ``zs metrics panoptic`` read.
* ``semantic``: ``semantic/*.png`` (contiguous class index per pixel, uint8,
  uint16 past 255 classes), ``ground_truth/*.png`` (the same from the panoptic
  ground truth, void and crowd 255: what ``zs metrics semantic`` compares with)
  + ``labels.json`` (index -> category id, name, seen).
* ``coco-results``: ``results.json``, the COCO results list (RLE masks, pycocotools'
  ``loadRes`` / ``zs metrics instance``), and ``instances.json``, the same
  predictions as a COCO instances dataset (images, categories, annotations with
  RLE, bbox, score): what FiftyOne's ``COCODetectionDataset`` imports.

Each is a layout FiftyOne imports natively (``ImageSegmentationDirectory`` for
the label PNGs, ``COCODetectionDataset`` for ``instances.json``; docs/report.md).

The predictions are the run's own: read from ``RUN_DIR/predictions`` when
``zs evaluate --save-predictions`` wrote them, else made again by the run's
inference (:mod:`zs.evaluate.evaluation.predict`) on the images it evaluated.
"""

from __future__ import annotations

import shutil
from pathlib import Path

import numpy as np

from zs.errors import ConfigError, ZsError
from zs.evaluate.evaluation.streaming import IGNORE_LABEL, PredictionWriter
from zs.manifest import read_json, write_json_atomic

FORMATS = ("coco-panoptic", "semantic", "coco-results")
TASK_OF = {"coco-panoptic": "panoptic", "semantic": "semantic", "coco-results": "instance"}


def export_run(run_dir, fmt: str, out=None, *, device: str = "cpu", progress: bool = False) -> Path:
    """Write ``run_dir``'s predictions as ``fmt`` into ``out`` (default ``RUN_DIR/export/FMT``); returns ``out``."""
    from zs.evaluate.evaluation.predict import evaluated_ids, run_source

    if fmt not in FORMATS:
        raise ConfigError(f"--format {fmt}: choose from {', '.join(FORMATS)}")
    out = Path(out) if out is not None else Path(run_dir) / "export" / fmt
    source = run_source(run_dir)
    out.mkdir(parents=True, exist_ok=True)
    if not _copy_saved(Path(run_dir) / "predictions", fmt, out):
        ids = evaluated_ids(source)
        writer = ExportWriter(out, _categories(source), TASK_OF[fmt])
        evaluation = _predict(source, ids, writer, fmt, device, progress)
        writer.close(evaluation.results if fmt == "coco-results" else None)
    _finish(source, fmt, out)
    return out


def _predict(source, ids, writer, fmt, device, progress):
    from zs.evaluate.evaluation.predict import predict

    return predict(source, ids, writer, tasks=(TASK_OF[fmt],), device=device, progress=progress)


def _categories(source) -> list[dict]:
    """The vocabulary as COCO categories (+ the GT table's ``color``/``supercategory`` when it has them)."""
    table = {int(c["id"]): c for c in read_json(source.gt_json).get("categories", [])}
    out = []
    for c in source.vocab.categories:
        extra = {k: table[c.id][k] for k in ("color", "supercategory") if k in table.get(c.id, {})}
        out.append({"id": c.id, "name": c.name, "isthing": int(c.isthing), **extra})
    return out


class ExportWriter(PredictionWriter):
    """:class:`PredictionWriter` for one format: only its folder, and JSON files completed in :meth:`close`."""

    def __init__(self, out_dir, categories: list[dict], task: str):
        super().__init__(out_dir, categories)
        self.task = task
        for sub in ("panoptic", "semantic"):
            if sub != task and (self.out / sub).is_dir() and not any((self.out / sub).iterdir()):
                (self.out / sub).rmdir()

    def close(self, instance_results) -> None:
        if self.task == "panoptic":
            write_json_atomic(self.out / "panoptic.json", {"annotations": self.panoptic, "categories": self.categories})
        if self.task == "instance":
            write_json_atomic(self.out / "results.json", instance_results or [])


def _copy_saved(pred: Path, fmt: str, out: Path) -> bool:
    """Copy ``zs evaluate --save-predictions`` files for ``fmt`` if they are there."""
    if fmt == "coco-panoptic" and (pred / "panoptic.json").is_file() and (pred / "panoptic").is_dir():
        shutil.copytree(pred / "panoptic", out / "panoptic", dirs_exist_ok=True)
        shutil.copy2(pred / "panoptic.json", out / "panoptic.json")
        return True
    if fmt == "semantic" and (pred / "semantic").is_dir() and any((pred / "semantic").iterdir()):
        shutil.copytree(pred / "semantic", out / "semantic", dirs_exist_ok=True)
        return True
    if fmt == "coco-results" and (pred / "instances.json").is_file():
        shutil.copy2(pred / "instances.json", out / "results.json")
        return True
    return False


def _finish(source, fmt: str, out: Path) -> None:
    """Complete the format's metadata: COCO ``images``/``categories``, the semantic label table."""
    images = [d for d in read_json(source.gt_json).get("images", [])]
    if fmt == "coco-panoptic":
        pan = read_json(out / "panoptic.json")
        done = {int(a["image_id"]) for a in pan.get("annotations", [])}
        pan["images"] = [d for d in images if int(d["id"]) in done]
        pan["categories"] = _categories(source)
        write_json_atomic(out / "panoptic.json", pan)
    elif fmt == "semantic":
        classes = [{"index": i, "id": c.id, "name": c.name, "isthing": int(c.isthing), "seen": bool(c.seen)}
                   for i, c in enumerate(source.vocab.categories)]
        write_json_atomic(out / "labels.json", {"classes": classes, "num_classes": len(classes),
                                                "format": "PNG of contiguous class indices (0..K-1)",
                                                "ground_truth_ignore_label": IGNORE_LABEL})
        _write_semantic_ground_truth(source, out)
    elif fmt == "coco-results":
        results = read_json(out / "results.json")
        if not isinstance(results, list):
            raise ZsError(f"{out / 'results.json'}: expected a COCO results list")
        write_json_atomic(out / "instances.json", results_as_dataset(results, images, _categories(source)))


def _write_semantic_ground_truth(source, out: Path) -> None:
    """``ground_truth/NAME.png`` for every exported ``semantic/NAME.png`` (void and crowd: 255)."""
    from PIL import Image

    from zs.evaluate.evaluation.streaming import PanopticGroundTruth, semantic_ground_truth

    gt_reader = PanopticGroundTruth(source.gt_json, source.gt_png, source.vocab)
    by_name = {a["file_name"]: image_id for image_id, a in gt_reader.by_image.items()}
    index_of_id = source.vocab.id_to_index()
    (out / "ground_truth").mkdir(exist_ok=True)
    for png in sorted((out / "semantic").glob("*.png")):
        if png.name not in by_name:
            raise ZsError(f"{png}: no ground-truth annotation named {png.name} in {source.gt_json}")
        labels = semantic_ground_truth(gt_reader.load(by_name[png.name]), index_of_id)  # [H, W]
        dtype = np.uint8 if labels.max(initial=0) < 256 else np.uint16
        Image.fromarray(labels.astype(dtype)).save(out / "ground_truth" / png.name)


def results_as_dataset(results: list[dict], images: list[dict], categories: list[dict]) -> dict:
    """A COCO results list -> a COCO instances dataset (annotations carry ``score``; bbox from the RLE)."""
    from pycocotools import mask as mask_util

    done = {int(r["image_id"]) for r in results}
    anns = []
    for k, r in enumerate(results):
        rle = {"size": r["segmentation"]["size"], "counts": r["segmentation"]["counts"].encode("ascii")}
        anns.append({"id": k + 1, "image_id": int(r["image_id"]), "category_id": int(r["category_id"]),
                     "segmentation": r["segmentation"], "score": float(r["score"]), "iscrowd": 0,
                     "area": float(mask_util.area(rle)), "bbox": [float(v) for v in np.asarray(mask_util.toBbox(rle))]})
    return {"images": [d for d in images if int(d["id"]) in done], "annotations": anns,
            "categories": [c for c in categories if c.get("isthing")]}
