"""Configs of ``zs adapt``: one dataclass for the run, one per method family.

Defaults are the papers' values where the papers give them (DESIGN §7);
``steps`` defaults are sized for the synthetic world (see ``DEFAULT_STEPS``),
PADing's own schedule on COCO is 20,000 iterations x 12 images.
"""

from __future__ import annotations

import dataclasses
import os
from typing import Any

from zs.errors import ConfigError

METHODS = ("seen-only", "projection", "classifier", "v2c", "cpa")

# Steps per method when --steps is not given (synthetic-world sized; PADing COCO: 20000).
DEFAULT_STEPS = {"seen-only": 0, "projection": 300, "classifier": 1500, "v2c": 1000, "cpa": 1000}


@dataclasses.dataclass
class ClassifierParams:
    """PADing classifier refit (DESIGN §7, PADing released code)."""

    lr: float = 1e-3
    momentum: float = 0.9
    weight_decay: float = 5e-4
    seen_weight: float = 1.0
    unseen_weight: float = 5.0
    no_object_weight: float = 0.1
    synth_classes: int = 5  # unseen classes drawn per step (panoptic: 5 x 1 sample)
    synth_per_class: int = 1


@dataclasses.dataclass
class ProjectorParams:
    """Semantic-centric class projector (V2C, CPA, and the projection baseline's no-object fit)."""

    lr: float = 1e-3  # AdamW (the paper does not state the projector optimiser)
    weight_decay: float = 1e-4
    hidden_dim: int = 256  # MLP D -> hidden -> Dt ("a simple MLP"); 0 = single Linear
    tau: float = 0.07  # cosine-logit temperature of the head
    focal_alpha: float = 0.25  # sigmoid focal loss (Lin et al. 2017)
    focal_gamma: float = 2.0
    no_object_coef: float = 0.1  # weight of unmatched queries in the no-object CE (Mask2Former eos_coef)
    no_object_lr_scale: float = 100.0  # the no-object logit must reach the cos/tau scale: faster lr
    v2s: bool = True  # Eq. 1 focal term
    v2t: bool = True  # target attention + token bank, Eq. 2-3
    instance: bool = True  # instance alignment, Eq. 4
    ta_gamma: float = 1.0  # Eq. 2 emphasis of matched queries
    nce_tau: float = 0.07  # Eq. 3-4 temperature
    bank_size: int = 1024  # CLS token bank (other images' global tokens)
    global_weight: float = 1.0
    instance_weight: float = 1.0
    synth_per_step: int = 16  # CPA: synthetic unseen features per step
    ridge: float = 1e-2  # projection baseline: ridge of the least-squares projector


@dataclasses.dataclass
class AdaptConfig:
    """One ``zs adapt`` run. ``store``/``generator`` accept a path or an opened object."""

    store: Any
    method: str
    out: str | os.PathLike
    generator: Any = None  # path of a generator artifact, or a Generator object
    init_head: str | os.PathLike | None = None  # start from this head instead of the default
    text: str | None = None  # text-embedding set of the store (None = default)
    split: str = "train"
    allow_unseen_in_train: bool = False  # transductive experiments: train on a split with matched unseen queries
    device: str = "auto"
    seed: int = 0
    steps: int | None = None  # None = DEFAULT_STEPS[method]
    images_per_batch: int = 12  # PADing: 12 images per iteration
    gamma: float | str | None = None  # calibrated stacking: None (0), a value, or "auto"
    gamma_seen_fraction: float = 0.9  # "auto": fraction of matched seen train queries kept seen
    gamma_max_queries: int = 20000
    fit_scale: bool = True  # projector heads: fit the inference logit scale on the training queries
    fit_scale_max_queries: int = 50000
    resume: bool = True
    checkpoint_every: int = 100
    progress: bool = False
    stop_after: int | None = None  # stop after this many steps (checkpointed), as if interrupted
    classifier: ClassifierParams = dataclasses.field(default_factory=ClassifierParams)
    projector: ProjectorParams = dataclasses.field(default_factory=ProjectorParams)

    def __post_init__(self) -> None:
        if self.method not in METHODS:
            raise ConfigError(f"--method '{self.method}' is unknown (expected one of {', '.join(METHODS)})")
        if isinstance(self.gamma, str) and self.gamma != "auto":
            try:
                self.gamma = float(self.gamma)
            except ValueError:
                raise ConfigError(f"--gamma '{self.gamma}' is neither a number nor 'auto'") from None
        if not 0.0 < self.gamma_seen_fraction <= 1.0:
            raise ConfigError(f"--gamma-seen-fraction {self.gamma_seen_fraction} must be in (0, 1]")
        if self.steps is not None and self.steps < 0:
            raise ConfigError(f"--steps {self.steps} must be >= 0")
        if self.images_per_batch < 1:
            raise ConfigError(f"--images-per-batch {self.images_per_batch} must be >= 1")

    @property
    def num_steps(self) -> int:
        return DEFAULT_STEPS[self.method] if self.steps is None else int(self.steps)

    def describe(self) -> dict:
        """JSON-able view for manifests (objects replaced by their paths/kinds)."""
        d = {f.name: getattr(self, f.name) for f in dataclasses.fields(self)}
        d["store"] = _describe_obj(self.store)
        d["generator"] = _describe_obj(self.generator)
        d["out"] = os.fspath(self.out)
        d["steps"] = self.num_steps
        for k in ("classifier", "projector"):
            d[k] = dataclasses.asdict(d[k])
        return d

    def training_key(self) -> dict:
        """What must match for a checkpoint to be resumed (not progress/resume/stop flags)."""
        d = self.describe()
        for k in ("progress", "resume", "stop_after", "checkpoint_every", "out", "device",
                  "gamma", "gamma_seen_fraction", "gamma_max_queries"):
            d.pop(k, None)
        return d


def _describe_obj(obj: Any) -> Any:
    if obj is None or isinstance(obj, (str, os.PathLike)):
        return None if obj is None else os.fspath(obj)
    url = getattr(obj, "url", None) or getattr(obj, "path", None)
    return str(url) if url is not None else f"<{type(obj).__name__}>"
