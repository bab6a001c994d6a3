"""Mask2Former inference rules on hand-made cases, and against detectron2's own outputs."""

import json

import numpy as np
import pytest
import torch

from zs.errors import ZsError
from zs.evaluate.evaluation.inference import (
    instance_inference,
    masks_to_image,
    panoptic_inference,
    semantic_inference,
)

K = 3  # classes 0, 1 things; 2 stuff
ISTHING = torch.tensor([True, True, False])


def probs(*rows):
    """Class probability rows [Q, K+1] from (label, score) pairs; the rest to no-object."""
    out = torch.zeros(len(rows), K + 1)
    for q, (label, score) in enumerate(rows):
        out[q, label] = score
        out[q, K] += 1 - score
    return out


def box_mask(h, w, y0, y1, x0, x1, inside=0.9, outside=0.05):
    m = torch.full((h, w), outside)
    m[y0:y1, x0:x1] = inside
    return m


def test_object_threshold_drops_low_scores_and_no_object():
    cls = probs((0, 0.95), (1, 0.8), (K, 1.0))  # 0.8 is not > 0.8; no-object dropped
    masks = torch.stack([box_mask(8, 8, 0, 4, 0, 4), box_mask(8, 8, 4, 8, 4, 8), box_mask(8, 8, 0, 8, 0, 8)])
    seg, segs = panoptic_inference(cls, masks, ISTHING)
    assert [s["label"] for s in segs] == [0]
    assert segs[0]["id"] == 1 and segs[0]["area"] == 16
    assert int((seg == 1).sum()) == 16 and int((seg == 0).sum()) == 48


def test_overlap_drop():
    # query 1 (stronger) covers most of query 0's mask -> query 0 keeps < 80 % of its area
    cls = probs((0, 0.85), (1, 0.99))
    m0 = box_mask(10, 10, 0, 10, 0, 5)  # 50 px
    m1 = box_mask(10, 10, 0, 10, 0, 10)  # whole image, wins everywhere (score higher)
    seg, segs = panoptic_inference(cls, torch.stack([m0, m1]), ISTHING)
    assert [s["label"] for s in segs] == [1]
    assert segs[0]["id"] == 1  # ids follow creation order, not query index
    assert int((seg == 1).sum()) == 100


def test_overlap_ratio_uses_argmax_area_not_thresholded():
    # query 0 wins on 45 of its 50 "≥0.5" px = 0.9 -> kept; threshold exactly at the limit
    cls = probs((0, 0.9), (1, 0.9))
    m0 = box_mask(10, 10, 0, 10, 0, 5, inside=0.8)
    m1 = box_mask(10, 10, 0, 10, 5, 10)  # right half
    m1[0, :5] = 0.95  # query 1 also wins 5 px of query 0's area: 45/50 = 0.9 left for query 0
    seg, segs = panoptic_inference(cls, torch.stack([m0, m1]), ISTHING, overlap_threshold=0.9)
    assert [s["label"] for s in segs] == [0, 1]
    assert segs[0]["area"] == 45
    _, segs = panoptic_inference(cls, torch.stack([m0, m1]), ISTHING, overlap_threshold=0.91)
    assert [s["label"] for s in segs] == [1]


def test_stuff_of_one_class_is_merged_things_are_not():
    cls = probs((2, 0.9), (2, 0.95), (0, 0.9), (0, 0.9))
    masks = torch.stack([
        box_mask(8, 8, 0, 4, 0, 4), box_mask(8, 8, 4, 8, 4, 8),
        box_mask(8, 8, 0, 4, 4, 8), box_mask(8, 8, 4, 8, 0, 4),
    ])
    seg, segs = panoptic_inference(cls, masks, ISTHING)
    assert [(s["id"], s["label"], s["isthing"]) for s in segs] == [(1, 2, False), (2, 0, True), (3, 0, True)]
    assert segs[0]["area"] == 32 and segs[0]["score"] == pytest.approx(0.9)
    assert set(torch.unique(seg).tolist()) == {1, 2, 3}


def test_void_where_winner_mask_below_half():
    cls = probs((0, 0.9))
    m = box_mask(6, 6, 0, 3, 0, 6, inside=0.7, outside=0.3)
    seg, segs = panoptic_inference(cls, m[None], ISTHING)
    assert int((seg == 0).sum()) == 18 and segs[0]["area"] == 18


def test_nothing_kept_gives_all_void():
    seg, segs = panoptic_inference(probs((K, 1.0)), torch.ones(1, 4, 4), ISTHING)
    assert segs == [] and int(seg.abs().sum()) == 0 and seg.dtype == torch.int32


def test_semantic_is_probability_weighted_sum():
    cls = probs((0, 0.9), (2, 0.6))
    masks = torch.rand(2, 5, 5)
    sem = semantic_inference(cls, masks)
    assert sem.shape == (K, 5, 5)
    torch.testing.assert_close(sem[0], 0.9 * masks[0])
    torch.testing.assert_close(sem[2], 0.6 * masks[1])
    torch.testing.assert_close(sem[1], torch.zeros(5, 5))


def test_instance_topk_then_things_only_and_mask_score():
    cls = torch.tensor([[0.5, 0.1, 0.3, 0.1], [0.05, 0.7, 0.2, 0.05]])
    masks = torch.stack([box_mask(4, 4, 0, 2, 0, 4, inside=0.8, outside=0.1), box_mask(4, 4, 0, 4, 0, 4, inside=0.6)])
    out = instance_inference(cls, masks, ISTHING, topk=3)  # top-3 = (1,1) .7, (0,0) .5, (0,2) .3 -> stuff dropped
    assert out["labels"].tolist() == [1, 0]
    assert out["scores"].tolist() == pytest.approx([0.7 * 0.6, 0.5 * 0.8], rel=1e-5)
    assert out["masks"].dtype == torch.bool and out["masks"][1].sum() == 8


def test_masks_to_image_crops_padding_and_flips():
    mask = torch.zeros(1, 4, 4)
    mask[0, :, :3] = 1.0  # covers the valid (top-left 8x8) region of the 16x16 padded canvas
    geo = {"resized_h": 8, "resized_w": 8, "padded_h": 16, "padded_w": 16, "flip": False}
    out = masks_to_image(mask, geo, (8, 8), is_prob=True)
    assert out.shape == (1, 8, 8) and float(out.min()) > 0.99  # padding cropped before resizing
    uncropped = torch.nn.functional.interpolate(mask[None], size=(8, 8), mode="bilinear")[0]
    assert float(uncropped.min()) < 0.5
    flipped = masks_to_image(torch.linspace(0, 1, 4).repeat(4, 1)[None], {**geo, "flip": True}, (8, 8), is_prob=True)
    assert float(flipped[0, 0, 0]) > float(flipped[0, 0, -1])
    logits = masks_to_image(torch.zeros(1, 4, 4), geo, (8, 8), is_prob=False)
    torch.testing.assert_close(logits, torch.full((1, 8, 8), 0.5))
    with pytest.raises(ZsError, match="padded_h"):
        masks_to_image(mask, {"resized_h": 8, "resized_w": 8}, (8, 8), is_prob=True)


# -- detectron2 / Mask2Former reference outputs --------------------------------------------

def _reference(reference_dir, name):
    root = reference_dir / "d2-mask2former" / "A"
    meta = json.loads((root / "manifest.json").read_text())
    image = next(i for i in meta["images"] if i["file"].endswith(f"{name}.png"))

    def load(key):
        return torch.from_numpy(np.load(root / "outputs" / f"{name}_{key}.npy"))

    return image, load


@pytest.mark.parametrize("name", ["img0", "img1"])
def test_matches_detectron2_mask2former(reference_dir, name):
    image, load = _reference(reference_dir, name)
    h, w = image["height"], image["width"]
    ph, pw = image["padded_input_hw"]
    geo = {"resized_h": h, "resized_w": w, "padded_h": ph, "padded_w": pw, "flip": False}
    cls = load("pred_logits").softmax(-1)  # [Q, 134]
    masks = masks_to_image(load("pred_masks"), geo, (h, w), is_prob=False)  # [Q, H, W]
    isthing = torch.arange(133) < 80

    seg, segs = panoptic_inference(cls, masks, isthing)
    expected = [{"id": s["id"], "isthing": s["isthing"], "category_id": s["category_id"]} for s in image["segments_info"]]
    assert [{"id": s["id"], "isthing": s["isthing"], "category_id": s["label"]} for s in segs] == expected
    ref_seg = load("panoptic_seg")
    assert (seg == ref_seg).float().mean() >= 0.999
    assert {str(s["id"]): s["area"] for s in segs} == pytest.approx(image["panoptic_segment_pixel_counts"], abs=5)

    sem = semantic_inference(cls, masks)  # [K, H, W]
    assert (sem.argmax(0) == load("sem_seg_argmax")).float().mean() >= 0.999
    np.testing.assert_allclose(sem.double().sum((1, 2)).numpy(), load("sem_seg_class_sums").numpy(), rtol=1e-4)

    inst = instance_inference(cls, masks, isthing)
    torch.testing.assert_close(inst["scores"], load("instances_scores"), atol=1e-5, rtol=1e-4)
    assert inst["labels"].tolist() == load("instances_pred_classes").tolist()
    torch.testing.assert_close(inst["masks"].sum((1, 2)).float(), load("instances_mask_area"), atol=3, rtol=0)


def test_masks_to_image_crops_a_padded_mask_canvas():
    geo = {"resized_h": 30, "resized_w": 60, "padded_h": 32, "padded_w": 64}
    own = torch.rand(2, 8, 16)  # 1/4 of the padded input
    canvas = torch.zeros(2, 12, 20)  # a store's fixed mask shape, zero-padded bottom/right
    canvas[:, :8, :16] = own
    torch.testing.assert_close(masks_to_image(canvas, geo, (30, 60), is_prob=True),
                               masks_to_image(own, geo, (30, 60), is_prob=True))


def test_image_masks_subset_equals_upsampling_everything():
    from zs.evaluate.evaluation.streaming import ImageMasks

    geo = {"resized_h": 30, "resized_w": 60, "padded_h": 32, "padded_w": 64}
    logits = torch.randn(5, 8, 16) * 4
    full = masks_to_image(logits, geo, (45, 90), is_prob=False)
    idx = torch.tensor([3, 1])
    torch.testing.assert_close(ImageMasks(logits, geo, (45, 90), is_prob=False).select(idx), full[idx])
    lazy = ImageMasks(logits, geo, (45, 90), is_prob=False)
    torch.testing.assert_close(lazy.select(), full)
    torch.testing.assert_close(lazy.select(idx), full[idx])
    assert lazy.select(torch.tensor([], dtype=torch.long)).shape == (0, 45, 90)
