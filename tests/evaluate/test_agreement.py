"""Cached (store) vs full-image evaluation of the same head on the same images."""

import json

import pytest
import torch

import evalworld
from zs.evaluate.evaluation.cached import evaluate_cached
from zs.evaluate.evaluation.full_image import evaluate_full_image
from zs.evaluate.evaluation.streaming import InferenceConfig
from zs.extract.datasets import CocoPanoptic

TOL_PQ = 0.001  # the goal (DESIGN §4), fraction units: 0.001 = 0.1 PQ points


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
    probs = evaluate_cached(w.store, w.head, tasks=("panoptic",), gt_json=gt_json, gt_png=gt_png,
                            infer=InferenceConfig(mask_upsample="probs"))
    assert _pq(cached) >= _pq(probs)  # upsampling logits (Mask2Former's order) is closer than probabilities


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


def _paths(seed):
    """Panoptic inference from full-precision logits, from the store's coded logits, and from the schema-1
    uint8 probabilities (turned back into logits as the cached path did)."""
    from zs.evaluate.evaluation.inference import masks_to_image, panoptic_inference
    from zs.store.masks import decode_logits, dequantize_probs, encode_logits, legacy_logits, quantize_probs

    cls, logits, isthing = _smooth_case(seed)

    def infer(masks, **kw):
        return panoptic_inference(cls, masks_to_image(masks, GEO, (240, 400), **kw), isthing)

    full = infer(logits, is_prob=False)
    stored = infer(torch.from_numpy(decode_logits(encode_logits(logits.numpy()))), is_prob=False)
    legacy_q = quantize_probs(logits.sigmoid().numpy())
    legacy = infer(torch.from_numpy(legacy_logits(legacy_q)), is_prob=False)
    legacy_probs = infer(torch.from_numpy(dequantize_probs(legacy_q)), is_prob=True, upsample="probs")
    return full, stored, legacy, legacy_probs, isthing


@pytest.mark.parametrize("seed", [0, 1, 2])
def test_stored_logits_within_goal_tolerance_on_smooth_masks(seed):
    """Smooth masks (like a trained model's, logits up to ±25): the stored logits keep PQ within 0.1 point of
    full precision; schema-1 probabilities (far field lost below p = 1/510) do not, and upsampling them as
    probabilities is no better than turning them back into logits."""
    full, stored, legacy, legacy_probs, isthing = _paths(seed)
    assert len(full[1]) >= 4
    assert 1 - _pq_against(full, stored, isthing) <= TOL_PQ
    assert _pq_against(full, stored, isthing) >= _pq_against(full, legacy, isthing)
    assert _pq_against(full, legacy, isthing) >= _pq_against(full, legacy_probs, isthing)
