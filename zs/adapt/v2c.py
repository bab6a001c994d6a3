"""Vision-to-CLIP alignment on the cache (semantic-centric paper §3.1), backbone frozen.

A ProjectorHead (MLP D -> Dt) is trained per image batch with
- V2S (Eq. 1, focal term): matched seen queries vs the seen class embeddings;
- V2T target attention (Eq. 2-3): the image's projected queries, attended by
  its CLIP global CLS token (matched queries emphasised by ``ta_gamma``), are
  aligned with that token against the batch's and a bank of earlier images'
  tokens (InfoNCE);
- V2T instance alignment (Eq. 4): each matched query vs its segment's CLIP CLS
  token, other segments of the same image as negatives;
plus the head's learned no-object logit (see ``losses.no_object_loss``).
The paper also fine-tunes the backbone; zs keeps the segmenter frozen and only
the projector learns. V2T needs CLIP tokens in the store whose dimension equals
the text embeddings' (the projector output is compared with both).
"""

from __future__ import annotations

from pathlib import Path

import torch

from zs.adapt.calibrate import calibrate
from zs.adapt.config import AdaptConfig
from zs.adapt.inputs import store_where, text_embeddings, write_head
from zs.adapt.loop import remove_checkpoint, summarize_history, train_steps
from zs.adapt.losses import global_token_loss, instance_alignment_loss, target_attention
from zs.adapt.projector import (
    flatten_batch,
    init_projector_head,
    no_object_term,
    projector_optimizer,
    seen_focal_term,
)
from zs.errors import ConfigError, ZsError


def check_clip_tokens(store, reader, text_dim: int) -> None:
    """Refuse V2T when the store has no CLIP tokens or they live in another space than the text."""
    clip = store.identity.clip
    if not clip or not reader.has_clip:
        raise ZsError(
            f"V2T (--v2t/--instance) needs CLIP tokens, but {store_where(store)} split '{reader.name}' has none "
            "(extract with CLIP, or pass --no-v2t --no-instance)"
        )
    clip_dim = int(clip.get("dim") or reader.clip_dim)
    if clip_dim != text_dim:
        raise ZsError(
            f"V2T: the CLIP tokens of {store_where(store)} have dim {clip_dim} but its text embeddings have "
            f"dim {text_dim}; they must share one space (pass --no-v2t --no-instance)"
        )


def update_bank(extra: dict, tokens: torch.Tensor, rows: torch.Tensor, size: int) -> None:
    """Push this batch's global tokens [B, Dc] (and image rows [B]) into the FIFO bank."""
    extra["bank"] = torch.cat([tokens.detach(), extra["bank"]])[:size]
    extra["bank_rows"] = torch.cat([rows, extra["bank_rows"]])[:size]


def v2t_terms(head, reader, batch: dict, proj: torch.Tensor, labels: torch.Tensor, extra: dict,
              cfg: AdaptConfig) -> dict[str, torch.Tensor]:
    """Target-attention (Eq. 2-3) and instance-alignment (Eq. 4) losses of one image batch."""
    p, k = cfg.projector, head.cfg.num_classes
    b, q = batch["label"].shape
    matched = labels < k  # [B*Q]
    terms = {}
    if p.v2t:
        c_global = batch["clip_global"].float()  # [B, Dc]
        rows = torch.as_tensor(batch["rows"], device=proj.device).long()  # [B]
        v_agg = target_attention(proj.view(b, q, -1), c_global, matched.view(b, q), p.ta_gamma)  # [B, Dt]
        bank_mask = extra["bank_rows"][None, :] != rows[:, None]  # [B, M]
        terms["global"] = global_token_loss(v_agg, c_global, extra["bank"], p.nce_tau, bank_mask)
        update_bank(extra, c_global, rows, p.bank_size)
    if p.instance:
        seg_rows = batch["segment_clip_rows"].reshape(-1)  # [B*Q]
        sel = matched & (seg_rows >= 0)
        c_seg = torch.as_tensor(reader.clip_segment(seg_rows[sel].cpu().numpy()), dtype=torch.float32,
                                device=proj.device)  # [M, Dc]
        image_of = torch.arange(b, device=proj.device).repeat_interleave(q)[sel]  # [M]
        terms["instance"] = instance_alignment_loss(proj[sel], c_seg, image_of, p.nce_tau)
    return terms


def fit_v2c(cfg: AdaptConfig, store, device: torch.device) -> Path:
    """Train the class projector with V2S + V2T on the cached queries (module docstring)."""
    p = cfg.projector
    if not (p.v2s or p.v2t or p.instance):
        raise ConfigError("--method v2c with --no-v2s --no-v2t --no-instance has nothing to train")
    reader = store.split(cfg.split)
    text = text_embeddings(store, cfg.text, device)  # [K, Dt]
    if p.v2t or p.instance:
        check_clip_tokens(store, reader, int(text.shape[1]))
    head = init_projector_head(store, cfg, text, device)
    seen = torch.tensor(store.vocab.seen_indices, dtype=torch.long, device=device)
    opt = projector_optimizer(head, cfg)
    clip_dim = int(text.shape[1])
    extra = {"bank": torch.zeros(0, clip_dim, device=device), "bank_rows": torch.zeros(0, dtype=torch.long, device=device)}

    def step_fn(batch: dict, step: int):
        embed, labels = flatten_batch(batch)  # [N, D], [N]
        proj = head.projector(embed)  # [N, Dt]
        terms = {"no_object": no_object_term(head, embed, proj, labels, cfg)}
        if p.v2s:
            terms["v2s"] = seen_focal_term(head, proj, labels, seen, cfg)
        terms.update(v2t_terms(head, reader, batch, proj, labels, extra, cfg))
        loss = (terms["no_object"] + terms.get("v2s", 0.0) + p.global_weight * terms.get("global", 0.0)
                + p.instance_weight * terms.get("instance", 0.0))
        return loss, {name: float(t.detach()) for name, t in terms.items()}

    history = train_steps(cfg, reader, device, {"head": head}, opt, step_fn, extra=extra)
    calibration = calibrate(head, reader, store, cfg, device)
    out = write_head(head.cpu(), store, cfg, init_head=cfg.init_head, training=summarize_history(history),
                     calibration=calibration)
    remove_checkpoint(cfg)
    return out
