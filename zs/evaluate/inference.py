"""Mask2Former's own post-processing: panoptic, semantic and instance inference.

Pure tensor functions, shared by the cached path (queries + masks read from the
store) and the full-image path (segmenter run end to end). They follow
Mask2Former's ``MaskFormer.panoptic_inference`` / ``semantic_inference`` /
``instance_inference`` and detectron2's ``sem_seg_postprocess`` line by line
(DESIGN §8); the reference fixture ``reference/d2-mask2former/A`` checks them.

Inputs are class *probabilities* (softmax over K+1, last = no-object) and mask
*probabilities* at the output resolution (``masks_to_image`` gets them there).
"""

from __future__ import annotations

import torch
import torch.nn.functional as F

from zs.errors import ZsError

OBJECT_THRESHOLD = 0.8  # MODEL.MASK_FORMER.TEST.OBJECT_MASK_THRESHOLD
OVERLAP_THRESHOLD = 0.8  # MODEL.MASK_FORMER.TEST.OVERLAP_THRESHOLD
TOPK_PER_IMAGE = 100  # TEST.DETECTIONS_PER_IMAGE
MASK_STRIDE = 4  # Mask2Former's masks are at 1/4 of the padded input
PROB_EPS = 1e-4  # probabilities -> logits: clamp to [eps, 1 - eps] (|logit| <= 9.2)


def _geometry_value(geometry: dict, key: str, default=None):
    value = geometry.get(key, default)
    if value is None:
        raise ZsError(f"image geometry has no '{key}' (got keys {sorted(geometry)})")
    return value


def masks_to_image(mask: torch.Tensor, geometry: dict, out_hw: tuple[int, int], *, is_prob: bool,
                   upsample: str = "logits") -> torch.Tensor:
    """Decoder-resolution masks -> probabilities at the original image size.

    As Mask2Former: bilinear upsampling (align_corners=False) to the padded
    input size, crop of the valid (resized) region, bilinear resize to the
    original size (``sem_seg_postprocess``). A mask canvas larger than the
    image's own ``padded / 4`` (a store padding every image's masks to one
    shape, bottom/right) is cropped to it first. Logits are upsampled and then
    passed through a sigmoid. Probabilities (``is_prob``, the store's
    quantised masks) are turned back into logits (clamped at ``PROB_EPS``) and
    follow the same path with ``upsample="logits"`` (default: much closer to
    the full-image result at mask borders), or are upsampled as they are with
    ``upsample="probs"``. A horizontally flipped view is flipped back.
    mask [Q, h, w] -> [Q, H, W] float32 in [0, 1].
    """
    if mask.dim() != 3:
        raise ZsError(f"masks must be [Q, h, w], got shape {tuple(mask.shape)}")
    padded = (int(_geometry_value(geometry, "padded_h")), int(_geometry_value(geometry, "padded_w")))
    resized = (int(_geometry_value(geometry, "resized_h")), int(_geometry_value(geometry, "resized_w")))
    if upsample not in ("logits", "probs"):
        raise ZsError(f"masks_to_image: upsample must be 'logits' or 'probs', got {upsample!r}")
    if resized[0] > padded[0] or resized[1] > padded[1]:
        raise ZsError(f"image geometry: resized {resized} larger than padded {padded}")
    own = (-(-padded[0] // MASK_STRIDE), -(-padded[1] // MASK_STRIDE))
    if mask.shape[-2] >= own[0] and mask.shape[-1] >= own[1] and tuple(mask.shape[-2:]) != own:
        mask = mask[:, : own[0], : own[1]]  # [Q, Hp/4, Wp/4]
    x = mask.float()[None]  # [1, Q, h, w]
    as_prob = is_prob and upsample == "probs"
    if is_prob and not as_prob:
        x = torch.logit(x.clamp(PROB_EPS, 1 - PROB_EPS))  # [1, Q, h, w] logits
    x = F.interpolate(x, size=padded, mode="bilinear", align_corners=False)  # [1, Q, Hp, Wp]
    x = x[:, :, : resized[0], : resized[1]]  # [1, Q, Hr, Wr]
    x = F.interpolate(x, size=tuple(int(s) for s in out_hw), mode="bilinear", align_corners=False)[0]  # [Q, H, W]
    if geometry.get("flip"):
        x = x.flip(-1)
    return x if as_prob else x.sigmoid()


def _check_inputs(class_probs: torch.Tensor, mask_probs: torch.Tensor) -> None:
    if class_probs.dim() != 2 or mask_probs.dim() != 3 or class_probs.shape[0] != mask_probs.shape[0]:
        raise ZsError(
            f"inference needs class_probs [Q, K+1] and mask_probs [Q, H, W] with the same Q, "
            f"got {tuple(class_probs.shape)} and {tuple(mask_probs.shape)}"
        )


def panoptic_inference(
    class_probs: torch.Tensor,
    mask_probs: torch.Tensor,
    isthing: torch.Tensor,
    *,
    object_threshold: float = OBJECT_THRESHOLD,
    overlap_threshold: float = OVERLAP_THRESHOLD,
) -> tuple[torch.Tensor, list[dict]]:
    """Mask2Former's panoptic inference.

    class_probs [Q, K+1] (softmax), mask_probs [Q, H, W] (sigmoid), isthing [K] bool
    -> (seg [H, W] int32 with 0 = void, segments [dict(id, label, isthing, score, area)]).
    Segment ids are 1..n in creation order; stuff of one class is merged into
    the first segment of that class (its score is the first query's).
    """
    _check_inputs(class_probs, mask_probs)
    num_classes = class_probs.shape[1] - 1
    scores, labels = class_probs.max(-1)  # [Q], [Q]
    keep = labels.ne(num_classes) & (scores > object_threshold)
    cur_scores, cur_classes, cur_masks = scores[keep], labels[keep], mask_probs[keep]  # [q], [q], [q, H, W]
    seg = torch.zeros(mask_probs.shape[-2:], dtype=torch.int32, device=mask_probs.device)  # [H, W]
    segments: list[dict] = []
    if cur_masks.shape[0] == 0:
        return seg, segments
    cur_prob_masks = cur_scores.view(-1, 1, 1) * cur_masks  # [q, H, W]
    cur_mask_ids = cur_prob_masks.argmax(0)  # [H, W]
    isthing = isthing.to("cpu")
    stuff_memory: dict[int, dict] = {}
    for k in range(cur_classes.shape[0]):
        pred_class = int(cur_classes[k])
        thing = bool(isthing[pred_class])
        wins = cur_mask_ids == k  # [H, W]
        binary = cur_masks[k] >= 0.5  # [H, W]
        mask = wins & binary
        mask_area, original_area, area = int(wins.sum()), int(binary.sum()), int(mask.sum())
        if mask_area == 0 or original_area == 0 or area == 0:
            continue
        if mask_area / original_area < overlap_threshold:
            continue
        if not thing and pred_class in stuff_memory:  # merge stuff regions of one class
            merged = stuff_memory[pred_class]
            seg[mask] = merged["id"]
            merged["area"] += area
            continue
        segment = {"id": len(segments) + 1, "label": pred_class, "isthing": thing,
                   "score": float(cur_scores[k]), "area": area}
        seg[mask] = segment["id"]
        segments.append(segment)
        if not thing:
            stuff_memory[pred_class] = segment
    return seg, segments


def semantic_inference(class_probs: torch.Tensor, mask_probs: torch.Tensor) -> torch.Tensor:
    """Mask2Former's semantic inference: sum_q softmax(q)[:K] * sigmoid(mask_q) -> [K, H, W]."""
    _check_inputs(class_probs, mask_probs)
    return torch.einsum("qc,qhw->chw", class_probs[:, :-1].float(), mask_probs.float())  # [K, H, W]


def instance_inference(
    class_probs: torch.Tensor,
    mask_probs: torch.Tensor,
    isthing: torch.Tensor,
    topk: int = TOPK_PER_IMAGE,
) -> dict[str, torch.Tensor]:
    """Mask2Former's instance inference (panoptic mode).

    The top-``topk`` (query, class) pairs by class probability over all K
    classes, then only thing classes are kept (as Mask2Former does when
    panoptic inference is on, so fewer than ``topk`` may remain). Mask =
    mask prob > 0.5; score = class prob x mean mask prob inside the mask.
    Returns dict(scores [n], labels [n], masks [n, H, W] bool), sorted by score.
    """
    _check_inputs(class_probs, mask_probs)
    num_queries, num_classes = class_probs.shape[0], class_probs.shape[1] - 1
    scores = class_probs[:, :-1]  # [Q, K]
    k = min(int(topk), num_queries * num_classes)
    top_scores, top_idx = scores.flatten().topk(k, sorted=True)  # [k], [k]
    labels = top_idx % num_classes  # [k]
    queries = top_idx // num_classes  # [k]
    keep = isthing.to(labels.device)[labels]  # [k]
    top_scores, labels, queries = top_scores[keep], labels[keep], queries[keep]
    probs = mask_probs[queries]  # [n, H, W]
    masks = probs > 0.5  # [n, H, W]
    binary = masks.flatten(1).float()  # [n, H*W]
    mask_scores = (probs.flatten(1) * binary).sum(1) / (binary.sum(1) + 1e-6)  # [n]
    final = top_scores * mask_scores  # [n]
    order = final.argsort(descending=True, stable=True)
    return {"scores": final[order], "labels": labels[order], "masks": masks[order]}

