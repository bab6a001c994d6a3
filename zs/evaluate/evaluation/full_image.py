"""Full-image evaluation: run the segmenter end to end with the adapted head swapped in.

The confirmation pass for cached numbers: per image, Mask2Former's test-time
preprocessing, a full forward, class probabilities from ``head(query_embed)``
(instead of the checkpoint's class predictor), mask *logits* upsampled and
then passed through a sigmoid (Mask2Former's order), and the same streaming
driver as the cached path. Works on CPU and ``--device cuda``.
"""

from __future__ import annotations

import logging
import time
from pathlib import Path

import torch
from tqdm import tqdm

from zs.errors import ZsError
from zs.evaluate.evaluation.streaming import TASKS, GroundTruthImage, ImageMasks, InferenceConfig, StreamingEvaluation

log = logging.getLogger(__name__)


def check_head_fits_segmenter(head, segmenter, vocab) -> None:
    """Refuse a head for another query size / class count / vocabulary / segmenter (ProvenanceError)."""
    from zs.heads import HeadTarget, check_head_fits

    target = HeadTarget(segmenter.query_dim, vocab.num_classes, vocab.sha256, segmenter.sha256)
    check_head_fits(head, target, where=f"segmenter {segmenter.path} with vocabulary '{vocab.name}'")


def _ground_truth(dataset, i: int, sample) -> GroundTruthImage:
    png_name = dataset.annotation(i).get("file_name") or Path(sample.file_name).with_suffix(".png").name
    return GroundTruthImage(sample.image_id, png_name, sample.segment_map, sample.segments)


@torch.inference_mode()
def predict_image(segmenter, head, image, device) -> tuple[torch.Tensor, ImageMasks]:
    """uint8 [H, W, 3] -> (class_probs [Q, K+1] from the head, the image's mask logits as ImageMasks)."""
    pixels, geometry = segmenter.preprocess(image)
    batch = segmenter.collate([pixels])  # [1, 3, Hp, Wp]
    geometry = {**geometry, "padded_h": batch.shape[-2], "padded_w": batch.shape[-1]}
    out = segmenter.forward(batch)
    class_probs = head.class_probs(out.query_embed[0].to(device))  # [Q, K+1]
    return class_probs, ImageMasks(out.mask_logits[0].to(device), geometry, image.shape[:2], is_prob=False)


def evaluate_full_image(segmenter, head, dataset, vocab, *, tasks=TASKS, limit: int | None = None, device="cpu",
                        infer: InferenceConfig = InferenceConfig(), pred_dir=None, progress: bool = False) -> dict:
    """Evaluate ``head`` by running ``segmenter`` on every image of ``dataset`` (a CocoPanoptic).

    Returns ``{"metrics": {task: block, "unseen_confusion": ...}, "num_images", "timing"}``.
    """
    check_head_fits_segmenter(head, segmenter, vocab)
    unknown = sorted(dataset.category_ids() - set(vocab.ids))
    if unknown:
        raise ZsError(f"{dataset.json_path}: category ids {unknown} are not in the vocabulary '{vocab.name}'")
    evaluation = StreamingEvaluation(vocab, tasks, infer=infer, pred_dir=pred_dir)
    head = head.to(device).eval()
    n = len(dataset) if limit is None else min(int(limit), len(dataset))
    t0 = time.perf_counter()
    for i in tqdm(range(n), desc="evaluate (full image)", unit="img", disable=not progress):
        sample = dataset[i]
        class_probs, masks = predict_image(segmenter, head, sample.image, device)
        evaluation.process(_ground_truth(dataset, i, sample), class_probs, masks)
    seconds = time.perf_counter() - t0
    metrics = evaluation.evaluate()
    return {"metrics": metrics, "num_images": evaluation.num_images,
            "timing": {"seconds": seconds, "images_per_second": evaluation.num_images / max(seconds, 1e-9)}}
