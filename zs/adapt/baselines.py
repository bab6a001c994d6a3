"""The two reference rows: ``seen-only`` (the checkpoint's head) and ``projection`` (inductive).

``projection`` is a ProjectorHead with a single Linear projector D -> Dt fitted
in closed form (ridge least squares) from matched *seen* training queries to
their class text embeddings; class scores are cos(projected query, A_k) / tau
over all K classes. Its no-object logit starts from the seen head's no-object
row and is then fitted against the (frozen) class scores on the training
queries (matched -> object, unmatched -> no-object). No synthetic features, no
unseen data: the classic inductive baseline that shows the seen bias.
"""

from __future__ import annotations

import logging
from pathlib import Path

import torch

from zs.adapt.calibrate import calibrate
from zs.adapt.config import AdaptConfig
from zs.adapt.inputs import load_seen_head, restamp_head, seen_head_path, text_embeddings, write_head
from zs.adapt.loop import remove_checkpoint, summarize_history, train_steps
from zs.adapt.projector import flatten_batch, new_projector_head, no_object_term, projector_optimizer
from zs.errors import ZsError

log = logging.getLogger(__name__)


def fit_seen_only(cfg: AdaptConfig, store, device: torch.device) -> Path:
    """Copy of the store's seen head (the "supervised" row), restamped, optional calibration."""
    head = restamp_head(load_seen_head(store, device), store, cfg).to(device)
    reader = store.split(cfg.split) if cfg.gamma == "auto" else None
    calibration = calibrate(head, reader, store, cfg, device)
    return write_head(head.cpu(), store, cfg, init_head=seen_head_path(store), calibration=calibration)


@torch.no_grad()
def collect_matched_seen(reader, seen: list[int], device: torch.device, *, seed: int,
                         max_queries: int = 50000) -> tuple[torch.Tensor, torch.Tensor]:
    """Matched seen training queries: (embed [N, D], label [N]), at most ``max_queries``."""
    xs, ys, n = [], [], 0
    for embed, label in reader.matched_batches(4096, seed=seed, labels=seen, device=device, epochs=1):
        xs.append(embed.float())
        ys.append(label)
        n += label.shape[0]
        if n >= max_queries:
            break
    if not xs:
        raise ZsError("projection: the training split has no matched queries of seen classes")
    return torch.cat(xs)[:max_queries], torch.cat(ys)[:max_queries]


def ridge_projector(x: torch.Tensor, targets: torch.Tensor, ridge: float) -> tuple[torch.Tensor, torch.Tensor]:
    """argmin ||x W + b - targets||^2 + ridge ||W||^2: x [N, D], targets [N, Dt] -> (W [Dt, D], b [Dt])."""
    mean_x, mean_t = x.mean(0), targets.mean(0)  # [D], [Dt]
    xc, tc = (x - mean_x).double(), (targets - mean_t).double()
    gram = xc.t() @ xc + ridge * x.shape[0] * torch.eye(x.shape[1], dtype=torch.float64, device=x.device)  # [D, D]
    w = torch.linalg.solve(gram, xc.t() @ tc).float()  # [D, Dt]
    return w.t().contiguous(), mean_t - mean_x @ w


def fit_projection(cfg: AdaptConfig, store, device: torch.device) -> Path:
    """Inductive projection baseline (see module docstring)."""
    reader = store.split(cfg.split)
    text = text_embeddings(store, cfg.text, device)  # [K, Dt]
    seen_head = load_seen_head(store, device)
    head = new_projector_head(store, cfg, text, hidden_dim=0).to(device)
    x, y = collect_matched_seen(reader, store.vocab.seen_indices, device, seed=cfg.seed)
    w, b = ridge_projector(x, torch.nn.functional.normalize(text[y], dim=-1), cfg.projector.ridge)
    lin = head.projector[0]
    with torch.no_grad():
        lin.weight.copy_(w)
        lin.bias.copy_(b)
        if seen_head.cfg.kind == "linear":  # no-object row of the checkpoint's class head
            k = seen_head.cfg.num_classes
            head.no_object.weight.copy_(seen_head.fc.weight[k:k + 1])
            head.no_object.bias.copy_(seen_head.fc.bias[k:k + 1])
    head.projector.requires_grad_(False)
    opt = projector_optimizer(head, cfg, projector=False)

    def step_fn(batch: dict, step: int):
        embed, labels = flatten_batch(batch)
        with torch.no_grad():
            proj = head.projector(embed)  # [N, Dt]
        loss = no_object_term(head, embed, proj, labels, cfg)
        return loss, {"no_object": float(loss.detach())}

    history = train_steps(cfg, reader, device, {"no_object": head.no_object}, opt, step_fn)
    head.projector.requires_grad_(True)
    residual = float(((x @ w.t() + b) - torch.nn.functional.normalize(text[y], dim=-1)).pow(2).sum(-1).mean())
    calibration = calibrate(head, reader, store, cfg, device)
    out = write_head(head.cpu(), store, cfg, init_head=None,
                     training={**summarize_history(history), "ridge_residual": residual, "num_queries": len(y)},
                     calibration=calibration)
    remove_checkpoint(cfg)
    return out
