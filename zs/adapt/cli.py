"""click commands of zs.adapt (parsing only; the work is done by zs.adapt functions)."""

from __future__ import annotations

import click

from zs.adapt.config import DEFAULT_STEPS, METHODS


@click.command("adapt")
@click.option("--store", "store", required=True, help="Feature store (path or URL).")
@click.option("--method", type=click.Choice(METHODS), required=True,
              help="seen-only | projection | classifier (PADing) | v2c | cpa.")
@click.option("--out", "out", required=True, type=click.Path(file_okay=False), help="Head directory to write.")
@click.option("--generator", default=None, type=click.Path(exists=True, file_okay=False),
              help="Fitted generator directory (classifier, cpa).")
@click.option("--init-head", default=None, type=click.Path(exists=True, file_okay=False),
              help="Start from this head (classifier: a linear head; cpa/v2c: a projector head, e.g. the V2C one).")
@click.option("--text", default=None, help="Text-embedding set of the store (default: 'default').")
@click.option("--split", default="train", show_default=True, help="Store split to train on.")
@click.option("--allow-unseen-in-train", is_flag=True,
              help="Train even if the split has queries matched to unseen classes (transductive experiments).")
@click.option("--steps", type=click.IntRange(min=1), default=None,
              help="Optimiser steps (default per method: "
                   + ", ".join(f"{k} {v}" for k, v in DEFAULT_STEPS.items()) + "; synthetic-world sized).")
@click.option("--images-per-batch", type=int, default=12, show_default=True, help="Images per step.")
@click.option("--lr", type=click.FloatRange(min=0, min_open=True), default=None, help="Learning rate (classifier: SGD 1e-3; projector: AdamW 1e-3).")
@click.option("--gamma", default=None,
              help="Calibrated stacking: a value subtracted from seen-class logits, or 'auto'.")
@click.option("--gamma-seen-fraction", type=float, default=0.9, show_default=True,
              help="'auto' keeps this fraction of matched seen training queries seen.")
@click.option("--fit-scale/--no-fit-scale", default=True, show_default=True,
              help="Projector heads: fit the inference logit scale (and no-object logit) by maximum likelihood "
                   "on the training queries.")
@click.option("--v2s/--no-v2s", default=True, show_default=True, help="v2c: vision-to-semantic focal loss.")
@click.option("--v2t/--no-v2t", default=True, show_default=True, help="v2c: target attention vs CLIP global tokens.")
@click.option("--instance/--no-instance", default=True, show_default=True,
              help="v2c: instance alignment vs CLIP segment tokens.")
@click.option("--hidden-dim", type=click.IntRange(min=0), default=None, help="Projector MLP hidden size (0 = one Linear; default 256).")
@click.option("--resume/--no-resume", default=True, show_default=True, help="Continue from OUT/checkpoint.pt.")
@click.option("--checkpoint-every", type=int, default=100, show_default=True, help="Steps between checkpoints.")
@click.option("--device", default="auto", show_default=True, help="auto | cpu | cuda | cuda:N.")
@click.option("--seed", type=int, default=0, show_default=True)
@click.option("--progress/--no-progress", default=True, show_default=True, help="Show a progress bar.")
def adapt_command(store, method, out, generator, init_head, text, split, allow_unseen_in_train, steps,
                  images_per_batch, lr, gamma, gamma_seen_fraction, fit_scale, v2s, v2t, instance, hidden_dim, resume,
                  checkpoint_every, device, seed, progress):
    """Fit a head on the store: seen-only, projection, PADing classifier, V2C or CPA.

    Writes OUT/{config.json, weights.pt, manifest.json}, a head `zs evaluate` accepts.
    """
    from zs.adapt import AdaptConfig, ClassifierParams, ProjectorParams, adapt

    cls_params, proj_params = ClassifierParams(), ProjectorParams(v2s=v2s, v2t=v2t, instance=instance)
    if lr is not None:
        cls_params.lr = proj_params.lr = lr
    if hidden_dim is not None:
        proj_params.hidden_dim = hidden_dim
    cfg = AdaptConfig(
        store=store, method=method, out=out, generator=generator, init_head=init_head, text=text, split=split,
        allow_unseen_in_train=allow_unseen_in_train,
        device=device, seed=seed, steps=steps, images_per_batch=images_per_batch, gamma=gamma,
        gamma_seen_fraction=gamma_seen_fraction, fit_scale=fit_scale, resume=resume, checkpoint_every=checkpoint_every,
        progress=progress, classifier=cls_params, projector=proj_params,
    )
    path = adapt(cfg)
    click.echo(f"wrote {path}")


commands: list = [adapt_command]
