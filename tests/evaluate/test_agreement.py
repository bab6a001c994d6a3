"""Cached (store) vs full-image evaluation of the same head on the same images."""

import json

import pytest
import torch

import evalworld
from zs.evaluate.cached import evaluate_cached
from zs.evaluate.full_image import evaluate_full_image
from zs.extract.datasets import CocoPanoptic

TOL_PQ = 0.001  # fraction units: 0.001 = 0.1 PQ points


def _pq(res, group="all"):
    return res["metrics"]["panoptic"][group]["pq"]


def test_cached_matches_full_image_on_dataset_gt(eval_world):
    w = eval_world
    full = evaluate_full_image(w.segmenter, w.head, w.dataset, w.vocab, tasks=("panoptic", "semantic"))
    cached = evaluate_cached(w.store, w.head, tasks=("panoptic", "semantic"))
    assert full["num_images"] == cached["num_images"] == len(w.dataset)
    assert abs(_pq(full) - _pq(cached)) <= TOL_PQ
    assert abs(full["metrics"]["semantic"]["all"]["miou"] - cached["metrics"]["semantic"]["all"]["miou"]) <= 0.002


def test_cached_matches_full_image_on_its_own_predictions(eval_world, tmp_path):
    """GT = the full-image panoptic prediction: full-image PQ is 1 and any cached difference shows."""
    w = eval_world
    evaluate_full_image(w.segmenter, w.head, w.dataset, w.vocab, tasks=("panoptic",), pred_dir=tmp_path / "pred")
    gt_json, gt_png = evalworld.predictions_as_gt(tmp_path / "pred", w.json, tmp_path / "gt")
    n_segments = sum(len(a["segments_info"]) for a in json.loads(gt_json.read_text())["annotations"])
    assert n_segments >= 3  # the sharpened head predicts segments (random tiny model: about one per image)
    dataset = CocoPanoptic(w.images, gt_json, gt_png)
    full = evaluate_full_image(w.segmenter, w.head, dataset, w.vocab, tasks=("panoptic",))
    cached = evaluate_cached(w.store, w.head, tasks=("panoptic",), gt_json=gt_json, gt_png=gt_png)
    assert _pq(full) == pytest.approx(1.0)
    assert abs(_pq(full) - _pq(cached)) <= TOL_PQ


def _smooth_logits(q, h, w, seed):
    """Elliptic blobs with logit amplitude ~15: smooth like a trained model's masks. [q, h, w]"""
    g = torch.Generator().manual_seed(seed)
    ys, xs = torch.meshgrid(torch.arange(h).float(), torch.arange(w).float(), indexing="ij")
    cy, cx = torch.rand(q, 1, 1, generator=g) * h, torch.rand(q, 1, 1, generator=g) * w
    ry, rx = 3 + torch.rand(q, 1, 1, generator=g) * h / 6, 3 + torch.rand(q, 1, 1, generator=g) * w / 6
    return (15 * (1 - ((ys - cy) / ry) ** 2 - ((xs - cx) / rx) ** 2)).clamp(-25, 25)


@pytest.mark.parametrize("seed", [0, 1, 2])
def test_quantised_store_masks_keep_pq_within_tolerance_on_smooth_masks(seed):
    """Store path (uint8 probabilities -> logits -> upsample) vs full path (logits -> upsample)."""
    from zs.evaluate.inference import masks_to_image, panoptic_inference
    from zs.evaluate.metrics import PanopticEvaluator
    from zs.store.masks import dequantize_probs, quantize_probs

    q, k = 16, 6
    isthing = torch.tensor([True, True, True, False, False, False])
    geo = {"resized_h": 200, "resized_w": 333, "padded_h": 224, "padded_w": 352}
    logits = _smooth_logits(q, 56, 88, seed)  # [Q, 56, 88]
    g = torch.Generator().manual_seed(seed)
    cls = torch.zeros(q, k + 1)
    cls[torch.arange(q), torch.randint(0, k, (q,), generator=g)] = 0.81 + 0.18 * torch.rand(q, generator=g)
    cls[:, k] = 1 - cls[:, :k].sum(1)
    stored = torch.from_numpy(dequantize_probs(quantize_probs(logits.sigmoid().numpy())))  # what the store returns
    full_seg, full_segments = panoptic_inference(cls, masks_to_image(logits, geo, (240, 400), is_prob=False), isthing)
    cats = [{"id": i + 1, "name": str(i), "isthing": int(t)} for i, t in enumerate(isthing.tolist())]
    gt_segments = [{"id": s["id"], "category_id": s["label"] + 1, "iscrowd": 0, "area": s["area"]} for s in full_segments]
    assert len(gt_segments) >= 4
    pq = {}
    for mode in ("logits", "probs"):
        seg, segments = panoptic_inference(cls, masks_to_image(stored, geo, (240, 400), is_prob=True, upsample=mode),
                                           isthing)
        ev = PanopticEvaluator(cats)
        ev.process(full_seg.numpy(), gt_segments, seg.numpy(),
                   [{"id": s["id"], "category_id": s["label"] + 1} for s in segments])
        pq[mode] = ev.evaluate()["all"]["pq"]
    assert 1 - pq["logits"] <= TOL_PQ
    assert pq["logits"] >= pq["probs"] - 1e-9
