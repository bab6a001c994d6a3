"""Cached (store) vs full-image evaluation of the same head on the same images."""

import json

import pytest
import torch

import evalworld
from zs.evaluate.cached import evaluate_cached
from zs.evaluate.full_image import evaluate_full_image
from zs.evaluate.streaming import InferenceConfig
from zs.extract.datasets import CocoPanoptic

TOL_PQ = 0.001  # the goal (DESIGN §4), fraction units: 0.001 = 0.1 PQ points
TOL_PQ_TOY = 0.01  # what the quantised store achieves on the random tiny segmenter (noise-like 16x16 masks)
FAR_FIELD = ("quantised probabilities lose the far field (p < 1/510 -> 0) where Mask2Former's argmax still "
             "gives pixels to a query and so changes its overlap ratio (kept/dropped segments); see docs/evaluate.md")


def _pq(res, group="all"):
    return res["metrics"]["panoptic"][group]["pq"]


def test_cached_matches_full_image_on_dataset_gt(eval_world):
    w = eval_world
    full = evaluate_full_image(w.segmenter, w.head, w.dataset, w.vocab, tasks=("panoptic", "semantic"))
    cached = evaluate_cached(w.store, w.head, tasks=("panoptic", "semantic"))
    assert full["num_images"] == cached["num_images"] == len(w.dataset)
    assert abs(_pq(full) - _pq(cached)) <= TOL_PQ_TOY
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
    assert abs(_pq(full) - _pq(cached)) <= TOL_PQ_TOY
    probs = evaluate_cached(w.store, w.head, tasks=("panoptic",), gt_json=gt_json, gt_png=gt_png,
                            infer=InferenceConfig(mask_upsample="probs"))
    assert _pq(cached) >= _pq(probs)  # probabilities -> logits before upsampling is closer to Mask2Former


@pytest.mark.xfail(strict=True, reason=FAR_FIELD)
def test_cached_within_goal_tolerance_on_its_own_predictions(eval_world, tmp_path):
    w = eval_world
    evaluate_full_image(w.segmenter, w.head, w.dataset, w.vocab, tasks=("panoptic",), pred_dir=tmp_path / "pred")
    gt_json, gt_png = evalworld.predictions_as_gt(tmp_path / "pred", w.json, tmp_path / "gt")
    cached = evaluate_cached(w.store, w.head, tasks=("panoptic",), gt_json=gt_json, gt_png=gt_png)
    assert 1 - _pq(cached) <= TOL_PQ


def _smooth_logits(q, h, w, seed):
    """Elliptic blobs with logit amplitude ~15: smooth like a trained model's masks. [q, h, w]"""
    g = torch.Generator().manual_seed(seed)
    ys, xs = torch.meshgrid(torch.arange(h).float(), torch.arange(w).float(), indexing="ij")
    cy, cx = torch.rand(q, 1, 1, generator=g) * h, torch.rand(q, 1, 1, generator=g) * w
    ry, rx = 3 + torch.rand(q, 1, 1, generator=g) * h / 6, 3 + torch.rand(q, 1, 1, generator=g) * w / 6
    return (15 * (1 - ((ys - cy) / ry) ** 2 - ((xs - cx) / rx) ** 2)).clamp(-25, 25)


def _smooth_case(seed):
    q, k = 16, 6
    isthing = torch.tensor([True, True, True, False, False, False])
    logits = _smooth_logits(q, 56, 88, seed)  # [Q, 56, 88]
    g = torch.Generator().manual_seed(seed)
    cls = torch.zeros(q, k + 1)
    cls[torch.arange(q), torch.randint(0, k, (q,), generator=g)] = 0.81 + 0.18 * torch.rand(q, generator=g)
    cls[:, k] = 1 - cls[:, :k].sum(1)
    return cls, logits, isthing


def _pq_against(reference, prediction, isthing):
    from zs.evaluate.metrics import PanopticEvaluator

    cats = [{"id": i + 1, "name": str(i), "isthing": int(t)} for i, t in enumerate(isthing.tolist())]
    ev = PanopticEvaluator(cats)
    ev.process(reference[0].numpy(), [{"id": s["id"], "category_id": s["label"] + 1, "iscrowd": 0,
                                       "area": s["area"]} for s in reference[1]],
               prediction[0].numpy(), [{"id": s["id"], "category_id": s["label"] + 1} for s in prediction[1]])
    return ev.evaluate()["all"]["pq"]


GEO = {"resized_h": 200, "resized_w": 333, "padded_h": 224, "padded_w": 352}


def _paths(seed, far_field_clamp=None):
    from zs.evaluate.inference import masks_to_image, panoptic_inference
    from zs.store.masks import dequantize_probs, quantize_probs

    cls, logits, isthing = _smooth_case(seed)
    full_logits = logits if far_field_clamp is None else logits.clamp(-far_field_clamp, far_field_clamp)
    full = panoptic_inference(cls, masks_to_image(full_logits, GEO, (240, 400), is_prob=False), isthing)
    stored = torch.from_numpy(dequantize_probs(quantize_probs(logits.sigmoid().numpy())))  # what the store returns
    cached = {mode: panoptic_inference(cls, masks_to_image(stored, GEO, (240, 400), is_prob=True, upsample=mode),
                                       isthing) for mode in ("logits", "probs")}
    return full, cached, isthing


@pytest.mark.parametrize("seed", [0, 1, 2])
def test_quantisation_alone_costs_little_on_smooth_masks(seed):
    """Smooth masks (like a trained model's), far field clamped as the store clamps it: the uint8 store's
    boundary error alone keeps PQ within 0.5 points; logits-space upsampling is at least as good."""
    from zs.evaluate.inference import PROB_EPS

    full, cached, isthing = _paths(seed, far_field_clamp=float(torch.logit(torch.tensor(PROB_EPS)).abs()))
    assert len(full[1]) >= 4
    assert 1 - _pq_against(full, cached["logits"], isthing) <= 0.005
    assert _pq_against(full, cached["logits"], isthing) >= _pq_against(full, cached["probs"], isthing)


@pytest.mark.xfail(strict=True, reason=FAR_FIELD)
def test_cached_within_goal_tolerance_on_smooth_masks():
    full, cached, isthing = _paths(0)
    assert 1 - _pq_against(full, cached["logits"], isthing) <= TOL_PQ
