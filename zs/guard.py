"""Non-finite guards: training loops and loaded weights stop on NaN/Inf with one line.

A training loop makes one :class:`FiniteWatch`, tells it each checkpoint it
writes, and passes it the losses of every iteration and the parameters before
every checkpoint and before the final artifact. The first NaN/Inf raises
:class:`NonFiniteError` naming the iteration and the last good checkpoint, so
a checkpoint is never overwritten with non-finite weights.
"""

from __future__ import annotations

import math
from pathlib import Path
from typing import Iterable

from zs.errors import ZsError


class NonFiniteError(ZsError):
    """A loss, a parameter or loaded weights hold NaN/Inf."""


def first_nonfinite(named_tensors: Iterable[tuple[str, object]]) -> str | None:
    """Name of the first tensor holding a NaN/Inf (one reduction per tensor), else None."""
    import torch

    for name, t in named_tensors:
        if torch.is_tensor(t) and t.is_floating_point() and not bool(torch.isfinite(t).all()):
            return name
    return None


def require_finite_weights(module, where: str) -> None:
    """Refuse loaded weights (a head, a generator) that hold NaN/Inf; ``where`` names the file."""
    bad = first_nonfinite(module.state_dict().items())
    if bad is not None:
        raise NonFiniteError(f"{where}: weights '{bad}' hold NaN/Inf (a diverged training run?); refit it")


class FiniteWatch:
    """Per-run guard of one training loop (``stage`` names it in messages)."""

    def __init__(self, stage: str, checkpoint: Path, resumed_at: int | None = None):
        self.stage, self.checkpoint = stage, Path(checkpoint)
        self.last_good = resumed_at  # iteration of the checkpoint on disk, None if there is none

    def saved(self, iteration: int) -> None:
        self.last_good = iteration

    def _where(self) -> str:
        if self.last_good is None:
            return "no checkpoint was written yet"
        return f"last good checkpoint: {self.checkpoint} (iteration {self.last_good}), kept as it was"

    def losses(self, iteration: int, values: dict) -> None:
        """``values``: name -> float (or 0-d tensor) of one iteration (1-based count of done iterations)."""
        for k, v in values.items():
            v = float(v)
            if not math.isfinite(v):
                raise NonFiniteError(f"{self.stage}: loss '{k}' is {v} at iteration {iteration}; stopped, "
                                     f"{self._where()} (a lower --lr or fixing the inputs may help)")

    def params(self, iteration: int, modules: dict) -> None:
        """``modules``: name -> nn.Module; checked before anything is saved."""
        for mname, m in modules.items():
            bad = first_nonfinite(m.state_dict().items()) if hasattr(m, "state_dict") else None
            if bad is not None:
                raise NonFiniteError(f"{self.stage}: parameter '{mname}.{bad}' is NaN/Inf at iteration "
                                     f"{iteration}; stopped, {self._where()}")
