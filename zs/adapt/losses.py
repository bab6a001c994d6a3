"""Losses of the head refits, as pure functions.

Equation numbers refer to the semantic-centric paper
(``papers/semantic-centric-alignment.txt``) unless PADing is named.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F


def sigmoid_focal_loss(logits: torch.Tensor, targets: torch.Tensor, alpha: float = 0.25,
                       gamma: float = 2.0) -> torch.Tensor:
    """Sigmoid focal loss (Lin et al. 2017), summed over classes, mean over rows.

    The classification term of Eq. 1 (V2S), of GV2S and of Eq. 9 (CPA).
    logits, targets: [N, C]; targets in {0, 1}.
    """
    if logits.shape[0] == 0:
        return logits.sum() * 0.0
    p = logits.sigmoid()  # [N, C]
    ce = F.binary_cross_entropy_with_logits(logits, targets, reduction="none")  # [N, C]
    p_t = p * targets + (1 - p) * (1 - targets)
    loss = ce * (1 - p_t) ** gamma
    if alpha >= 0:
        loss = (alpha * targets + (1 - alpha) * (1 - targets)) * loss
    return loss.sum() / logits.shape[0]


def cosine_logits(proj: torch.Tensor, class_embed: torch.Tensor, tau: float) -> torch.Tensor:
    """cos(proj, A) / tau: [N, Dt] x [C, Dt] -> [N, C] (inputs need not be unit-norm)."""
    return F.normalize(proj, dim=-1) @ F.normalize(class_embed, dim=-1).t() / tau


def focal_alignment_loss(proj: torch.Tensor, labels: torch.Tensor, class_embed: torch.Tensor, tau: float,
                         alpha: float = 0.25, gamma: float = 2.0) -> torch.Tensor:
    """Focal loss of cosine logits against a set of class embeddings (Eq. 1 V2S; Eq. 9 CPA terms).

    proj [N, Dt]; labels [N] in 0..C-1 (index into ``class_embed`` [C, Dt]).
    """
    logits = cosine_logits(proj, class_embed, tau)  # [N, C]
    targets = F.one_hot(labels, class_embed.shape[0]).to(logits.dtype)  # [N, C]
    return sigmoid_focal_loss(logits, targets, alpha, gamma)


def target_attention(v: torch.Tensor, c_global: torch.Tensor, matched: torch.Tensor,
                     ta_gamma: float = 1.0) -> torch.Tensor:
    """Eq. 2: attention of an image's CLS token over its queries, matched ones emphasised.

    v [B, Q, Dt] projected queries; c_global [B, Dt]; matched [B, Q] bool.
    Returns the aggregated features V_a = W^T V: [B, Dt].
    """
    sim = torch.einsum("bqd,bd->bq", F.normalize(v, dim=-1), F.normalize(c_global, dim=-1))  # [B, Q]
    w = (sim * (ta_gamma * matched.to(sim.dtype) + 1.0)).softmax(dim=1)  # [B, Q]
    return torch.einsum("bq,bqd->bd", w, v)  # [B, Dt]


def global_token_loss(v_agg: torch.Tensor, c_global: torch.Tensor, bank: torch.Tensor | None,
                      tau: float = 0.07, bank_mask: torch.Tensor | None = None) -> torch.Tensor:
    """Eq. 3: InfoNCE of V_a against its image's CLS token; other images' tokens are negatives.

    v_agg [B, Dt]; c_global [B, Dt]; bank [M, Dt] tokens of earlier images (or None);
    bank_mask [B, M] bool, False where a bank entry must not be a negative (same image).
    """
    a = F.normalize(v_agg, dim=-1)
    batch = F.normalize(c_global, dim=-1)  # [B, Dt]
    logits = a @ batch.t() / tau  # [B, B]
    if bank is not None and bank.shape[0] > 0:
        lb = a @ F.normalize(bank, dim=-1).t() / tau  # [B, M]
        if bank_mask is not None:
            lb = lb.masked_fill(~bank_mask, float("-inf"))
        logits = torch.cat([logits, lb], dim=1)  # [B, B+M]
    target = torch.arange(a.shape[0], device=a.device)
    return F.cross_entropy(logits, target)


def instance_alignment_loss(v_matched: torch.Tensor, c_segment: torch.Tensor, image_of: torch.Tensor,
                            tau: float = 0.07) -> torch.Tensor:
    """Eq. 4: InfoNCE of each matched query with its segment's CLS token, within its image.

    v_matched [M, Dt]; c_segment [M, Dt] (row i = token of query i's segment); image_of [M].
    """
    if v_matched.shape[0] == 0:
        return v_matched.sum() * 0.0
    logits = F.normalize(v_matched, dim=-1) @ F.normalize(c_segment, dim=-1).t() / tau  # [M, M]
    same_image = image_of[:, None] == image_of[None, :]  # [M, M]
    logits = logits.masked_fill(~same_image, float("-inf"))
    target = torch.arange(v_matched.shape[0], device=v_matched.device)
    return F.cross_entropy(logits, target)


def weighted_class_loss(logits: torch.Tensor, labels: torch.Tensor, class_weight: torch.Tensor) -> torch.Tensor:
    """PADing classifier refit: CE over K+1 with class weights (seen 1 / unseen 5 / no-object 0.1).

    logits [N, K+1]; labels [N]; class_weight [K+1]. Mean weighted by the targets' weights,
    as Mask2Former's ``empty_weight`` cross-entropy.
    """
    return F.cross_entropy(logits, labels, weight=class_weight)


def no_object_loss(class_logits: torch.Tensor, no_object_logit: torch.Tensor, is_object: torch.Tensor,
                   labels: torch.Tensor, no_object_coef: float = 0.1) -> torch.Tensor:
    """Learned no-object score of a projector head, placed against fixed class logits.

    CE over [class_logits (detached), no_object_logit] with target = class label for matched
    queries and no-object for unmatched ones (weight ``no_object_coef``), so only the
    no-object logit learns where to sit. class_logits [N, K]; no_object_logit [N, 1];
    is_object [N] bool; labels [N] (any value where not is_object).
    """
    logits = torch.cat([class_logits.detach(), no_object_logit], dim=-1)  # [N, K+1]
    k = class_logits.shape[-1]
    target = torch.where(is_object, labels, torch.full_like(labels, k))
    weight = torch.ones(k + 1, dtype=logits.dtype, device=logits.device)
    weight[k] = no_object_coef
    return F.cross_entropy(logits, target, weight=weight)
