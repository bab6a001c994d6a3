"""Hungarian matching: agrees with brute force; mask costs as Mask2Former's matcher."""

import itertools

import numpy as np
import torch
import torch.nn.functional as F

from zs.extract.matching import (MatchConfig, batch_dice_cost, batch_sigmoid_ce_cost, gt_masks_for_input,
                                 match_image, match_queries, matching_cost, point_sample, sample_points)


def _brute_force(cost):
    q, g = cost.shape
    best, best_perm = np.inf, None
    for perm in itertools.permutations(range(q), g):
        total = sum(cost[perm[j], j] for j in range(g))
        if total < best:
            best, best_perm = total, perm
    return best, best_perm


def test_assignment_is_minimum_cost_on_small_cases():
    for trial in range(8):
        g = torch.Generator().manual_seed(trial)
        q, n_gt, k = 6, 1 + trial % 4, 4
        logits = torch.randn(q, k + 1, generator=g)
        masks = torch.randn(q, 8, 10, generator=g) * 3
        labels = torch.randint(0, k, (n_gt,), generator=g)
        gt = (torch.rand(n_gt, 32, 40, generator=g) > 0.6).float()
        points = sample_points(200, seed=trial, image_id=1)
        match, cost = match_queries(logits, masks, labels, gt, points)
        c = matching_cost(logits, masks, labels, gt, points).numpy()
        best, _ = _brute_force(c)
        assigned = [(qi, int(m)) for qi, m in enumerate(match) if m >= 0]
        assert sorted(m for _, m in assigned) == list(range(n_gt))
        assert np.isclose(sum(c[qi, m] for qi, m in assigned), best, atol=1e-5)
        assert np.isnan(cost[match < 0]).all()
        np.testing.assert_allclose([cost[qi] for qi, _ in assigned], [c[qi, m] for qi, m in assigned], rtol=1e-6)


def test_pairwise_costs_match_elementwise_losses():
    g = torch.Generator().manual_seed(0)
    pred = torch.randn(3, 50, generator=g)
    tgt = (torch.rand(2, 50, generator=g) > 0.5).float()
    ce = batch_sigmoid_ce_cost(pred, tgt)
    dice = batch_dice_cost(pred, tgt)
    for i in range(3):
        for j in range(2):
            assert torch.isclose(ce[i, j], F.binary_cross_entropy_with_logits(pred[i], tgt[j]), atol=1e-6)
            s = pred[i].sigmoid()
            d = 1 - (2 * (s * tgt[j]).sum() + 1) / (s.sum() + tgt[j].sum() + 1)
            assert torch.isclose(dice[i, j], d, atol=1e-6)


def test_class_cost_weight_and_point_sample():
    logits = torch.tensor([[5.0, 0.0, 0.0], [0.0, 5.0, 0.0]])
    masks = torch.zeros(2, 4, 4)
    gt = torch.ones(1, 16, 16)
    pts = sample_points(64, seed=0, image_id=0)
    c = matching_cost(logits, masks, torch.tensor([1]), gt, pts, MatchConfig(cost_mask=0, cost_dice=0))
    p = logits.softmax(-1)[:, 1]
    torch.testing.assert_close(c[:, 0], -5 * p)
    # point_sample of a constant map is that constant away from the border (zero padding outside)
    x = torch.full((1, 1, 4, 4), 2.0)
    inner = pts[((pts > 0.125) & (pts < 0.875)).all(1)]
    assert torch.allclose(point_sample(x, inner[None]), torch.tensor(2.0))
    corner = point_sample(x, torch.tensor([[[0.0, 0.0]]]))
    assert torch.isclose(corner, torch.tensor(0.5)).all()  # 1/4 of the bilinear weight inside


def test_points_are_seeded():
    a = sample_points(10, seed=1, image_id=3, view=0)
    assert torch.equal(a, sample_points(10, seed=1, image_id=3, view=0))
    assert not torch.equal(a, sample_points(10, seed=1, image_id=4, view=0))
    assert not torch.equal(a, sample_points(10, seed=2, image_id=3, view=0))


def test_match_image_skips_crowd_and_invisible():
    seg_map = np.zeros((20, 20), np.int32)
    seg_map[:10] = 1
    seg_map[10:] = 2
    seg_map[0:4, 0:4] = 3  # crowd
    segments = [{"id": 1, "iscrowd": 0}, {"id": 2, "iscrowd": 0}, {"id": 3, "iscrowd": 1}, {"id": 9, "iscrowd": 0}]
    geo = {"crop_y0": 0, "crop_x0": 0, "crop_h": 20, "crop_w": 20, "flip": False,
           "resized_h": 40, "resized_w": 40, "padded_h": 64, "padded_w": 64, "view": 0}
    masks = gt_masks_for_input(seg_map, [1, 2], geo)
    assert masks.shape == (2, 64, 64) and masks[0, 8:20, :40].all() and not masks[0, :8, :8].any() and not masks[:, 40:].any()
    logits = torch.randn(5, 4)
    mlog = torch.randn(5, 16, 16)
    match, cost = match_image(logits, mlog, seg_map, segments, [0, 1, 2, 0], geo, seed=0, image_id=1,
                              cfg=MatchConfig(num_points=100))
    assert sorted(match[match >= 0].tolist()) == [0, 1]
    assert (~np.isnan(cost)).sum() == 2
