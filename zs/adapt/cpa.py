"""Class projector adaptation (semantic-centric paper §3.3, Eq. 9), on the cache.

L_f = focal(F, A_s) + focal(F'_u, A): real matched seen queries against the seen
class embeddings, plus synthetic unseen features against *all* class
embeddings. Synthetic features come from a VAE generator's ``sample`` (noise
through the encoder, the unseen condition through the decoder); other
generator kinds are accepted with a warning. The projector starts from
``--init-head`` (normally the V2C head) or fresh; its no-object logit keeps
learning from the real queries (matched/synthetic -> object, unmatched ->
no-object).
"""

from __future__ import annotations

import logging
from pathlib import Path

import torch

from zs.adapt.calibrate import calibrate
from zs.adapt.classifier import draw_unseen_classes
from zs.adapt.config import AdaptConfig
from zs.adapt.inputs import generator_kind, resolve_generator, sample_synthetic, text_embeddings, write_head
from zs.adapt.loop import remove_checkpoint, summarize_history, train_steps
from zs.adapt.losses import focal_alignment_loss
from zs.adapt.projector import (
    flatten_batch,
    init_projector_head,
    no_object_term,
    projector_optimizer,
    seen_focal_term,
)
from zs.errors import ConfigError

log = logging.getLogger(__name__)


def fit_cpa(cfg: AdaptConfig, store, device: torch.device) -> Path:
    """Refit the projector on real seen + synthetic unseen features (module docstring)."""
    reader = store.split(cfg.split)
    text = text_embeddings(store, cfg.text, device)  # [K, Dt]
    gen, gen_manifest = resolve_generator(cfg.generator, store, device, cfg.method)
    if generator_kind(gen) != "vae":
        log.warning("cpa: generator kind is '%s'; the paper samples a VAE generator", generator_kind(gen))
    unseen = torch.tensor(store.vocab.unseen_indices, dtype=torch.long, device=device)
    if unseen.numel() == 0:
        raise ConfigError(f"--method cpa: vocabulary '{store.vocab.name}' has no unseen classes")
    seen = torch.tensor(store.vocab.seen_indices, dtype=torch.long, device=device)
    head = init_projector_head(store, cfg, text, device)
    p = cfg.projector
    rng = torch.Generator().manual_seed(cfg.seed)  # CPU draws: the same synthetic stream on any device
    opt = projector_optimizer(head, cfg)

    def step_fn(batch: dict, step: int):
        embed, labels = flatten_batch(batch)  # [N, D], [N]
        cls = draw_unseen_classes(unseen, p.synth_per_step, rng)  # [U]
        fake = sample_synthetic(gen, cls, 1, rng).to(embed.dtype)  # [U, D]
        x = torch.cat([embed, fake])  # [N+U, D]
        y = torch.cat([labels, cls])
        proj = head.projector(x)  # [N+U, Dt]
        n = embed.shape[0]
        real = seen_focal_term(head, proj[:n], labels, seen, cfg)
        synth = focal_alignment_loss(proj[n:], cls, head.class_embed, head.cfg.tau, p.focal_alpha, p.focal_gamma)
        no_obj = no_object_term(head, x, proj, y, cfg)
        loss = real + synth + no_obj
        return loss, {"real_seen": float(real.detach()), "synth_unseen": float(synth.detach()),
                      "no_object": float(no_obj.detach())}

    history = train_steps(cfg, reader, device, {"head": head}, opt, step_fn, rng=rng)
    calibration = calibrate(head, reader, store, cfg, device)
    training = {**summarize_history(history), "generator_kind": generator_kind(gen)}
    out = write_head(head.cpu(), store, cfg, generator_manifest=gen_manifest, init_head=cfg.init_head,
                     training=training, calibration=calibration)
    remove_checkpoint(cfg)
    return out
