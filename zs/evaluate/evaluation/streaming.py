"""One image at a time: inference, metric accumulation, standard-format predictions.

Shared by the cached path (:mod:`zs.evaluate.evaluation.cached`) and the full-image path
(:mod:`zs.evaluate.evaluation.full_image`): both hand :class:`StreamingEvaluation` the
class probabilities and image-size mask probabilities of one image with its
ground truth, so the two paths differ only in where those come from.

Ground truth is COCO panoptic (JSON + PNG). Semantic GT = the panoptic GT
mapped to contiguous labels, void and crowd -> 255. Instance GT = the thing
segments as COCO instances (RLE masks; crowd kept as ``iscrowd``).
"""

from __future__ import annotations

import dataclasses
import logging
from pathlib import Path

import numpy as np
import torch

from zs.errors import ConfigError, ZsError
from zs.evaluate.evaluation import inference
from zs.evaluate.evaluation.image_masks import ImageMasks
from zs.manifest import read_json, write_json_atomic

log = logging.getLogger(__name__)

TASKS = ("panoptic", "semantic", "instance")
IGNORE_LABEL = 255


def parse_tasks(tasks) -> tuple[str, ...]:
    """'panoptic,semantic' | iterable -> validated tuple (ConfigError on an unknown task)."""
    items = [t.strip() for t in (tasks.split(",") if isinstance(tasks, str) else tasks) if t.strip()]
    bad = [t for t in items if t not in TASKS]
    if bad or not items:
        raise ConfigError(f"--tasks {','.join(items) or '(empty)'}: unknown task(s) {bad} (choose from {', '.join(TASKS)})")
    return tuple(t for t in TASKS if t in items)


# -- ground truth ---------------------------------------------------------------------------

@dataclasses.dataclass
class GroundTruthImage:
    image_id: int
    file_name: str  # the panoptic PNG's name
    ids: np.ndarray  # [H, W] int64 segment ids, 0 = void
    segments: list[dict]  # id, category_id, iscrowd, area


def id_to_rgb(ids: np.ndarray) -> np.ndarray:
    """Segment ids -> COCO panoptic PNG colours; [H, W] -> [H, W, 3] uint8."""
    ids = ids.astype(np.int64)
    return np.stack([ids % 256, ids // 256 % 256, ids // 65536 % 256], axis=-1).astype(np.uint8)


class PanopticGroundTruth:
    """COCO panoptic ground truth (JSON + PNG folder), read one image at a time."""

    def __init__(self, json_path: str | Path, png_dir: str | Path, vocab):
        self.json_path, self.png_dir = Path(json_path), Path(png_dir)
        data = read_json(self.json_path)
        if "annotations" not in data:
            raise ZsError(f"{self.json_path}: no 'annotations' (not a COCO panoptic file)")
        self.by_image = {int(a["image_id"]): a for a in data["annotations"]}
        known = set(vocab.ids)
        for ann in data["annotations"]:
            for seg in ann["segments_info"]:
                if int(seg["category_id"]) not in known:
                    raise ZsError(f"{self.json_path}: image {ann['image_id']} segment {seg['id']} has category "
                                  f"{seg['category_id']}, not in the vocabulary '{vocab.name}'")

    def load(self, image_id: int) -> GroundTruthImage:
        from zs.evaluate.metrics import read_panoptic_png

        ann = self.by_image.get(int(image_id))
        if ann is None:
            raise ZsError(f"{self.json_path}: no annotation for image_id {image_id}")
        path = self.png_dir / ann["file_name"]
        if not path.is_file():
            raise ZsError(f"{path}: ground-truth PNG not found (image_id {image_id})")
        ids = read_panoptic_png(path)  # [H, W]
        return GroundTruthImage(int(image_id), ann["file_name"], ids, list(ann["segments_info"]))


def semantic_ground_truth(gt: GroundTruthImage, index_of_id: dict[int, int]) -> np.ndarray:
    """Panoptic GT -> contiguous label map; void and crowd -> 255. [H, W] int64."""
    out = np.full(gt.ids.shape, IGNORE_LABEL, dtype=np.int64)
    for seg in gt.segments:
        if not seg.get("iscrowd", 0):
            out[gt.ids == seg["id"]] = index_of_id[int(seg["category_id"])]
    return out


def encode_rle(masks: np.ndarray) -> list[dict]:
    """Binary masks [n, H, W] -> COCO RLEs (counts as str, JSON-ready)."""
    if len(masks) == 0:
        return []
    return encode_rle_columns(np.ascontiguousarray(masks.transpose(0, 2, 1)))


def encode_rle_columns(masks_t: np.ndarray) -> list[dict]:
    """Binary masks stored column by column, [n, W, H] C-contiguous -> COCO RLEs of the [H, W] masks."""
    from pycocotools import mask as mask_util

    if len(masks_t) == 0:
        return []
    masks = masks_t.transpose(2, 1, 0)  # [H, W, n] Fortran-contiguous: the layout pycocotools reads (no copy)
    rles = mask_util.encode(masks.view(np.uint8) if masks.dtype == bool else masks.astype(np.uint8, order="F"))
    for rle in rles:
        rle["counts"] = rle["counts"].decode("ascii")
    return rles


# -- prediction files -----------------------------------------------------------------------

class PredictionWriter:
    """COCO panoptic PNG + JSON, semantic PNGs (contiguous labels), COCO results JSON (RLE)."""

    def __init__(self, out_dir: str | Path, categories: list[dict]):
        self.out = Path(out_dir)
        self.categories = categories
        self.panoptic: list[dict] = []
        (self.out / "panoptic").mkdir(parents=True, exist_ok=True)
        (self.out / "semantic").mkdir(parents=True, exist_ok=True)

    def write_panoptic(self, image_id: int, png_name: str, seg: np.ndarray, segments: list[dict]) -> None:
        from PIL import Image

        Image.fromarray(id_to_rgb(seg)).save(self.out / "panoptic" / png_name)
        self.panoptic.append({"image_id": int(image_id), "file_name": png_name, "segments_info": segments})

    def write_semantic(self, png_name: str, labels: np.ndarray) -> None:
        from PIL import Image

        dtype = np.uint8 if labels.max(initial=0) < 256 else np.uint16
        Image.fromarray(labels.astype(dtype)).save(self.out / "semantic" / png_name)

    def close(self, instance_results: list[dict] | None) -> None:
        write_json_atomic(self.out / "panoptic.json", {"annotations": self.panoptic, "categories": self.categories})
        if instance_results is not None:
            write_json_atomic(self.out / "instances.json", instance_results)


# -- the per-image driver -------------------------------------------------------------------

@dataclasses.dataclass
class InferenceConfig:
    """Mask2Former's test-time thresholds (DESIGN §8) and how closely its post-processing is followed.

    ``exact``: Mask2Former's post-processing as written (every query upsampled for semantic, two
    resizes). Otherwise (default) the fast path: one resize per query, only the queries each task
    can use (panoptic: above ``object_threshold``; semantic: :func:`inference.semantic_support`
    with ``semantic_min_prob``; instance: those in the top-k pairs whose class probability is at
    least ``instance_min_prob``, i.e. detections scored >= that; empty masks not upsampled), each
    brought once.
    """

    object_threshold: float = inference.OBJECT_THRESHOLD
    overlap_threshold: float = inference.OVERLAP_THRESHOLD
    topk: int = inference.TOPK_PER_IMAGE
    mask_upsample: str = "logits"  # cached masks: "logits" (probs -> logits first) | "probs"
    exact: bool = False
    semantic_min_prob: float = 0.05
    instance_min_prob: float = 0.01


class StreamingEvaluation:
    """Inference + metrics for a stream of images; only summable state is kept
    (except COCO instance results, which pycocotools needs as a list)."""

    def __init__(self, vocab, tasks, *, infer: InferenceConfig = InferenceConfig(), pred_dir=None):
        from zs.evaluate import metrics

        self.vocab, self.tasks, self.infer = vocab, parse_tasks(tasks), infer
        self.isthing = torch.tensor(vocab.isthing_mask(), dtype=torch.bool)  # [K]
        self.index_of_id = vocab.id_to_index()
        self.categories = [{"id": c.id, "name": c.name, "isthing": int(c.isthing)} for c in vocab.categories]
        unseen_ids = [vocab.ids[i] for i in vocab.unseen_indices]
        self.panoptic = metrics.PanopticEvaluator(self.categories, unseen_ids=unseen_ids)
        self.semantic = metrics.SemSegEvaluator(vocab.num_classes, ignore_label=IGNORE_LABEL,
                                                unseen=vocab.unseen_indices, names=vocab.names)
        self.gt_images: list[dict] = []
        self.gt_annotations: list[dict] = []
        self.results: list[dict] = []
        self.writer = PredictionWriter(pred_dir, self.categories) if pred_dir else None
        self.num_images = 0
        self.last_predictions: dict = {}  # the last image's predictions, by task (for agreement checks)

    def process(self, gt: GroundTruthImage, class_probs: torch.Tensor, masks: ImageMasks) -> None:
        """class_probs [Q, K+1]; masks: the image's masks (brought to masks.out_hw = the GT size)."""
        if masks.out_hw != tuple(gt.ids.shape):
            raise ZsError(f"image {gt.image_id}: masks are for size {masks.out_hw}, "
                          f"ground truth {gt.file_name} is {gt.ids.shape}")
        self.last_predictions = {}
        masks.fast = not self.infer.exact  # the inference config decides how masks reach the image size
        if self.infer.exact and "semantic" in self.tasks:
            masks.select()  # every query is needed: upsample once, the other tasks index into it
        elif not self.infer.exact:
            masks.hold(self._fast_queries(class_probs, masks), instance="instance" in self.tasks)  # each once
        if "panoptic" in self.tasks:
            self._process_panoptic(gt, class_probs, masks)
        if "semantic" in self.tasks:
            self._process_semantic(gt, class_probs, masks)
        if "instance" in self.tasks:
            self._process_instance(gt, class_probs, masks)
        self.num_images += 1

    def _kept_queries(self, class_probs) -> torch.Tensor:
        """Queries panoptic inference keeps (score above the threshold, not no-object); sorted [n]."""
        scores, labels = class_probs.max(-1)  # [Q]
        return torch.nonzero(labels.ne(class_probs.shape[1] - 1) & (scores > self.infer.object_threshold))[:, 0]

    def _instance_queries(self, class_probs) -> torch.Tensor:
        """Queries in the top-k (query, class) pairs over all K classes; sorted [t]."""
        k = min(self.infer.topk, class_probs[:, :-1].numel())
        return torch.unique(class_probs[:, :-1].flatten().topk(k).indices // (class_probs.shape[1] - 1))

    def _instance_pairs(self, class_probs):
        """The top-k (query, class) pairs, things only: (top queries [t], class prob [n], label [n], position in
        top [n]). The fast path drops pairs whose class probability is below ``instance_min_prob``."""
        top = self._instance_queries(class_probs)  # [t]
        scores, labels, queries = inference.instance_candidates(class_probs[top], self.isthing.to(class_probs.device),
                                                                topk=self.infer.topk)  # [n] each
        if not self.infer.exact:
            keep = scores >= self.infer.instance_min_prob
            scores, labels, queries = scores[keep], labels[keep], queries[keep]
        return top, scores, labels, queries

    def _fast_queries(self, class_probs, masks: ImageMasks) -> torch.Tensor:
        """The union of the queries the requested tasks use on the fast path; sorted [n]."""
        parts = [torch.zeros(0, dtype=torch.long, device=class_probs.device)]
        if "panoptic" in self.tasks:
            parts.append(self._kept_queries(class_probs))
        if "semantic" in self.tasks:
            parts.append(inference.semantic_support(class_probs, self.infer.semantic_min_prob)[0])
        if "instance" in self.tasks:
            top, _, _, queries = self._instance_pairs(class_probs)
            used = top[torch.unique(queries)]  # [u] queries of the pairs kept
            parts.append(used[masks.nonempty(used).to(used.device)])  # an empty mask needs no upsampling
        return torch.unique(torch.cat(parts))

    def _process_panoptic(self, gt, class_probs, masks: ImageMasks) -> None:
        keep = self._kept_queries(class_probs)
        seg, segments = inference.panoptic_inference(  # the same queries pass its own filter again
            class_probs[keep], masks.select(keep), self.isthing.to(class_probs.device),
            object_threshold=self.infer.object_threshold, overlap_threshold=self.infer.overlap_threshold)
        seg = seg.cpu().numpy()  # [H, W]
        pred = [{"id": s["id"], "category_id": self.vocab.ids[s["label"]], "isthing": int(s["isthing"]),
                 "area": s["area"], "score": s["score"]} for s in segments]
        self.last_predictions["panoptic"] = (seg, pred)
        self.panoptic.process(gt.ids, gt.segments, seg, pred, image_id=gt.image_id)
        if self.writer:
            self.writer.write_panoptic(gt.image_id, gt.file_name, seg, pred)

    def _process_semantic(self, gt, class_probs, masks: ImageMasks) -> None:
        if self.infer.exact:
            sem = inference.semantic_inference(class_probs, masks.select())  # [K, H, W]
            pred = sem.max(0).indices.cpu().numpy()  # [H, W] (first max, as argmax; several times faster on CPU)
        else:  # the support's terms, as one [k, n] x [n, H*W] product over the held queries (others weigh 0)
            queries, classes = inference.semantic_support(class_probs, self.infer.semantic_min_prob)  # [q], [k]
            held_index, held = masks.held()  # [n], [n, H, W]
            weights = torch.zeros(len(held_index), len(classes), device=class_probs.device)  # [n, k]
            pos = masks.held_positions(queries).to(class_probs.device)
            weights[pos] = class_probs[queries][:, classes].float()
            pred = inference.semantic_labels(weights, held, classes).cpu().numpy()
        self.last_predictions["semantic"] = pred
        self.semantic.process(semantic_ground_truth(gt, self.index_of_id), pred)
        if self.writer:
            self.writer.write_semantic(gt.file_name, pred)

    def _process_instance(self, gt, class_probs, masks: ImageMasks) -> None:
        h, w = gt.ids.shape
        self.gt_images.append({"id": gt.image_id, "height": h, "width": w, "file_name": gt.file_name})
        things = [s for s in gt.segments if self.vocab.categories[self.index_of_id[int(s["category_id"])]].isthing]
        rles = encode_rle(np.stack([gt.ids == s["id"] for s in things])) if things else []
        for seg, rle in zip(things, rles):
            self.gt_annotations.append({
                "id": len(self.gt_annotations) + 1, "image_id": gt.image_id, "category_id": int(seg["category_id"]),
                "segmentation": rle, "area": float(seg.get("area", 0)) or float((gt.ids == seg["id"]).sum()),
                "bbox": list(seg.get("bbox", [0, 0, 0, 0])), "iscrowd": int(seg.get("iscrowd", 0))})
        self._instance_predictions(gt.image_id, class_probs, masks)

    def _instance_predictions(self, image_id: int, class_probs, masks: ImageMasks) -> None:
        """``instance_inference`` on the queries in the top-k pairs, each query's mask scored and RLE-encoded once."""
        top, scores, labels, queries = self._instance_pairs(class_probs)  # [t], [n] each
        uniq, inverse = torch.unique(queries, return_inverse=True)  # [u] (positions in top), [n]
        if self.infer.exact:
            probs = masks.select(top)  # [t, H, W] (upsampling the same query set always gives the same bits)
            if len(uniq) < len(top):
                probs = probs[uniq.to(probs.device)]  # [u, H, W]
            binary, mask_scores = inference.instance_mask_scores(probs)  # [u, H, W] bool, [u]
            binary_t = binary.transpose(1, 2).contiguous()  # [u, W, H]
        else:  # queries with an empty mask (score 0) were not brought to the image size
            uq = top[uniq.to(top.device)]  # [u] query indices
            full = masks.nonempty(uq)  # [u]
            if bool(full.all()):
                binary_t, mask_scores = masks.held_instance_masks(uq)  # [u, W, H], [u]
                mask_scores = mask_scores.to(class_probs.device)
            else:
                binary_t = torch.zeros((len(uq), *masks.out_hw[::-1]), dtype=torch.bool)  # [u, W, H]
                mask_scores = torch.zeros(len(uq), device=class_probs.device)
                if bool(full.any()):
                    b, sc = masks.held_instance_masks(uq[full.to(uq.device)])
                    binary_t[full], mask_scores[full.to(mask_scores.device)] = b.cpu(), sc.to(mask_scores.device)
        final = scores * mask_scores[inverse]  # [n]
        order = final.argsort(descending=True, stable=True)
        binary_t = binary_t.cpu().numpy()  # [u, W, H]
        rles = encode_rle_columns(binary_t)
        labels, inverse, final = labels[order].tolist(), inverse[order].tolist(), final[order].tolist()
        query_of = top[uniq.to(top.device)].tolist()  # [u] the query of each mask row
        self.last_predictions["instance"] = {"masks": binary_t.transpose(0, 2, 1),  # [u, H, W] view
                                             "pairs": [(query_of[u], label, u, score)
                                                       for label, u, score in zip(labels, inverse, final)]}
        for label, u, score in zip(labels, inverse, final):
            self.results.append({"image_id": image_id, "category_id": self.vocab.ids[label],
                                 "segmentation": dict(rles[u]), "score": score})

    def merge(self, other: "StreamingEvaluation") -> None:
        """Fold in an evaluation of the images that follow this one's (same vocabulary and tasks):
        afterwards this object is as if it had processed both streams, in order."""
        if other.tasks != self.tasks or other.vocab.sha256 != self.vocab.sha256:
            raise ZsError("StreamingEvaluation.merge: the two evaluations differ in tasks or vocabulary")
        self.panoptic += other.panoptic
        self.semantic += other.semantic
        self.gt_images += other.gt_images
        offset = len(self.gt_annotations)
        self.gt_annotations += [{**a, "id": a["id"] + offset} for a in other.gt_annotations]
        self.results += other.results
        if self.writer is not None and other.writer is not None:
            self.writer.panoptic += other.writer.panoptic
        self.num_images += other.num_images

    def evaluate(self) -> dict:
        """{task: metrics block} as the metrics module returns them, + unseen_confusion."""
        from zs.evaluate import metrics

        if self.num_images == 0:
            raise ZsError("no images were evaluated (empty split, or --limit 0)")
        out: dict = {}
        if "panoptic" in self.tasks:
            out["panoptic"] = self.panoptic.evaluate()
            out["unseen_confusion"] = self.panoptic.unseen_confusion()
        if "semantic" in self.tasks:
            out["semantic"] = self.semantic.evaluate()
        if "instance" in self.tasks:
            gt_coco = {"images": self.gt_images, "annotations": self.gt_annotations,
                       "categories": [c for c in self.categories if c["isthing"]]}
            unseen_ids = [self.vocab.ids[i] for i in self.vocab.unseen_indices]
            out["instance"] = metrics.instance_metrics(gt_coco, self.results, iou_type="segm", unseen_ids=unseen_ids)
        if self.writer:
            self.writer.close(self.results if "instance" in self.tasks else None)
        return out
