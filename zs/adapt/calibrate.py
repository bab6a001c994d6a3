"""Calibrated stacking (beyond the papers): gamma subtracted from seen-class logits.

``--gamma auto`` never looks at unseen labels. Rule ("seen-recall budget"):
on matched queries of *seen* classes of the training split, compute each
query's margin ``max_seen_logit - max(max_unseen_logit, no_object_logit)``
(raw logits). A query keeps a seen top-1 (over K+1) after calibration iff its
margin exceeds gamma, so gamma = the (1 - f)-quantile of the margins keeps
exactly a fraction ``f`` (``--gamma-seen-fraction``, default 0.9) of them
seen. gamma can be negative when a head is biased towards unseen classes.
"""

from __future__ import annotations

import logging

import torch

from zs.adapt.config import AdaptConfig
from zs.errors import ZsError

log = logging.getLogger(__name__)


@torch.no_grad()
def seen_unseen_margins(head, reader, *, seen: list[int], unseen: list[int], device: torch.device,
                        seed: int = 0, max_queries: int = 20000, batch_size: int = 4096) -> torch.Tensor:
    """max seen logit - max(max unseen, no-object) logit of matched seen queries: [n] (raw logits)."""
    seen_t = torch.tensor(seen, device=device)
    unseen_t = torch.tensor(unseen, device=device)
    margins, n = [], 0
    for embed, _label in reader.matched_batches(batch_size, seed=seed, labels=seen, device=device, epochs=1):
        logits = head.raw_logits(embed.float())  # [B, K+1]
        rival = torch.maximum(logits[:, unseen_t].max(-1).values, logits[:, -1])  # [B]
        m = logits[:, seen_t].max(-1).values - rival  # [B]
        margins.append(m.float().cpu())
        n += m.shape[0]
        if n >= max_queries:
            break
    if not margins:
        raise ZsError("gamma auto: the training split has no matched queries of seen classes")
    return torch.cat(margins)[:max_queries]


def auto_gamma(margins: torch.Tensor, seen_fraction: float) -> float:
    """gamma such that a fraction ``seen_fraction`` of the margins stays above it."""
    return float(torch.quantile(margins.double(), 1.0 - seen_fraction))


def calibrate(head, reader, store, cfg: AdaptConfig, device: torch.device) -> dict:
    """Projector heads: fit the logit scale (``cfg.fit_scale``); then set ``head.cfg.gamma`` from
    ``cfg.gamma`` (None -> 0, a value, or "auto"). Returns a record (``logit_scale`` included)."""
    record = {}
    if cfg.fit_scale and head.cfg.kind == "projector":
        from zs.adapt.logit_scale import fit_logit_scale

        head.eval()
        record["logit_scale"] = fit_logit_scale(head, reader, device=device, seed=cfg.seed,
                                                max_queries=cfg.fit_scale_max_queries,
                                                no_object_coef=cfg.projector.no_object_coef)
    return {**_calibrate_gamma(head, reader, store, cfg, device), **record}


def _calibrate_gamma(head, reader, store, cfg: AdaptConfig, device: torch.device) -> dict:
    if cfg.gamma is None:
        head.cfg.gamma = 0.0
        return {"rule": "none", "gamma": 0.0}
    if cfg.gamma != "auto":
        head.cfg.gamma = float(cfg.gamma)
        return {"rule": "given", "gamma": head.cfg.gamma}
    seen, unseen = store.vocab.seen_indices, store.vocab.unseen_indices
    if not unseen or not seen:
        log.warning("gamma auto: vocabulary has no unseen (or no seen) classes; gamma = 0")
        head.cfg.gamma = 0.0
        return {"rule": "auto", "gamma": 0.0, "note": "no unseen classes"}
    head.eval()
    margins = seen_unseen_margins(head, reader, seen=seen, unseen=unseen, device=device, seed=cfg.seed,
                                  max_queries=cfg.gamma_max_queries)
    gamma = auto_gamma(margins, cfg.gamma_seen_fraction)
    head.cfg.gamma = gamma
    log.info("gamma auto = %.4f from %d matched seen queries", gamma, margins.numel())
    return {"rule": "auto: (1-f)-quantile of max_seen - max(max_unseen, no_object) logit on matched seen "
                    "train queries",
            "seen_fraction": cfg.gamma_seen_fraction, "num_queries": int(margins.numel()),
            "split": cfg.split, "gamma": gamma}
