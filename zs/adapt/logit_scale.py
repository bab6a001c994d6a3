"""Inference logit scale of projector heads, fitted by maximum likelihood on the training queries.

A projector head scores ``cos(proj(e), A_k) / tau`` and a learned no-object
logit. Its projector is trained with sigmoid focal losses at a fixed ``tau``
(0.07, CLIP's initial temperature: the semantic-centric paper leaves its value
to a supplement we do not have), but Mask2Former's inference takes a *softmax*
over K+1 and keeps queries scoring > 0.8, so the softmax's sharpness matters.
As CLIP learns its logit scale, zs fits it: with the projector frozen, one
scalar ``s`` (class logits x ``exp(s)``) and the no-object Linear minimise the
class-weighted cross-entropy over K+1 on training-split queries (matched ->
their class, unmatched -> no-object with Mask2Former's weight 0.1). Only
training data enters; the threshold is untouched. ``--no-fit-scale`` keeps
``logit_scale = 1``.
"""

from __future__ import annotations

import copy
import logging
import math

import torch
import torch.nn.functional as F

from zs.errors import ZsError

log = logging.getLogger(__name__)


@torch.no_grad()
def training_queries(head, reader, *, device, seed: int, max_queries: int, images_per_batch: int = 64):
    """(embed [n, D], cos [n, K], label [n] with K = no-object) of up to ``max_queries`` training queries."""
    embeds, coss, labels, n = [], [], [], 0
    for batch in reader.image_batches(images_per_batch, seed=seed, device=device, epochs=1):
        e = batch["embed"].float().reshape(-1, batch["embed"].shape[-1])  # [B*Q, D]
        embeds.append(e)
        coss.append(head.project(e) @ head.class_embed.t())  # [B*Q, K]
        labels.append(batch["label"].reshape(-1))
        n += e.shape[0]
        if n >= max_queries:
            break
    if not embeds:
        raise ZsError("logit-scale fit: the training split has no queries")
    return torch.cat(embeds)[:max_queries], torch.cat(coss)[:max_queries], torch.cat(labels)[:max_queries]


def scaled_ce(cos: torch.Tensor, no_object_logit: torch.Tensor, labels: torch.Tensor, tau: float,
              log_scale: torch.Tensor, no_object_coef: float) -> torch.Tensor:
    """Cross-entropy over [cos / tau * exp(log_scale), no-object]; labels K = no-object (weight coef).

    cos [n, K], no_object_logit [n, 1], labels [n] -> scalar.
    """
    k = cos.shape[1]
    logits = torch.cat([cos / tau * log_scale.exp(), no_object_logit], 1)  # [n, K+1]
    weight = torch.ones(k + 1, dtype=logits.dtype, device=logits.device)
    weight[k] = no_object_coef
    return F.cross_entropy(logits, labels, weight=weight)


def fit_logit_scale(head, reader, *, device, seed: int = 0, max_queries: int = 50000,
                    no_object_coef: float = 0.1) -> dict:
    """Fit ``head.cfg.logit_scale`` and ``head.no_object`` (projector frozen); returns a manifest record."""
    embed, cos, labels = training_queries(head, reader, device=device, seed=seed, max_queries=max_queries)
    log_scale = torch.zeros((), device=cos.device, requires_grad=True)
    no_object = copy.deepcopy(head.no_object).requires_grad_(True)
    opt = torch.optim.LBFGS([log_scale, *no_object.parameters()], lr=0.5, max_iter=200,
                            line_search_fn="strong_wolfe")

    def closure():
        opt.zero_grad()
        loss = scaled_ce(cos, no_object(embed), labels, head.cfg.tau, log_scale, no_object_coef)
        loss.backward()
        return loss

    with torch.no_grad():
        before = float(scaled_ce(cos, head.no_object(embed), labels, head.cfg.tau, log_scale, no_object_coef))
    opt.step(closure)
    with torch.no_grad():
        after = float(scaled_ce(cos, no_object(embed), labels, head.cfg.tau, log_scale, no_object_coef))
    scale = float(log_scale.detach().exp())
    if not math.isfinite(scale) or scale <= 0.0 or not math.isfinite(after) or after > before:
        # scale <= 0: exp underflowed, the fit ignores the class scores (queries carry no class information)
        log.warning("logit-scale fit failed (scale %g, training loss %.4f -> %.4f); kept scale %g", scale, before,
                    after, head.cfg.logit_scale)
        return {"rule": "fit failed, scale kept", "logit_scale": head.cfg.logit_scale, "num_queries": len(labels)}
    head.cfg.logit_scale = scale
    head.no_object.load_state_dict(no_object.state_dict())
    log.info("logit scale %.3f (effective tau %.4f) from %d training queries", scale, head.cfg.tau / scale,
             len(labels))
    return {"rule": "max likelihood (K+1 CE, no-object weight %g) on training queries, projector frozen"
                    % no_object_coef,
            "logit_scale": scale, "effective_tau": head.cfg.tau / scale, "num_queries": int(len(labels)),
            "ce_before": before, "ce_after": after}
