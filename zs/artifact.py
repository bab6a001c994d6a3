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


def read_config(path: str | os.PathLike, cls, fmt: int, kind: str | None = None):
    """``cls(**config.json)``; a ZsError names a newer format, unknown or missing keys, a value of the
    wrong type, or (``kind``) a folder that holds another kind of zs artifact."""
    from zs.paths import artifact_kind

    held = artifact_kind(path) if kind else None
    if held is not None and held.startswith("zs-") and held != kind:  # a zs artifact of another kind
        raise ZsError(f"{path}: holds a {held} (see its manifest.json), not a {kind}")
    p = Path(path) / "config.json"
    raw = read_json(p)
    if not isinstance(raw, dict):
        raise ZsError(f"{p}: expected a JSON object, got {type(raw).__name__}")
    got = raw.pop("format", fmt)
    if not isinstance(got, int) or got > fmt:
        raise ZsError(f"{p}: format {got!r} is newer than this zs understands ({fmt})")
    fields = dataclasses.fields(cls)
    unknown = sorted(set(raw) - {f.name for f in fields})
    if unknown:
        raise ZsError(f"{p}: unknown keys {unknown}")
    missing = [f.name for f in fields if f.name not in raw and f.default is dataclasses.MISSING
               and f.default_factory is dataclasses.MISSING]
    if missing:
        raise ZsError(f"{p}: missing keys {missing}")
    bad = [f"{f.name}={raw[f.name]!r} (expected {f.type})" for f in fields
           if f.name in raw and not _fits(str(f.type), raw[f.name])]
    if bad:
        raise ZsError(f"{p}: wrong type: {'; '.join(bad)}")
    return cls(**raw)


def _fits(annotation: str, value) -> bool:
    """Whether a JSON value fits a dataclass field's annotation (plain types; anything else passes)."""
    for alt in (a.strip() for a in annotation.split("|")):
        base = alt.split("[")[0]
        if (alt == "None" and value is None
                or base == "bool" and isinstance(value, bool)
                or base == "int" and isinstance(value, int) and not isinstance(value, bool)
                or base == "float" and isinstance(value, (int, float)) and not isinstance(value, bool)
                or base == "str" and isinstance(value, str)
                or base in ("list", "tuple") and isinstance(value, list)
                or base == "dict" and isinstance(value, dict)
                or base not in ("None", "bool", "int", "float", "str", "list", "tuple", "dict")):
            return True
    return False


def load_torch_file(path: str | os.PathLike, *, what: str = "file", weights_only: bool = True,
                    map_location="cpu", hint: str = ""):
    """``torch.load`` that names a truncated or corrupt file in one line (ZsError) instead of a traceback."""
    import pickle
    import zipfile

    import torch

    try:
        return torch.load(path, map_location=map_location, weights_only=weights_only)
    except (torch.OutOfMemoryError, FileNotFoundError):  # the device's fault / a missing file: not "corrupt"
        raise
    except (OSError, RuntimeError, EOFError, pickle.UnpicklingError, zipfile.BadZipFile, ValueError) as e:
        first = (str(e).splitlines() or [type(e).__name__])[0].split(". ")[0]
        tail = f"; {hint}" if hint else ""
        raise ZsError(f"{path}: unreadable {what}, truncated or corrupt ({first}){tail}") from None
