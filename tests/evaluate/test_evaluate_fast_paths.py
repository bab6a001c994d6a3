"""The fast post-processing gives bit-identical results to Mask2Former's straightforward code.

The oracles below are Mask2Former's loops written out plainly (the code
``zs.evaluate.evaluation.inference`` had before it was vectorised); every comparison is
exact (``torch.equal`` / ``==``), on random cases with many ties.
"""

import numpy as np
import pytest
import torch
import torch.nn.functional as F

from zs.evaluate.evaluation.cached import prefetched
from zs.evaluate.evaluation.inference import instance_inference, masks_to_image, panoptic_inference, semantic_inference


def _panoptic_oracle(class_probs, mask_probs, isthing, object_threshold=0.8, overlap_threshold=0.8):
    num_classes = class_probs.shape[1] - 1
    scores, labels = class_probs.max(-1)
    keep = labels.ne(num_classes) & (scores > object_threshold)
    cur_scores, cur_classes, cur_masks = scores[keep], labels[keep], mask_probs[keep]
    seg = torch.zeros(mask_probs.shape[-2:], dtype=torch.int32)
    segments, stuff_memory = [], {}
    if cur_masks.shape[0] == 0:
        return seg, segments
    cur_mask_ids = (cur_scores.view(-1, 1, 1) * cur_masks).argmax(0)
    for k in range(cur_classes.shape[0]):
        pred_class, thing = int(cur_classes[k]), bool(isthing[int(cur_classes[k])])
        wins, binary = cur_mask_ids == k, cur_masks[k] >= 0.5
        mask = wins & binary
        mask_area, original_area, area = int(wins.sum()), int(binary.sum()), int(mask.sum())
        if mask_area == 0 or original_area == 0 or area == 0 or mask_area / original_area < overlap_threshold:
            continue
        if not thing and pred_class in stuff_memory:
            seg[mask] = stuff_memory[pred_class]["id"]
            stuff_memory[pred_class]["area"] += area
            continue
        segment = {"id": len(segments) + 1, "label": pred_class, "isthing": thing, "score": float(cur_scores[k]),
                   "area": area}
        seg[mask] = segment["id"]
        segments.append(segment)
        if not thing:
            stuff_memory[pred_class] = segment
    return seg, segments


def _instance_oracle(class_probs, mask_probs, isthing, topk=100):
    num_queries, num_classes = class_probs.shape[0], class_probs.shape[1] - 1
    k = min(topk, num_queries * num_classes)
    top_scores, top_idx = class_probs[:, :-1].flatten().topk(k, sorted=True)
    labels, queries = top_idx % num_classes, top_idx // num_classes
    keep = isthing[labels]
    top_scores, labels, queries = top_scores[keep], labels[keep], queries[keep]
    probs = mask_probs[queries]
    masks = probs > 0.5
    binary = masks.flatten(1).float()
    mask_scores = (probs.flatten(1) * binary).sum(1) / (binary.sum(1) + 1e-6)
    final = top_scores * mask_scores
    order = final.argsort(descending=True, stable=True)
    return {"scores": final[order], "labels": labels[order], "masks": masks[order]}


def _masks_oracle(mask, geo, out_hw):
    x = F.interpolate(mask[None], size=(geo["padded_h"], geo["padded_w"]), mode="bilinear", align_corners=False)
    x = x[:, :, : geo["resized_h"], : geo["resized_w"]]
    x = F.interpolate(x, size=out_hw, mode="bilinear", align_corners=False)[0]
    return x.sigmoid()


def _case(seed, ties):
    g = torch.Generator().manual_seed(seed)
    q, k = int(torch.randint(2, 40, (1,), generator=g)), int(torch.randint(2, 9, (1,), generator=g))
    h, w = int(torch.randint(4, 20, (1,), generator=g)), int(torch.randint(4, 20, (1,), generator=g))
    logits = torch.randn(q, h, w, generator=g) * 8
    cls = torch.randn(q, k + 1, generator=g) * 5
    if ties:  # saturated masks (sigmoid = 1.0 exactly) and repeated class scores: many exact ties
        logits, cls = logits.round().clamp(-1, 1) * 40, cls.round()
    geo = {"resized_h": 4 * h - int(torch.randint(0, 4, (1,), generator=g)), "padded_h": 4 * h,
           "resized_w": 4 * w - int(torch.randint(0, 4, (1,), generator=g)), "padded_w": 4 * w}
    isthing = torch.rand(k, generator=g) > 0.4
    return logits, cls.softmax(-1), geo, isthing


@pytest.mark.parametrize("seed", range(12))
def test_fast_inference_is_bit_identical(seed):
    torch.set_num_threads(1)
    logits, cls, geo, isthing = _case(seed, ties=seed % 2 == 0)
    out_hw = (geo["resized_h"], geo["resized_w"]) if seed % 3 == 0 else (37, 53)  # same size: resize skipped
    masks = masks_to_image(logits, geo, out_hw, is_prob=False)
    assert torch.equal(masks, _masks_oracle(logits, geo, out_hw))
    for threshold in (0.8, 0.2, 0.0):
        seg, segments = panoptic_inference(cls, masks, isthing, object_threshold=threshold)
        ref_seg, ref_segments = _panoptic_oracle(cls, masks, isthing, object_threshold=threshold)
        assert torch.equal(seg, ref_seg) and segments == ref_segments
    got, ref = instance_inference(cls, masks, isthing, topk=30), _instance_oracle(cls, masks, isthing, topk=30)
    for key in ("scores", "labels", "masks"):
        assert torch.equal(got[key], ref[key]), key
    sem = semantic_inference(cls, masks)
    assert torch.equal(sem.max(0).indices, sem.argmax(0))  # the streaming driver's argmax


def test_panoptic_ties_go_to_the_first_query():
    cls = torch.tensor([[0.9, 0.05, 0.05], [0.9, 0.05, 0.05]])  # same class, same score
    masks = torch.ones(2, 4, 4)  # identical masks: every pixel ties
    seg, segments = panoptic_inference(cls, masks, torch.tensor([True, True]))
    assert [s["id"] for s in segments] == [1] and bool((seg == 1).all())


def test_prefetched_keeps_order_and_raises():
    assert list(prefetched(lambda x: x * 2, range(5))) == [0, 2, 4, 6, 8]
    assert list(prefetched(lambda x: x, [])) == []

    def load(x):
        if x == 2:
            raise ValueError("bad row 2")
        return x

    with pytest.raises(ValueError, match="bad row 2"):
        list(prefetched(load, range(4)))


def test_streaming_instance_results_equal_instance_inference(eval_world):
    """The driver scores/encodes each distinct query once; the detections equal instance_inference's."""
    from zs.evaluate.evaluation.streaming import ImageMasks, InferenceConfig, StreamingEvaluation, encode_rle

    w = eval_world
    g = torch.Generator().manual_seed(0)
    geo = {"resized_h": 40, "resized_w": 60, "padded_h": 64, "padded_w": 64}
    logits = torch.randn(12, 16, 16, generator=g) * 6  # [Q, h, w]
    cls = (torch.randn(12, w.vocab.num_classes + 1, generator=g) * 4).softmax(-1)  # [Q, K+1]
    ev = StreamingEvaluation(w.vocab, ("instance",), infer=InferenceConfig(exact=True))
    ev._instance_predictions(7, cls, ImageMasks(logits, geo, (50, 70), is_prob=False))
    ref = instance_inference(cls, masks_to_image(logits, geo, (50, 70), is_prob=False),
                             torch.tensor(w.vocab.isthing_mask()), topk=100)
    assert [r["score"] for r in ev.results] == ref["scores"].tolist()
    assert [r["category_id"] for r in ev.results] == [w.vocab.ids[i] for i in ref["labels"].tolist()]
    assert [r["segmentation"] for r in ev.results] == encode_rle(ref["masks"].numpy())
    assert len(ev.results) > 0


def test_encode_rle_bool_and_uint8_agree():
    from zs.evaluate.evaluation.streaming import encode_rle

    m = np.random.default_rng(0).random((3, 9, 7)) > 0.5
    assert encode_rle(m) == encode_rle(m.astype(np.uint8))
