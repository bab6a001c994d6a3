"""Device selection and seeding shared by every stage (imports torch lazily)."""

from __future__ import annotations

import os
import random

from zs.errors import ZsError


def resolve_device(name: str | None = "auto"):
    """'auto' | 'cpu' | 'cuda' | 'cuda:N' -> torch.device; a clear error if CUDA is absent."""
    import torch

    if name in (None, "", "auto"):
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    dev = torch.device(name)
    if dev.type == "cuda" and not torch.cuda.is_available():
        raise ZsError(f"--device {name}: CUDA is not available on this machine (use --device cpu)")
    return dev


def seed_everything(seed: int) -> None:
    """Seed python, numpy and torch (CPU and CUDA)."""
    import numpy as np
    import torch

    random.seed(seed)
    np.random.seed(seed % (2**32))
    torch.manual_seed(seed)
    os.environ.setdefault("PYTHONHASHSEED", str(seed))
