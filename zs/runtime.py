"""Device selection, precision policy and seeding shared by every stage (imports torch lazily).

Precision policy (``docs/gpu.md``): zs computes in full float32 on every
device. TF32 (cuDNN convolutions use it by default on Ampere and later) would
make ``extract``, ``segment`` and ``evaluate --full-image`` drift by ~1e-3 from
the CPU path and the detectron2 fixtures, so :func:`resolve_device` turns it
off for the process. ``ZS_DETERMINISTIC=1`` (``zs --deterministic ...``) adds
PyTorch's deterministic algorithms. :func:`compute_entry` is what manifests
record of both.
"""

from __future__ import annotations

import os
import random
import re

from zs.errors import ZsError

DETERMINISTIC_ENV = "ZS_DETERMINISTIC"
_DEVICE_RE = re.compile(r"^(cpu|cuda)(:(\d+))?$")
_state: dict = {"device": None}  # the device this process last resolved (recorded in manifests)


def resolve_device(name=None):
    """'auto' | 'cpu' | 'cuda' | 'cuda:N' (or a torch.device) -> torch.device, checked now.

    A CUDA device that does not exist is a one-line ZsError here, not a traceback
    later. Also applies the precision policy (:func:`apply_precision_policy`).
    """
    import torch

    if isinstance(name, torch.device):
        name = str(name)
    if name in (None, "", "auto"):
        name = "cuda" if torch.cuda.is_available() else "cpu"
    m = _DEVICE_RE.match(str(name).strip())
    if m is None:
        raise ZsError(f"--device {name}: expected auto, cpu, cuda or cuda:N")
    if m.group(1) == "cuda":
        if not torch.cuda.is_available():
            raise ZsError(f"--device {name}: CUDA is not available on this machine (use --device cpu)")
        count = torch.cuda.device_count()
        if m.group(3) is not None and int(m.group(3)) >= count:
            have = ", ".join(f"cuda:{i}" for i in range(count))
            raise ZsError(f"--device {name}: this machine has {count} CUDA device(s) ({have})")
    apply_precision_policy()
    dev = torch.device(m.group(0))
    _state["device"] = str(dev)
    return dev


def forget_device() -> None:
    """Forget the device this process last resolved (a pipeline stage records only its own)."""
    _state["device"] = None


def deterministic_requested() -> bool:
    return os.environ.get(DETERMINISTIC_ENV, "") not in ("", "0")


def apply_precision_policy() -> None:
    """Full float32 (no TF32) for matmuls and cuDNN; deterministic algorithms when requested.

    Deterministic mode: ``torch.use_deterministic_algorithms(True, warn_only=True)`` (an op
    without a deterministic kernel warns, naming itself, instead of stopping a long job),
    ``cudnn.deterministic`` and ``CUBLAS_WORKSPACE_CONFIG=:4096:8`` (cuBLAS reads it when
    CUDA starts; set here before any CUDA work of the process).
    """
    import torch

    torch.backends.cuda.matmul.allow_tf32 = False
    torch.backends.cudnn.allow_tf32 = False
    torch.set_float32_matmul_precision("highest")
    if deterministic_requested():
        os.environ.setdefault("CUBLAS_WORKSPACE_CONFIG", ":4096:8")
        torch.use_deterministic_algorithms(True, warn_only=True)
        torch.backends.cudnn.deterministic = True
        torch.backends.cudnn.benchmark = False


def compute_entry(device=None) -> dict:
    """The manifest record of how numbers were computed: device, precision, determinism, versions."""
    import torch

    dev = str(device) if device is not None else _state["device"]
    entry = {
        "device": dev,
        "tf32": bool(torch.backends.cuda.matmul.allow_tf32 or torch.backends.cudnn.allow_tf32),
        "float32_matmul_precision": torch.get_float32_matmul_precision(),
        "deterministic": bool(torch.are_deterministic_algorithms_enabled()),
        "torch": torch.__version__,
    }
    if dev is not None and dev.startswith("cuda"):
        entry.update(cuda=torch.version.cuda, cudnn=torch.backends.cudnn.version(),
                     device_name=torch.cuda.get_device_name(torch.device(dev)))
    return entry


def worker_device(device, worker_name) -> str:
    """The device of one dask worker: ``cuda``/``auto`` on a GPU host -> ``cuda:(i mod n)``.

    ``worker_name`` is the worker's dask name (``LocalCluster`` names them 0..n-1). A name
    that is not an integer, and any worker of dask-cuda (which puts each worker's own GPU first
    in its ``CUDA_VISIBLE_DEVICES``), keeps ``cuda:0`` of what the worker sees. An explicit
    ``cuda:N`` or ``cpu`` is kept as given.
    """
    import sys

    import torch

    if device not in (None, "", "auto", "cuda") or not torch.cuda.is_available():
        return device
    if "dask_cuda" in sys.modules:
        return "cuda:0"
    try:
        index = int(str(worker_name))
    except ValueError:
        index = 0
    return f"cuda:{index % torch.cuda.device_count()}"


def current_worker_name():
    """The dask worker this code runs in (its name), or None outside a worker."""
    try:
        from distributed import get_worker

        return get_worker().name
    except (ImportError, ValueError):
        return None


def seed_everything(seed: int) -> None:
    """Seed python, numpy and torch (CPU and CUDA)."""
    import numpy as np
    import torch

    random.seed(seed)
    np.random.seed(seed % (2**32))
    torch.manual_seed(seed)
    os.environ.setdefault("PYTHONHASHSEED", str(seed))


def release_cuda_cache() -> None:
    """Collect garbage and give the device's cached blocks back (the next stage starts from a clean GPU)."""
    import gc

    import torch

    gc.collect()
    if torch.cuda.is_available():
        torch.cuda.empty_cache()


def connect_dask(address: str, flag: str = "--dask-scheduler"):
    """A ``distributed.Client`` of the scheduler at ``address``; a bad or unreachable address is one
    ZsError line (dask's own errors are a ValueError or an OSError after its connect timeout)."""
    from distributed import Client

    try:
        return Client(address)
    except (OSError, ValueError, TypeError) as e:
        first = (str(e).splitlines() or [type(e).__name__])[0]
        raise ZsError(f"{flag} {address}: cannot connect to a dask scheduler ({first})") from None
