"""The fast post-processing (default) against Mask2Former's own (``exact``) on small inputs.

Metric tolerances are the goal's (0.01 PQ / mIoU / AP); the COCO-geometry measurement on 200+
images is ``benchmarks/eval_agreement.py``.
"""

import json

import numpy as np
import pytest
import torch

from toyworld.predictions import coco_test_geometry, trained_like_image
from zs.evaluate.evaluation import image_masks
from zs.evaluate.evaluation.inference import (
    instance_mask_scores,
    masks_to_image,
    masks_to_image_fast,
    semantic_labels,
    semantic_support,
)
from zs.evaluate.evaluation.streaming import ImageMasks, InferenceConfig, StreamingEvaluation
from zs.vocab import Vocabulary

TOL = 0.01
TASKS = ("panoptic", "semantic", "instance")


def _vocab(k=12):
    cats = [{"id": i + 1, "name": f"c{i + 1}", "isthing": int(i < k // 2)} for i in range(k)]
    return Vocabulary.from_coco_categories(cats, name="fast-vs-exact")


def _run_both(images, vocab):
    paths = {name: StreamingEvaluation(vocab, TASKS, infer=InferenceConfig(exact=name == "exact"))
             for name in ("exact", "fast")}
    segments = {name: [] for name in paths}
    for img in images:
        for name, ev in paths.items():
            ev.process(img.gt, img.class_probs, ImageMasks(img.mask_logits, img.geometry, img.gt.ids.shape,
                                                           is_prob=False))
            segments[name].append([(s["id"], s["category_id"]) for s in ev.last_predictions["panoptic"][1]])
    return {name: ev.evaluate() for name, ev in paths.items()}, segments


def test_fast_metrics_agree_with_exact_on_trained_like_images():
    vocab = _vocab()
    rng = np.random.default_rng(0)
    geometry = coco_test_geometry(72, 96, short=120, long=200)  # masks 32 x 40, upsampled x 0.6 x 2.4
    images = [trained_like_image(rng, i, vocab.num_classes, vocab.isthing_mask(), (72, 96), 24, geometry)
              for i in range(6)]
    res, segments = _run_both(images, vocab)
    assert sum(len(s) for s in segments["exact"]) >= 12  # the case has segments to agree on
    assert abs(res["exact"]["panoptic"]["all"]["pq"] - res["fast"]["panoptic"]["all"]["pq"]) <= TOL
    assert abs(res["exact"]["semantic"]["all"]["miou"] - res["fast"]["semantic"]["all"]["miou"]) <= TOL
    assert abs(res["exact"]["instance"]["all"]["ap"] - res["fast"]["instance"]["all"]["ap"]) <= TOL
    assert res["exact"]["panoptic"]["all"]["pq"] > 0.3  # not an all-miss case where any path agrees
    assert segments["fast"] == segments["exact"]  # the same segments, same ids and categories


def test_one_resize_samples_the_same_points_as_two():
    """A linear logit ramp is reproduced exactly by bilinear resizes: away from the clamped border both
    paths give the same values, so the single resize maps pixels to the same mask coordinates."""
    geo = {"resized_h": 200, "resized_w": 267, "padded_h": 224, "padded_w": 288}
    ys, xs = torch.meshgrid(torch.arange(56.0), torch.arange(72.0), indexing="ij")
    ramp = torch.stack([0.3 * ys - 0.2 * xs, -0.1 * ys + 0.25 * xs])  # [2, 56, 72]
    exact = masks_to_image(ramp, geo, (150, 200), is_prob=False)
    fast = masks_to_image_fast(ramp, geo, (150, 200)).sigmoid()
    torch.testing.assert_close(fast[:, 3:-3, 3:-3], exact[:, 3:-3, 3:-3], atol=2e-5, rtol=0)
    flipped = masks_to_image_fast(ramp, {**geo, "flip": True}, (150, 200)).sigmoid()
    torch.testing.assert_close(flipped.flip(-1)[:, 3:-3, 3:-3], exact[:, 3:-3, 3:-3], atol=2e-5, rtol=0)
    smooth = 8 * torch.sin(ys / 6)[None] * torch.cos(xs / 9)[None]  # smooth masks: a small difference
    diff = masks_to_image_fast(smooth, geo, (150, 200)).sigmoid() - masks_to_image(smooth, geo, (150, 200),
                                                                                  is_prob=False)
    assert 0 < diff.abs().max() < 0.05  # the intermediate grid's interpolation, in probability


def test_empty_instance_masks_are_skipped_with_the_exact_result():
    """Queries whose masks are below 0.5 everywhere get an empty mask and score 0 without being upsampled."""
    vocab = _vocab(4)
    g = torch.Generator().manual_seed(1)
    logits = torch.randn(6, 16, 20, generator=g) * 3  # [Q, h, w]
    logits[[1, 3, 4]] = -torch.rand(3, 16, 20, generator=g) * 5  # empty everywhere
    cls = (torch.randn(6, vocab.num_classes + 1, generator=g) * 3).softmax(-1)
    geo = {"resized_h": 60, "resized_w": 80, "padded_h": 64, "padded_w": 96}
    from zs.evaluate.evaluation.streaming import GroundTruthImage

    gt = GroundTruthImage(1, "1.png", np.ones((45, 60), np.int64), [{"id": 1, "category_id": 1, "iscrowd": 0,
                                                                      "area": 45 * 60}])
    results = {}
    for exact in (True, False):
        ev = StreamingEvaluation(vocab, ("instance",), infer=InferenceConfig(exact=exact, instance_min_prob=0.0))
        masks = ImageMasks(logits, geo, (45, 60), is_prob=False)
        ev.process(gt, cls, masks)
        results[exact] = ev.results
        if not exact:
            assert masks.held()[0].tolist() == [0, 2, 5]  # the empty ones were never upsampled
    exact, fast = results[True], results[False]
    assert len(fast) == len(exact) > 0
    assert sorted(r["score"] for r in fast) == pytest.approx(sorted(r["score"] for r in exact), abs=0.02)

    def empty(results):
        return sorted((r["category_id"], r["segmentation"]["counts"]) for r in results if r["score"] == 0)

    assert len(empty(fast)) >= 3 and empty(fast) == empty(exact)


def test_fast_path_drops_only_detections_below_the_class_probability_floor(eval_world):
    from zs.evaluate.evaluation.streaming import GroundTruthImage

    w = eval_world
    g = torch.Generator().manual_seed(2)
    logits = torch.randn(10, 16, 20, generator=g) * 4
    cls = (torch.randn(10, w.vocab.num_classes + 1, generator=g) * 3).softmax(-1)
    geo = {"resized_h": 60, "resized_w": 80, "padded_h": 64, "padded_w": 96}
    gt = GroundTruthImage(1, "1.png", np.zeros((45, 60), np.int64), [])
    runs = {}
    for floor in (0.0, 0.02):
        ev = StreamingEvaluation(w.vocab, ("instance",), infer=InferenceConfig(instance_min_prob=floor))
        ev.process(gt, cls, ImageMasks(logits, geo, (45, 60), is_prob=False))
        runs[floor] = ev.last_predictions["instance"]["pairs"]
    kept = {(q, lab) for q, lab, _, _ in runs[0.02]}
    assert kept and len(kept) < len(runs[0.0])
    assert kept == {(q, lab) for q, lab, _, _ in runs[0.0] if float(cls[q, lab]) >= 0.02}


def test_semantic_support_drops_only_negligible_queries_and_classes():
    probs = torch.tensor([[0.9, 0.03, 0.0, 0.07],  # a confident query: class 0 (class 1 below 0.05)
                          [0.01, 0.02, 0.01, 0.96],  # no-object: dropped
                          [0.0, 0.0, 0.6, 0.4]])  # class 2
    queries, classes = semantic_support(probs, 0.05)
    assert queries.tolist() == [0, 2] and classes.tolist() == [0, 2]
    none = torch.tensor([[0.01, 0.01, 0.01, 0.97]])
    assert [t.tolist() for t in semantic_support(none, 0.05)] == [[0], [0, 1, 2]]  # nothing passes: everything
    masks = torch.rand(2, 5, 7)
    labels = semantic_labels(probs[queries][:, classes], masks, classes)
    ref = torch.einsum("qc,qhw->chw", probs[queries][:, classes], masks).argmax(0)
    assert torch.equal(labels, classes[ref])


def test_cli_exact_flag_is_recorded(eval_world, tmp_path):
    from click.testing import CliRunner

    from zs.cli import cli

    w = eval_world
    metrics = {}
    for name, extra in (("fast", []), ("exact", ["--exact"])):
        r = CliRunner().invoke(cli, ["evaluate", "--store", str(w.store.url), "--head", str(w.head_dir), "--out",
                                     str(tmp_path / name), "--no-progress", "--no-report", *extra])
        assert r.exit_code == 0, r.output
        metrics[name] = json.loads((tmp_path / name / "metrics.json").read_text())
    assert metrics["exact"]["provenance"]["thresholds"]["exact"] is True
    assert metrics["fast"]["provenance"]["thresholds"]["exact"] is False
    for task, key in (("panoptic", "pq"), ("semantic", "miou"), ("instance", "ap")):
        e, f = metrics["exact"][task]["all"][key], metrics["fast"][task]["all"][key]
        assert (e is None and f is None) or abs(e - f) <= TOL


@pytest.mark.parametrize("flip", [False, True])
def test_held_queries_in_cache_sized_groups_equal_whole_tensor_operations(monkeypatch, flip):
    """hold(..., instance=True) works a few queries at a time; its probabilities, instance masks and scores
    are bit-identical to resizing every held query at once and scoring the whole tensor."""
    gen = torch.Generator().manual_seed(0)
    logits = 6 * torch.randn(7, 9, 12, generator=gen)  # [Q, h, w]
    geo = {**coco_test_geometry(30, 40, short=32, long=48), "flip": flip}
    index = torch.tensor([0, 2, 3, 5, 6])
    monkeypatch.setattr(image_masks, "HOLD_CHUNK_BYTES", 2 * 4 * 30 * 40)  # groups of two queries
    masks = ImageMasks(logits, geo, (30, 40), is_prob=False, fast=True)
    masks.hold(index, instance=True)
    probs = masks_to_image_fast(logits[index], geo, (30, 40)).sigmoid()  # [5, H, W] in one resize
    binary, scores = instance_mask_scores(probs)
    assert torch.equal(masks.held()[1], probs)
    got_binary, got_scores = masks.held_instance_masks(index[[1, 3]])
    assert torch.equal(got_binary, binary[[1, 3]].transpose(1, 2)) and torch.equal(got_scores, scores[[1, 3]])
