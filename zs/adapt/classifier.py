"""PADing classifier refit: Linear(D -> K+1) from the checkpoint's head, real + synthetic unseen.

Each step takes all queries of ``images_per_batch`` training images (matched ->
their class, unmatched -> no-object) plus ``synth_classes x synth_per_class``
synthetic features of randomly drawn unseen classes from the generator, and
minimises the class-weighted CE (seen 1, unseen 5, no-object 0.1) with SGD
(lr 1e-3, momentum 0.9, weight decay 5e-4), as PADing's released code.
"""

from __future__ import annotations

from pathlib import Path

import torch

from zs.adapt.calibrate import calibrate
from zs.adapt.inputs import (
    generator_kind,
    load_fitting_head,
    restamp_head,
    resolve_generator,
    sample_synthetic,
    seen_head_path,
    write_head,
)
from zs.adapt.config import AdaptConfig
from zs.adapt.loop import remove_checkpoint, summarize_history, train_steps
from zs.adapt.losses import weighted_class_loss
from zs.errors import ConfigError


def class_weights(seen_mask: torch.Tensor, params) -> torch.Tensor:
    """[K+1] CE weights: seen ``seen_weight``, unseen ``unseen_weight``, no-object ``no_object_weight``."""
    k = seen_mask.numel()
    w = torch.full((k + 1,), params.unseen_weight)
    w[:k][seen_mask] = params.seen_weight
    w[k] = params.no_object_weight
    return w


def draw_unseen_classes(unseen: torch.Tensor, n: int, rng: torch.Generator) -> torch.Tensor:
    """``n`` unseen class ids: distinct while there are enough, else with replacement.

    Drawn with ``rng`` on its device (the CPU in zs) and moved to ``unseen``'s device."""
    if unseen.numel() >= n:
        pick = torch.randperm(unseen.numel(), generator=rng, device=rng.device)[:n]
    else:
        pick = torch.randint(unseen.numel(), (n,), generator=rng, device=rng.device)
    return unseen[pick.to(unseen.device)]


def fit_classifier(cfg: AdaptConfig, store, device: torch.device) -> Path:
    """PADing's classifier refit (module docstring); returns the head directory."""
    init = cfg.init_head or seen_head_path(store)
    head = load_fitting_head(init, store, device)
    if head.cfg.kind != "linear":
        raise ConfigError(f"--method classifier refits a linear head; {init} is a '{head.cfg.kind}' head")
    head = restamp_head(head, store, cfg).to(device)
    gen, gen_manifest = resolve_generator(cfg.generator, store, device, cfg.method)
    unseen = torch.tensor(store.vocab.unseen_indices, dtype=torch.long, device=device)
    if unseen.numel() == 0:
        raise ConfigError(f"--method classifier: vocabulary '{store.vocab.name}' has no unseen classes")
    p = cfg.classifier
    weight = class_weights(torch.tensor(store.vocab.seen_mask()), p).to(device)
    rng = torch.Generator().manual_seed(cfg.seed)  # CPU draws: the same synthetic stream on any device
    opt = torch.optim.SGD(head.parameters(), lr=p.lr, momentum=p.momentum, weight_decay=p.weight_decay)

    def step_fn(batch: dict, step: int):
        embed = batch["embed"].float()
        embed = embed.reshape(-1, embed.shape[-1])  # [B*Q, D]
        labels = batch["label"].reshape(-1)  # [B*Q]
        cls = draw_unseen_classes(unseen, p.synth_classes, rng)  # [U]
        fake = sample_synthetic(gen, cls, p.synth_per_class, rng)  # [U*n, D]
        x = torch.cat([embed, fake.to(embed.dtype)])  # [B*Q + U*n, D]
        y = torch.cat([labels, cls.repeat_interleave(p.synth_per_class)])
        loss = weighted_class_loss(head(x), y, weight)
        return loss, {}

    history = train_steps(cfg, store.split(cfg.split), device, {"head": head}, opt, step_fn, rng=rng)
    calibration = calibrate(head, store.split(cfg.split), store, cfg, device)
    training = {**summarize_history(history), "generator_kind": generator_kind(gen)}
    out = write_head(head.cpu(), store, cfg, generator_manifest=gen_manifest, init_head=init,
                     training=training, calibration=calibration)
    remove_checkpoint(cfg)
    return out
