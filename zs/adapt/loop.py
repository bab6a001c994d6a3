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
import os
from pathlib import Path
from typing import Callable, Iterator

import torch
from torch import nn
from tqdm import tqdm

from zs.adapt.config import AdaptConfig
from zs.artifact import load_torch_file
from zs.errors import ConfigError, ZsError
from zs.guard import FiniteWatch
from zs.paths import disk_full_is_error
from zs.manifest import hash_obj

log = logging.getLogger(__name__)

CHECKPOINT = "checkpoint.pt"


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


def _rng_states(rng: torch.Generator | None, device: torch.device) -> dict:
    """The CPU RNG, the training device's RNG (only that one) and the sampler's generator."""
    states = {"torch": torch.get_rng_state()}
    if device.type == "cuda":
        states["device"] = torch.cuda.get_rng_state(device)
    if rng is not None:
        states["sampler"] = rng.get_state()
    return states


def _set_rng_states(states: dict, rng: torch.Generator | None, device: torch.device) -> None:
    torch.set_rng_state(states["torch"])
    if device.type == "cuda" and "device" in states:
        torch.cuda.set_rng_state(states["device"], device)
    if rng is not None and "sampler" in states:
        rng.set_state(states["sampler"])


def save_checkpoint(cfg: AdaptConfig, state: dict) -> None:
    path = checkpoint_path(cfg)
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{CHECKPOINT}.tmp-{os.getpid()}")
    try:
        with disk_full_is_error(f"checkpoint {path} (the previous one is intact)"):
            torch.save(state, tmp)
            os.replace(tmp, path)
    finally:
        tmp.unlink(missing_ok=True)


def load_checkpoint(cfg: AdaptConfig, key: str, device: torch.device | None = None) -> dict | None:
    """The checkpoint in OUT if resuming; a ConfigError if it was made with other settings or on
    another kind of device (its RNG streams are that device's)."""
    path = checkpoint_path(cfg)
    if not cfg.resume or not path.is_file():
        return None
    state = load_torch_file(path, what="checkpoint", weights_only=False,
                            hint="delete it to start over, or use another --out")
    if state.get("key") != key:
        raise ConfigError(
            f"{path} was written by a run with other settings; use another --out or --no-resume"
        )
    then = state.get("device", "cpu")
    if device is not None and torch.device(then).type != device.type:
        raise ConfigError(f"{path}: cannot resume on {device}, the checkpoint was written on {then} "
                          f"(resume with --device {then}, or use --no-resume)")
    log.info("resuming %s at step %d", path, state["step"])
    return state


def train_steps(cfg: AdaptConfig, reader, device: torch.device, modules: dict[str, nn.Module],
                optimizer: torch.optim.Optimizer, step_fn: Callable[[dict, int], tuple[torch.Tensor, dict]],
                *, rng: torch.Generator | None = None, extra: dict | None = None) -> dict:
    """Run ``cfg.num_steps`` optimiser steps of ``step_fn(batch, step) -> (loss, parts)``.

    ``extra`` is mutable method state saved in the checkpoint (restored in place).
    Returns the history: {"loss": [...], part: [...]} one value per step.
    """
    device = torch.device(device)
    key = hash_obj(cfg.training_key())
    extra = extra if extra is not None else {}
    history: dict[str, list[float]] = {"loss": []}
    start, epoch, skip = 0, 0, 0
    state = load_checkpoint(cfg, key, device)
    if state is not None:
        for name, module in modules.items():
            module.load_state_dict(state["modules"][name])
        optimizer.load_state_dict(state["optimizer"])
        extra.update({k: (v.to(device) if torch.is_tensor(v) else v) for k, v in state["extra"].items()})
        _set_rng_states(state["rng"], rng, device)
        history, start, epoch, skip = state["history"], state["step"], state["epoch"], state["index"]
    stream = image_batch_stream(reader, cfg, device, epoch, skip)
    watch = FiniteWatch(f"adapt --method {cfg.method}", checkpoint_path(cfg), start if state is not None else None)

    def snapshot(step: int) -> None:
        watch.params(step, modules)
        save_checkpoint(cfg, {
            "key": key, "step": step, "epoch": epoch, "index": skip, "history": history,
            "modules": {n: m.state_dict() for n, m in modules.items()}, "optimizer": optimizer.state_dict(),
            "extra": extra, "rng": _rng_states(rng, device), "device": str(device),
        })
        watch.saved(step)

    for m in modules.values():
        m.train()
    bar = tqdm(total=cfg.num_steps, initial=start, desc=f"adapt {cfg.method}", disable=not cfg.progress)
    for step in range(start, cfg.num_steps):
        epoch, skip, batch = next(stream)
        loss, parts = step_fn(batch, step)
        watch.losses(step + 1, {"loss": loss.detach(), **parts})
        optimizer.zero_grad(set_to_none=True)
        loss.backward()
        optimizer.step()
        _record(history, float(loss.detach()), parts)
        bar.update(1)
        bar.set_postfix(loss=f"{history['loss'][-1]:.4f}", refresh=False)
        done = step + 1
        if cfg.stop_after is not None and done >= cfg.stop_after and done < cfg.num_steps:
            snapshot(done)
            bar.close()
            raise TrainingStopped(f"stopped after {done} steps (checkpoint {checkpoint_path(cfg)})")
        if cfg.checkpoint_every and done % cfg.checkpoint_every == 0 and done < cfg.num_steps:
            snapshot(done)
    bar.close()
    watch.params(cfg.num_steps, modules)
    for m in modules.values():
        m.eval()
    return history


def _record(history: dict[str, list[float]], loss: float, parts: dict) -> None:
    history["loss"].append(loss)
    for k, v in parts.items():
        history.setdefault(k, []).append(float(v))


def remove_checkpoint(cfg: AdaptConfig) -> None:
    path = checkpoint_path(cfg)
    if path.is_file():
        path.unlink()


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
