"""Resumable training checkpoints: one file format, one resume rule, one stop rule.

Used by ``zs train-segmenter`` (zs.synth.train), ``zs fit-generator``
(zs.generate.train) and ``zs adapt`` (zs.adapt.loop). A checkpoint is one
``torch.save`` file (``OUT/checkpoint.pt``), written atomically (temp file +
rename; a full disk leaves the previous one intact)::

    format        CHECKPOINT_FORMAT
    step          optimiser steps done
    resume_keys   the settings a resume must repeat (JSON-able dict)
    device        the training device (its RNG streams are that device's)
    rng           {"torch": CPU state, "device": CUDA state (CUDA runs only), name: generator state}
    ...           the stage's own entries (modules, optimisers, history, ...)

A resume refuses (``ConfigError``, one line) a checkpoint written with other
resume keys or on another kind of device, and restores every RNG state, so a
resumed run ends with the same weights as an uninterrupted one.
"""

from __future__ import annotations

import os
from pathlib import Path

import torch

from zs.artifact import load_torch_file
from zs.errors import ConfigError
from zs.guard import FiniteWatch
from zs.manifest import to_jsonable
from zs.paths import disk_full_is_error

CHECKPOINT = "checkpoint.pt"
CHECKPOINT_FORMAT = 1
_RESERVED = {"format", "step", "resume_keys", "device", "rng"}


def stop_step(start: int, total: int, stop_after: int | None, *, per_call: bool = False) -> int:
    """The step at which this call ends: ``total``, or earlier with ``stop_after``.

    ``stop_after`` counts steps from the start of the run (a call always makes at least one
    step), or with ``per_call`` the steps of this call.
    """
    if stop_after is None:
        return total
    if per_call:
        return min(total, start + stop_after)
    return min(total, max(stop_after, start + 1))


def checkpoint_due(done: int, every: int | None, end: int, total: int) -> bool:
    """After ``done`` steps: every ``every`` steps and where this call stops early (never at ``total``)."""
    return done < total and (done == end or bool(every) and done % every == 0)


def rng_states(device: torch.device, generators: dict | None = None) -> dict:
    """The CPU RNG, the training device's RNG (only that one) and the named generators' states."""
    states = {"torch": torch.get_rng_state()}
    if device.type == "cuda":
        states["device"] = torch.cuda.get_rng_state(device)
    for name, gen in (generators or {}).items():
        if gen is not None:
            states[name] = gen.get_state()
    return states


def set_rng_states(states: dict, device: torch.device, generators: dict | None = None) -> None:
    torch.set_rng_state(states["torch"])
    if device.type == "cuda" and "device" in states:
        torch.cuda.set_rng_state(states["device"], device)
    for name, gen in (generators or {}).items():
        if gen is not None and name in states:
            gen.set_state(states[name])


class Checkpoint:
    """The checkpoint file of one training run and the guard of its loop.

    ``stage`` names the run in messages ("fit-generator"); ``hint`` ends a refusal
    ("use another --out or --no-resume"); ``generators``: named ``torch.Generator``
    whose states are saved and restored with the global ones.
    """

    def __init__(self, path: str | os.PathLike, *, stage: str, resume_keys: dict, device, hint: str,
                 generators: dict | None = None, resume_hint: str | None = None):
        self.path, self.stage, self.hint, self.resume_hint = Path(path), stage, hint, resume_hint
        self.resume_keys = to_jsonable(dict(resume_keys))
        self.device = torch.device(device)
        if self.device.type == "cuda" and self.device.index is None:  # "cuda" -> "cuda:N", as messages say
            self.device = torch.device("cuda", torch.cuda.current_device())
        self.generators = generators or {}
        self.watch = FiniteWatch(stage, self.path)

    def load(self, resume: bool = True) -> dict | None:
        """The checkpoint's entries with every RNG state restored, or None (no file, or not ``resume``)."""
        if not resume or not self.path.is_file():
            return None
        blob = load_torch_file(self.path, what="checkpoint", weights_only=False,
                               hint="delete it to start over, or use another --out")
        self.verify(blob)
        set_rng_states(blob["rng"], self.device, self.generators)
        self.watch = FiniteWatch(self.stage, self.path, int(blob["step"]))
        return blob

    def verify(self, blob: dict) -> None:
        """ConfigError unless ``blob`` is this format, has these resume keys and this kind of device."""
        if not isinstance(blob, dict) or blob.get("format") != CHECKPOINT_FORMAT:
            raise ConfigError(f"{self.path}: not a checkpoint this zs can resume (format "
                              f"{blob.get('format') if isinstance(blob, dict) else None!r}); {self.hint}")
        then = blob.get("resume_keys") or {}
        differ = sorted(k for k in set(then) | set(self.resume_keys) if then.get(k) != self.resume_keys.get(k))
        if differ:
            raise ConfigError(f"{self.path}: cannot resume, it was written by a run with other settings "
                              f"(different {', '.join(differ)}); {self.hint}")
        was = blob.get("device", "cpu")
        if torch.device(was).type != self.device.type:
            raise ConfigError(f"{self.path}: cannot resume on {self.device}, the checkpoint was written on {was} "
                              f"(resume with --device {was}, or {self.hint})")

    def save(self, step: int, state: dict, *, check: dict) -> None:
        """Check the ``check`` modules are finite, then write atomically; ``state``: the stage's entries."""
        bad = sorted(_RESERVED & set(state))
        if bad:
            raise ValueError(f"checkpoint entries {bad} are reserved")
        self.watch.params(step, check)
        blob = {"format": CHECKPOINT_FORMAT, "step": int(step), "resume_keys": self.resume_keys,
                "device": str(self.device), "rng": rng_states(self.device, self.generators), **state}
        self.path.parent.mkdir(parents=True, exist_ok=True)
        tmp = self.path.with_name(f".{self.path.name}.tmp-{os.getpid()}")
        try:
            what = f"checkpoint {self.path} (the previous one is intact)"
            with disk_full_is_error(what, *([self.resume_hint] if self.resume_hint else [])):
                torch.save(blob, tmp)
                os.replace(tmp, self.path)
        finally:
            tmp.unlink(missing_ok=True)  # a half-written temp file (disk full) never stays
        self.watch.saved(step)

    def remove(self) -> None:
        self.path.unlink(missing_ok=True)
