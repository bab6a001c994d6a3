"""Reading detectron2 checkpoints without detectron2.

* ``.pth`` as ``DetectionCheckpointer`` saves it: ``{"model": OrderedDict[str, Tensor], ...}``
  (read with ``torch.load(weights_only=True)``: no code runs);
* ``.pkl`` as the model zoo ships it: ``{"model": {name: ndarray}, "__author__": ...}``
  (read with an unpickler that only rebuilds numpy arrays and plain containers);
* a bare state dict in either format.
"""

from __future__ import annotations

import collections
import os
import pickle
from pathlib import Path

import numpy as np
import torch

from zs.errors import ZsError

_PICKLE_ALLOWED = {
    ("collections", "OrderedDict"),
    ("numpy", "ndarray"),
    ("numpy", "dtype"),
    ("numpy.core.multiarray", "_reconstruct"),
    ("numpy._core.multiarray", "_reconstruct"),
    ("numpy.core.multiarray", "scalar"),
    ("numpy._core.multiarray", "scalar"),
    ("builtins", "slice"),
}


class _NumpyOnlyUnpickler(pickle.Unpickler):
    def find_class(self, module, name):
        if (module, name) in _PICKLE_ALLOWED:
            return super().find_class(module, name)
        raise pickle.UnpicklingError(f"refusing to load {module}.{name} from a checkpoint pickle")


def _read_pkl(path: Path):
    with open(path, "rb") as f:
        return _NumpyOnlyUnpickler(f, encoding="latin1").load()


def _read_pth(path: Path):
    from zs.artifact import load_torch_file

    try:
        return torch.load(path, map_location="cpu", weights_only=True)
    except pickle.UnpicklingError as e:
        raise ZsError(f"{path}: not a plain state-dict checkpoint ({str(e).splitlines()[0]})") from None
    except (RuntimeError, EOFError, ValueError, OSError):  # truncated / corrupt: one line naming the file
        return load_torch_file(path, what="detectron2 checkpoint")


def _to_tensor(name: str, value, path: Path) -> torch.Tensor:
    if isinstance(value, torch.Tensor):
        return value.detach().cpu()
    if isinstance(value, np.ndarray):
        return torch.from_numpy(np.ascontiguousarray(value))
    if isinstance(value, (int, float, np.number)):
        return torch.as_tensor(value)
    raise ZsError(f"{path}: entry '{name}' is a {type(value).__name__}, not a tensor/array")


def load_d2_checkpoint(path: str | os.PathLike) -> dict[str, torch.Tensor]:
    """A detectron2 checkpoint (.pth/.pkl, wrapped or bare) -> {name: CPU tensor}."""
    p = Path(path).expanduser()
    if not p.is_file():
        raise ZsError(f"{path}: checkpoint not found")
    try:
        obj = _read_pkl(p) if p.suffix == ".pkl" else _read_pth(p)
    except (pickle.UnpicklingError, EOFError, RuntimeError, ValueError) as e:
        raise ZsError(f"{path}: cannot read checkpoint ({type(e).__name__}: {e})") from None
    if not isinstance(obj, dict):
        raise ZsError(f"{path}: checkpoint is a {type(obj).__name__}, expected a dict")
    state = obj.get("model", obj) if "model" in obj and isinstance(obj["model"], dict) else obj
    if "state_dict" in state and isinstance(state["state_dict"], dict):
        state = state["state_dict"]
    out = collections.OrderedDict()
    for name, value in state.items():
        if name.startswith("__") or name in ("matching_heuristics", "iteration", "optimizer", "scheduler"):
            continue  # model-zoo metadata / training state, not weights
        out[str(name)] = _to_tensor(name, value, p)
    if not out:
        raise ZsError(f"{path}: checkpoint holds no tensors")
    return out
