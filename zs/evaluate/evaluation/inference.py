"""Mask2Former's own post-processing: panoptic, semantic and instance inference.

Pure tensor functions, shared by the cached path (queries + masks read from the
store) and the full-image path (segmenter run end to end). They follow
Mask2Former's ``MaskFormer.panoptic_inference`` / ``semantic_inference`` /
``instance_inference`` and detectron2's ``sem_seg_postprocess`` line by line
(DESIGN §8); the reference fixture ``reference/d2-mask2former/A`` checks them.

Inputs are class *probabilities* (softmax over K+1, last = no-object) and mask
*probabilities* at the output resolution (``masks_to_image`` gets them there).

Two ways to the image size. ``masks_to_image`` is Mask2Former's (``--exact``);
``masks_to_image_fast`` samples the same points in one resize, and with
``semantic_support`` / ``semantic_labels`` the default (fast) evaluation path
does the work only for the queries that can matter (``zs.evaluate.evaluation.streaming``;
agreement: ``benchmarks/eval_agreement.py``, ``tests/evaluate/test_fast_vs_exact.py``).

The exact functions are fast, but bit-identical to the plain loops (``tests/evaluate/test_evaluate_fast_paths.py``):
``max(0).indices`` instead of ``argmax(0)`` (same first-max rule, many times faster
on CPU), per-query pixel counts by ``bincount`` instead of a loop over queries,
instance mask scores once per distinct query. What is *not* done, because it
changes low bits: cropping before upsampling, resizing strided views or other
memory layouts, sigmoid on strided views (PyTorch's vectorised and scalar
kernels round differently).
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
    out_hw = tuple(int(s) for s in out_hw)
    if tuple(x.shape[-2:]) != out_hw:  # a same-size bilinear resize is the identity: skipped
        x = F.interpolate(x, size=out_hw, mode="bilinear", align_corners=False)  # [1, Q, H, W]
    x = x[0].contiguous()  # [Q, H, W] (elementwise kernels round differently on strided views)
    if geometry.get("flip"):
        x = x.flip(-1)
    return x if as_prob else x.sigmoid_()  # in place: x is a fresh buffer


def masks_to_image_fast(mask: torch.Tensor, geometry: dict, out_hw: tuple[int, int]) -> torch.Tensor:
    """Decoder-resolution mask logits -> logits at the original image size, in one bilinear resize.

    Mask2Former's two resizes (to the padded input, crop, to the original size; both bilinear,
    ``align_corners=False``) map output pixel ``y`` to mask coordinate ``(y + 0.5) * (Hr / 4) / H - 0.5``
    (``Hr`` the resized input height): one bilinear resize with that scale samples the same points,
    without the intermediate grid (about 3x fewer values than the padded-size pass). It differs from
    the exact path only by the intermediate grid's interpolation (a small smoothing, ``--exact`` keeps
    the two-step path). Returns *logits* (no sigmoid). mask [Q, h, w] -> [Q, H, W] float32.
    """
    if mask.dim() != 3:
        raise ZsError(f"masks must be [Q, h, w], got shape {tuple(mask.shape)}")
    resized = (int(_geometry_value(geometry, "resized_h")), int(_geometry_value(geometry, "resized_w")))
    out_hw = tuple(int(s) for s in out_hw)
    x = mask.float()[None]  # [1, Q, h, w]; only its top-left (resized / 4) region is read
    scales = [out_hw[0] * MASK_STRIDE / resized[0], out_hw[1] * MASK_STRIDE / resized[1]]  # out px per mask px
    x = torch.ops.aten.upsample_bilinear2d(x, list(out_hw), False, *scales)[0]  # [Q, H, W]
    return x.flip(-1) if geometry.get("flip") else x


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
    cur_masks = mask_probs if bool(keep.all()) else mask_probs[keep]  # [q, H, W] (no copy when all are kept)
    cur_scores, cur_classes = scores[keep], labels[keep]  # [q], [q]
    seg = torch.zeros(mask_probs.shape[-2:], dtype=torch.int32, device=mask_probs.device)  # [H, W]
    if cur_masks.shape[0] == 0:
        return seg, []
    cur_mask_ids = (cur_scores.view(-1, 1, 1) * cur_masks).max(0).indices  # [H, W] (first max, as argmax)
    won = cur_masks.gather(0, cur_mask_ids[None])[0] >= 0.5  # [H, W]: the winner's own mask is >= 0.5
    q = cur_masks.shape[0]
    areas = {  # per kept query: pixels won, pixels with mask >= 0.5, pixels won with mask >= 0.5
        "mask": torch.bincount(cur_mask_ids.flatten(), minlength=q).tolist(),
        "original": (cur_masks >= 0.5).flatten(1).view(torch.uint8).sum(1, dtype=torch.int32).tolist(),
        "final": torch.bincount(cur_mask_ids[won], minlength=q).tolist(),
    }
    segment_of, segments = _assign_segments(cur_classes.tolist(), cur_scores.tolist(), areas, isthing.to("cpu"),
                                            overlap_threshold)
    lut = torch.tensor(segment_of, dtype=torch.int32, device=seg.device)  # [q] segment id per query (0: none)
    seg = torch.where(won, lut[cur_mask_ids], seg)  # [H, W]
    return seg, segments


def _assign_segments(classes: list[int], scores: list[float], areas: dict, isthing: torch.Tensor,
                     overlap_threshold: float) -> tuple[list[int], list[dict]]:
    """Mask2Former's per-query loop on pixel counts: which kept query becomes which segment.

    A query is dropped when it wins no pixel, has no mask >= 0.5 pixel, wins
    none of those, or wins < ``overlap_threshold`` of its mask; stuff of a
    class seen before is merged into that class's first segment. Returns
    (segment id per query, 0 = dropped; segments in creation order).
    """
    segment_of = [0] * len(classes)
    segments: list[dict] = []
    stuff_memory: dict[int, dict] = {}
    for k, (pred_class, score) in enumerate(zip(classes, scores)):
        thing = bool(isthing[pred_class])
        mask_area, original_area, area = areas["mask"][k], areas["original"][k], areas["final"][k]
        if mask_area == 0 or original_area == 0 or area == 0:
            continue
        if mask_area / original_area < overlap_threshold:
            continue
        if not thing and pred_class in stuff_memory:  # merge stuff regions of one class
            merged = stuff_memory[pred_class]
            segment_of[k] = merged["id"]
            merged["area"] += area
            continue
        segment = {"id": len(segments) + 1, "label": pred_class, "isthing": thing, "score": score, "area": area}
        segment_of[k] = segment["id"]
        segments.append(segment)
        if not thing:
            stuff_memory[pred_class] = segment
    return segment_of, segments


def semantic_inference(class_probs: torch.Tensor, mask_probs: torch.Tensor) -> torch.Tensor:
    """Mask2Former's semantic inference: sum_q softmax(q)[:K] * sigmoid(mask_q) -> [K, H, W]."""
    _check_inputs(class_probs, mask_probs)
    return torch.einsum("qc,qhw->chw", class_probs[:, :-1].float(), mask_probs.float())  # [K, H, W]


def semantic_support(class_probs: torch.Tensor, min_prob: float) -> tuple[torch.Tensor, torch.Tensor]:
    """The queries and classes that decide the semantic map in practice.

    Queries whose best class probability (no-object excluded) is >= ``min_prob``, and the classes
    that one of those queries gives >= ``min_prob``. A trained head puts nearly all of its non-void
    mass on a few queries, so the other queries' terms of ``sum_q p_qc * mask_q`` are too small to
    change the per-pixel argmax except where no query covers the pixel. When no query qualifies,
    every query and class. class_probs [Q, K+1] -> (queries [q], classes [k]) sorted int64.
    """
    probs = class_probs[:, :-1]  # [Q, K]
    queries = torch.nonzero(probs.max(1).values >= min_prob)[:, 0]  # [q]
    if queries.numel() == 0:
        return torch.arange(probs.shape[0], device=probs.device), torch.arange(probs.shape[1], device=probs.device)
    classes = torch.nonzero(probs[queries].max(0).values >= min_prob)[:, 0]  # [k]
    return queries, classes


def semantic_labels(class_probs: torch.Tensor, mask_probs: torch.Tensor, classes: torch.Tensor) -> torch.Tensor:
    """Per-pixel argmax of Mask2Former's semantic scores ``sum_q p_qc * mask_q`` over ``classes`` only.

    class_probs [q, k] (the probabilities of ``classes``; a zero row drops a query), mask_probs
    [q, H, W], classes [k] -> labels [H, W] int64 (values from ``classes``).
    """
    if class_probs.dim() != 2 or mask_probs.dim() != 3 or class_probs.shape[0] != mask_probs.shape[0]:
        raise ZsError(f"semantic_labels needs weights [q, k] and masks [q, H, W] with the same q, "
                      f"got {tuple(class_probs.shape)} and {tuple(mask_probs.shape)}")
    q, h, w = mask_probs.shape
    scores = class_probs.float().T @ mask_probs.float().reshape(q, h * w)  # [k, H*W] (one sgemm)
    return classes[scores.max(0).indices].view(h, w)  # [H, W] (first max, as argmax)


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
    top_scores, labels, queries = instance_candidates(class_probs, isthing, topk)  # [n] each
    uniq, inverse = torch.unique(queries, return_inverse=True)  # [u], [n]
    masks, mask_scores = instance_mask_scores(mask_probs[uniq])  # [u, H, W] bool, [u]
    final = top_scores * mask_scores[inverse]  # [n]
    order = final.argsort(descending=True, stable=True)
    return {"scores": final[order], "labels": labels[order], "masks": masks[inverse[order]]}


def instance_candidates(class_probs: torch.Tensor, isthing: torch.Tensor,
                        topk: int = TOPK_PER_IMAGE) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """The top-``topk`` (query, class) pairs over all K classes, then thing classes only.

    class_probs [Q, K+1] -> (class prob [n], label [n], query [n]), in top-k order.
    """
    num_queries, num_classes = class_probs.shape[0], class_probs.shape[1] - 1
    scores = class_probs[:, :-1]  # [Q, K]
    k = min(int(topk), num_queries * num_classes)
    top_scores, top_idx = scores.flatten().topk(k, sorted=True)  # [k], [k]
    labels = top_idx % num_classes  # [k]
    queries = top_idx // num_classes  # [k]
    keep = isthing.to(labels.device)[labels]  # [k]
    return top_scores[keep], labels[keep], queries[keep]


def instance_mask_scores(mask_probs: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """Binary masks (prob > 0.5) and mean mask prob inside them; [u, H, W] -> ([u, H, W] bool, [u]).

    Mask2Former's ``(probs * binary).sum / (binary.sum + 1e-6)``, per query (row sums do not depend
    on the other rows, so scoring each distinct query once gives the same numbers). ``threshold``
    gives exactly the summed values ``p * 1.0`` / ``p * 0.0`` (p >= 0) in one pass.
    """
    masks = mask_probs > 0.5  # [u, H, W]
    inside = F.threshold(mask_probs.flatten(1), 0.5, 0.0).sum(1)  # [u]: sum of p over p > 0.5
    count = masks.flatten(1).view(torch.uint8).sum(1, dtype=torch.int32).float()  # [u] exact pixel counts
    return masks, inside / (count + 1e-6)
