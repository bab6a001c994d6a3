"""The on-disk layout shared by module artifacts (heads, generators).

``DIR/weights.pt`` (state_dict), ``DIR/config.json`` (``{"format": N, **config}``),
``DIR/manifest.json`` (provenance, written last: it marks the artifact complete).
"""

from __future__ import annotations

import dataclasses
import os
from pathlib import Path

from zs.errors import ZsError
from zs.manifest import read_json, write_json_atomic


def save_module(module, cfg, fmt: int, out_dir: str | os.PathLike, manifest: dict) -> Path:
    """Write weights (atomically), the dataclass config and the manifest into ``out_dir``."""
    import torch

    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    tmp = out / ".weights.pt.tmp"
    torch.save({k: v.detach().cpu() for k, v in module.state_dict().items()}, tmp)
    os.replace(tmp, out / "weights.pt")
    write_json_atomic(out / "config.json", {"format": fmt, **dataclasses.asdict(cfg)})
    write_json_atomic(out / "manifest.json", manifest)
    return out


def read_config(path: str | os.PathLike, cls, fmt: int):
    """``cls(**config.json)``; a ZsError names a newer format or unknown keys."""
    p = Path(path) / "config.json"
    raw = read_json(p)
    got = raw.pop("format", fmt)
    if got > fmt:
        raise ZsError(f"{p}: format {got} is newer than this zs understands ({fmt})")
    unknown = sorted(set(raw) - {f.name for f in dataclasses.fields(cls)})
    if unknown:
        raise ZsError(f"{p}: unknown keys {unknown}")
    return cls(**raw)


def load_torch_file(path: str | os.PathLike, *, what: str = "file", weights_only: bool = True,
                    map_location="cpu", hint: str = ""):
    """``torch.load`` that names a truncated or corrupt file in one line (ZsError) instead of a traceback."""
    import pickle
    import zipfile

    import torch

    try:
        return torch.load(path, map_location=map_location, weights_only=weights_only)
    except torch.OutOfMemoryError:  # a RuntimeError, but the device's fault, not the file's
        raise
    except (RuntimeError, EOFError, pickle.UnpicklingError, zipfile.BadZipFile, ValueError) as e:
        first = (str(e).splitlines() or [type(e).__name__])[0].split(". ")[0]
        tail = f"; {hint}" if hint else ""
        raise ZsError(f"{path}: unreadable {what}, truncated or corrupt ({first}){tail}") from None
