"""Query <-> ground-truth matching as PADing / Mask2Former do it at training time.

Hungarian assignment over the non-crowd GT segments of one image with the cost
(Mask2Former ``HungarianMatcher``; PADing weights 5/5/5):

    C[q, g] = w_cls * (-softmax(class_logits[q])[label_g])
            + w_ce  * mean_p BCE(sigmoid(mask_q(p)), gt_g(p))
            + w_dice * (1 - (2 sum_p s_q(p) gt_g(p) + 1) / (sum_p s_q(p) + sum_p gt_g(p) + 1))

with the mask terms on ``num_points`` random points (12,544 in PADing) sampled
uniformly over the padded input frame; predicted mask logits (1/4 resolution)
and GT masks (input resolution) are read at the same normalised points with
``grid_sample`` (bilinear, align_corners=False, detectron2's ``point_sample``).
The points come from a seeded generator, so the assignment is reproducible.
"""

from __future__ import annotations

import dataclasses

import numpy as np
import torch
import torch.nn.functional as F
from PIL import Image
from scipy.optimize import linear_sum_assignment


@dataclasses.dataclass(frozen=True)
class MatchConfig:
    cost_class: float = 5.0
    cost_mask: float = 5.0  # sigmoid BCE
    cost_dice: float = 5.0
    num_points: int = 12544


def point_sample(inputs: torch.Tensor, coords: torch.Tensor) -> torch.Tensor:
    """Bilinear read of [N, C, H, W] at normalised [N, P, 2] (x, y in [0, 1]) -> [N, C, P]."""
    grid = (2.0 * coords - 1.0).unsqueeze(2)  # [N, P, 1, 2]
    return F.grid_sample(inputs, grid, mode="bilinear", align_corners=False).squeeze(3)  # [N, C, P]


def batch_sigmoid_ce_cost(logits: torch.Tensor, targets: torch.Tensor) -> torch.Tensor:
    """Pairwise mean sigmoid-BCE: logits [Q, P], targets [G, P] in {0,1} -> [Q, G]."""
    pos = F.binary_cross_entropy_with_logits(logits, torch.ones_like(logits), reduction="none")  # [Q, P]
    neg = F.binary_cross_entropy_with_logits(logits, torch.zeros_like(logits), reduction="none")  # [Q, P]
    cost = pos @ targets.t() + neg @ (1.0 - targets).t()  # [Q, G]
    return cost / logits.shape[1]


def batch_dice_cost(logits: torch.Tensor, targets: torch.Tensor) -> torch.Tensor:
    """Pairwise dice loss 1 - (2|s∩t| + 1) / (|s| + |t| + 1): [Q, P], [G, P] -> [Q, G]."""
    probs = logits.sigmoid()  # [Q, P]
    numerator = 2.0 * probs @ targets.t()  # [Q, G]
    denominator = probs.sum(-1)[:, None] + targets.sum(-1)[None, :]  # [Q, G]
    return 1.0 - (numerator + 1.0) / (denominator + 1.0)


def matching_cost(class_logits: torch.Tensor, mask_logits: torch.Tensor, gt_labels: torch.Tensor,
                  gt_masks: torch.Tensor, points: torch.Tensor, cfg: MatchConfig = MatchConfig()) -> torch.Tensor:
    """Cost matrix [Q, G] from class logits [Q, K+1], mask logits [Q, h, w], labels [G], masks [G, H, W]."""
    prob = class_logits.float().softmax(-1)  # [Q, K+1]
    cost_class = -prob[:, gt_labels]  # [Q, G]
    q, g = mask_logits.shape[0], gt_masks.shape[0]
    pred = point_sample(mask_logits.float()[:, None], points[None].expand(q, -1, -1))[:, 0]  # [Q, P]
    tgt = point_sample(gt_masks.float()[:, None], points[None].expand(g, -1, -1))[:, 0]  # [G, P]
    return (cfg.cost_mask * batch_sigmoid_ce_cost(pred, tgt) + cfg.cost_class * cost_class
            + cfg.cost_dice * batch_dice_cost(pred, tgt))


def sample_points(num_points: int, *, seed: int, image_id: int, view: int = 0) -> torch.Tensor:
    """Uniform points [P, 2] in [0, 1]^2, seeded by (seed, image id, view) only."""
    state = np.random.SeedSequence([int(seed) % 2**32, int(image_id) % 2**32, int(view)]).generate_state(2)
    g = torch.Generator().manual_seed(int(state[0]) << 31 | int(state[1]) >> 1)
    return torch.rand(num_points, 2, generator=g)


def hungarian(cost: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Minimum-cost assignment of a [Q, G] matrix (Q >= G): (query indices, gt indices)."""
    return linear_sum_assignment(cost)


def match_queries(class_logits: torch.Tensor, mask_logits: torch.Tensor, gt_labels: torch.Tensor,
                  gt_masks: torch.Tensor, points: torch.Tensor,
                  cfg: MatchConfig = MatchConfig()) -> tuple[np.ndarray, np.ndarray]:
    """-> (match [Q] int64 index into the G targets or -1, cost [Q] float32, NaN when unmatched)."""
    q = class_logits.shape[0]
    match = np.full(q, -1, dtype=np.int64)
    costs = np.full(q, np.nan, dtype=np.float32)
    if gt_labels.numel() == 0:
        return match, costs
    c = matching_cost(class_logits, mask_logits, gt_labels, gt_masks, points, cfg).cpu().numpy()  # [Q, G]
    rows, cols = hungarian(c)
    match[rows] = cols
    costs[rows] = c[rows, cols]
    return match, costs


def gt_masks_for_input(segment_map: np.ndarray, segment_ids: list[int], geometry: dict) -> torch.Tensor:
    """GT masks [G, padded_h, padded_w] float in the model-input frame of one view.

    ``segment_map`` is the original [H, W] id map; crop + flip from geometry,
    nearest resize to (resized_h, resized_w), zero padding bottom/right.
    """
    y0, x0 = geometry["crop_y0"], geometry["crop_x0"]
    view_map = segment_map[y0: y0 + geometry["crop_h"], x0: x0 + geometry["crop_w"]]
    if geometry["flip"]:
        view_map = view_map[:, ::-1]
    rh, rw = geometry["resized_h"], geometry["resized_w"]
    if view_map.shape != (rh, rw):
        view_map = np.asarray(Image.fromarray(np.ascontiguousarray(view_map).astype(np.int32), mode="I")
                              .resize((rw, rh), Image.NEAREST))
    masks = torch.zeros(len(segment_ids), geometry["padded_h"], geometry["padded_w"])  # [G, Hp, Wp]
    ids = torch.from_numpy(np.ascontiguousarray(view_map).astype(np.int64))  # [rh, rw]
    for k, sid in enumerate(segment_ids):
        masks[k, :rh, :rw] = (ids == sid).float()
    return masks


def match_image(class_logits: torch.Tensor, mask_logits: torch.Tensor, segment_map: np.ndarray,
                segments: list[dict], labels: list[int], geometry: dict, *, seed: int, image_id: int,
                cfg: MatchConfig = MatchConfig()) -> tuple[np.ndarray, np.ndarray]:
    """Match one image's queries to its non-crowd segments visible in the view.

    ``labels[i]`` is the contiguous class of ``segments[i]``. Returns
    (match_segment [Q] index into ``segments`` or -1, match_cost [Q]).
    """
    cand = [i for i, s in enumerate(segments) if not s["iscrowd"]]
    masks = gt_masks_for_input(segment_map, [segments[i]["id"] for i in cand], geometry)  # [G, Hp, Wp]
    visible = [k for k in range(len(cand)) if masks[k].any()]
    cand, masks = [cand[k] for k in visible], masks[visible]
    points = sample_points(cfg.num_points, seed=seed, image_id=image_id, view=geometry.get("view", 0))
    gt_labels = torch.tensor([labels[i] for i in cand], dtype=torch.long)  # [G]
    match, cost = match_queries(class_logits, mask_logits, gt_labels, masks, points, cfg)
    seg_index = np.array(cand + [-1], dtype=np.int64)
    return seg_index[match], cost  # match == -1 -> seg_index[-1] == -1
