"""The shared training loop of the refits: image batches, progress, checkpoint and resume.

A checkpoint (``OUT/checkpoint.pt``) holds the modules, the optimiser, every RNG
state, method state (e.g. the CLS token bank), the position in the data stream
(epoch, batches consumed) and the loss history. Resuming restores all of it and
skips the consumed batches of the current epoch, so a resumed run ends with the
same weights as an uninterrupted one. The checkpoint is removed once the head is
written.
"""

from __future__ import annotations

import logging
from pathlib import Path
from typing import Callable, Iterator

import torch
from torch import nn
from tqdm import tqdm

from zs.adapt.config import AdaptConfig
from zs.checkpoint import CHECKPOINT, Checkpoint, checkpoint_due, stop_step
from zs.errors import ZsError

log = logging.getLogger(__name__)


class TrainingStopped(Exception):
    """Raised after ``cfg.stop_after`` steps (checkpoint written): an interruption on purpose."""


def image_batch_stream(reader, cfg: AdaptConfig, device: torch.device, epoch: int = 0,
                       skip: int = 0) -> Iterator[tuple[int, int, dict]]:
    """Endless (epoch, batches consumed in epoch, batch): one shuffled pass per epoch, seed + epoch."""
    while True:
        n = 0
        for n, batch in enumerate(
            reader.image_batches(cfg.images_per_batch, seed=cfg.seed + epoch, device=device, epochs=1), start=1
        ):
            if n <= skip:
                continue
            yield epoch, n, batch
        if n == 0:
            raise ZsError(f"split '{cfg.split}' of the store has no images to train on")
        epoch, skip = epoch + 1, 0


def checkpoint_path(cfg: AdaptConfig) -> Path:
    return Path(cfg.out) / CHECKPOINT


def train_steps(cfg: AdaptConfig, reader, device: torch.device, modules: dict[str, nn.Module],
                optimizer: torch.optim.Optimizer, step_fn: Callable[[dict, int], tuple[torch.Tensor, dict]],
                *, rng: torch.Generator | None = None, extra: dict | None = None) -> dict:
    """Run ``cfg.num_steps`` optimiser steps of ``step_fn(batch, step) -> (loss, parts)``.

    ``extra`` is mutable method state saved in the checkpoint (restored in place).
    Returns the history: {"loss": [...], part: [...]} one value per step.
    """
    device = torch.device(device)
    ck = Checkpoint(checkpoint_path(cfg), stage=f"adapt --method {cfg.method}", resume_keys=cfg.training_key(),
                    device=device, generators={"sampler": rng}, hint="use another --out or --no-resume")
    extra = extra if extra is not None else {}
    history: dict[str, list[float]] = {"loss": []}
    start, epoch, skip = 0, 0, 0
    state = ck.load(cfg.resume)
    if state is not None:
        for name, module in modules.items():
            module.load_state_dict(state["modules"][name])
        optimizer.load_state_dict(state["optimizer"])
        extra.update({k: (v.to(device) if torch.is_tensor(v) else v) for k, v in state["extra"].items()})
        history, start, epoch, skip = state["history"], state["step"], state["epoch"], state["index"]
        log.info("resuming %s at step %d", ck.path, start)
    stream = image_batch_stream(reader, cfg, device, epoch, skip)
    end = stop_step(start, cfg.num_steps, cfg.stop_after)
    for m in modules.values():
        m.train()
    bar = tqdm(total=cfg.num_steps, initial=start, desc=f"adapt {cfg.method}", disable=not cfg.progress)
    for step in range(start, end):
        epoch, skip, batch = next(stream)
        loss, parts = step_fn(batch, step)
        ck.watch.losses(step + 1, {"loss": loss.detach(), **parts})
        optimizer.zero_grad(set_to_none=True)
        loss.backward()
        optimizer.step()
        _record(history, float(loss.detach()), parts)
        bar.update(1)
        bar.set_postfix(loss=f"{history['loss'][-1]:.4f}", refresh=False)
        if checkpoint_due(step + 1, cfg.checkpoint_every, end, cfg.num_steps):
            ck.save(step + 1, {"epoch": epoch, "index": skip, "history": history, "extra": extra,
                               "modules": {n: m.state_dict() for n, m in modules.items()},
                               "optimizer": optimizer.state_dict()}, check=modules)
    bar.close()
    if end < cfg.num_steps:
        raise TrainingStopped(f"stopped after {end} steps (checkpoint {checkpoint_path(cfg)})")
    ck.watch.params(cfg.num_steps, modules)
    for m in modules.values():
        m.eval()
    return history


def _record(history: dict[str, list[float]], loss: float, parts: dict) -> None:
    history["loss"].append(loss)
    for k, v in parts.items():
        history.setdefault(k, []).append(float(v))


def remove_checkpoint(cfg: AdaptConfig) -> None:
    checkpoint_path(cfg).unlink(missing_ok=True)


def summarize_history(history: dict[str, list[float]], keep: int = 50) -> dict:
    """First/last-10 means and a thinned curve (<= ``keep`` points) per series, for the manifest."""
    out = {}
    for name, values in history.items():
        if not values:
            continue
        stride = max(1, len(values) // keep)
        k = min(10, len(values))
        out[name] = {
            "first": sum(values[:k]) / k,
            "last": sum(values[-k:]) / k,
            "curve": values[::stride],
        }
    out["steps"] = len(history.get("loss", []))
    return out
