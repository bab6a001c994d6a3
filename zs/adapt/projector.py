"""Projector heads for the projection baseline, V2C and CPA: building and shared loss terms."""

from __future__ import annotations

import dataclasses

import torch

from zs.adapt.config import AdaptConfig
from zs.adapt.inputs import head_config_for, load_fitting_head
from zs.adapt.losses import cosine_logits, focal_alignment_loss, no_object_loss
from zs.errors import ConfigError
from zs.heads import ProjectorHead


def new_projector_head(store, cfg: AdaptConfig, text: torch.Tensor, *, hidden_dim: int | None = None) -> ProjectorHead:
    """A fresh ProjectorHead (D -> Dt) scoring against ``text`` [K, Dt]."""
    p = cfg.projector
    hcfg = head_config_for(store, cfg, kind="projector", text_dim=int(text.shape[1]),
                           hidden_dim=p.hidden_dim if hidden_dim is None else hidden_dim, tau=p.tau)
    return ProjectorHead(hcfg, text.detach().cpu())


def init_projector_head(store, cfg: AdaptConfig, text: torch.Tensor, device: torch.device) -> ProjectorHead:
    """``cfg.init_head`` (a projector head fitting the store) or a fresh one; identity restamped."""
    if cfg.init_head is None:
        return new_projector_head(store, cfg, text).to(device)
    old = load_fitting_head(cfg.init_head, store, device)
    if old.cfg.kind != "projector":
        raise ConfigError(f"--init-head {cfg.init_head} is a '{old.cfg.kind}' head; --method {cfg.method} "
                          "refits a projector head")
    if old.cfg.text_dim != text.shape[1]:
        raise ConfigError(f"--init-head {cfg.init_head} projects to {old.cfg.text_dim} dims, the store's text "
                          f"embeddings have {text.shape[1]}")
    fresh = new_projector_head(store, cfg, text, hidden_dim=old.cfg.hidden_dim)
    fresh.cfg = dataclasses.replace(fresh.cfg, tau=old.cfg.tau)
    state = {k: v for k, v in old.state_dict().items() if k != "class_embed"}
    fresh.load_state_dict(state, strict=False)
    return fresh.to(device)


def flatten_batch(batch: dict) -> tuple[torch.Tensor, torch.Tensor]:
    """image batch -> (embed [B*Q, D] float32, label [B*Q])."""
    embed = batch["embed"].float()
    return embed.reshape(-1, embed.shape[-1]), batch["label"].reshape(-1)


def seen_focal_term(head: ProjectorHead, proj: torch.Tensor, labels: torch.Tensor, seen: torch.Tensor,
                    cfg: AdaptConfig) -> torch.Tensor:
    """Eq. 1 / Eq. 9 first term: focal loss of matched seen queries vs the seen embeddings only.

    proj [N, Dt]; labels [N] (K = no-object); seen [S] seen class indices.
    """
    k = head.cfg.num_classes
    position = torch.full((k + 1,), -1, dtype=torch.long, device=labels.device)
    position[seen] = torch.arange(seen.numel(), device=labels.device)
    pos = position[labels]  # [N] index into seen, -1 for unseen/no-object
    keep = pos >= 0
    p = cfg.projector
    return focal_alignment_loss(proj[keep], pos[keep], head.class_embed[seen], head.cfg.tau,
                                p.focal_alpha, p.focal_gamma)


def no_object_term(head: ProjectorHead, embed: torch.Tensor, proj: torch.Tensor, labels: torch.Tensor,
                   cfg: AdaptConfig) -> torch.Tensor:
    """The learned no-object logit placed against (detached) class logits; labels K = no-object."""
    k = head.cfg.num_classes
    cls = cosine_logits(proj, head.class_embed, head.cfg.tau)  # [N, K]
    is_object = labels < k
    return no_object_loss(cls, head.no_object(embed), is_object, labels.clamp(max=k - 1) * is_object,
                          cfg.projector.no_object_coef)


def projector_optimizer(head: ProjectorHead, cfg: AdaptConfig, *, projector: bool = True) -> torch.optim.Optimizer:
    """AdamW over the projector (unless ``projector=False``) and the no-object logit (lr x scale)."""
    p = cfg.projector
    groups = [{"params": head.no_object.parameters(), "lr": p.lr * p.no_object_lr_scale}]
    if projector:
        groups.append({"params": head.projector.parameters(), "lr": p.lr})
    return torch.optim.AdamW(groups, lr=p.lr, weight_decay=p.weight_decay)
