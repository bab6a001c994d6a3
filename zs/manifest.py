"""Provenance: content hashes, manifests and atomic JSON writes.

Every artifact zs writes (store, generator, head, metrics, pipeline outputs)
carries a ``manifest.json`` made by :func:`make_manifest`.
"""

from __future__ import annotations

import dataclasses
import datetime as _dt
import hashlib
import json
import os
import platform
import sys
from pathlib import Path
from typing import Any

from zs import __version__

_CHUNK = 1 << 20


def sha256_file(path: str | os.PathLike) -> str:
    """Hex sha256 of a file's bytes."""
    h = hashlib.sha256()
    with open(path, "rb") as f:
        for block in iter(lambda: f.read(_CHUNK), b""):
            h.update(block)
    return h.hexdigest()


def sha256_dir(path: str | os.PathLike) -> str:
    """Hex sha256 over a directory's files (relative names + contents, sorted)."""
    root = Path(path)
    h = hashlib.sha256()
    for p in sorted(q for q in root.rglob("*") if q.is_file()):
        h.update(p.relative_to(root).as_posix().encode())
        h.update(sha256_file(p).encode())
    return h.hexdigest()


def sha256_path(path: str | os.PathLike) -> str:
    """sha256 of a file, or of a directory's files."""
    return sha256_dir(path) if Path(path).is_dir() else sha256_file(path)


def to_jsonable(obj: Any) -> Any:
    """Dataclasses, paths, tuples and numpy scalars to plain JSON types."""
    if dataclasses.is_dataclass(obj) and not isinstance(obj, type):
        return {k: to_jsonable(v) for k, v in dataclasses.asdict(obj).items()}
    if isinstance(obj, dict):
        return {str(k): to_jsonable(v) for k, v in obj.items()}
    if isinstance(obj, (list, tuple)):
        return [to_jsonable(v) for v in obj]
    if isinstance(obj, os.PathLike):
        return os.fspath(obj)
    if hasattr(obj, "item") and callable(obj.item):  # numpy / torch scalar
        return obj.item()
    return obj


def hash_obj(obj: Any) -> str:
    """Stable sha256 of a JSON-able object (dict keys sorted)."""
    blob = json.dumps(to_jsonable(obj), sort_keys=True, separators=(",", ":"))
    return hashlib.sha256(blob.encode()).hexdigest()


def make_manifest(
    kind: str,
    *,
    config: Any = None,
    inputs: dict[str, Any] | None = None,
    seed: int | None = None,
    **extra: Any,
) -> dict:
    """A manifest dict: what the artifact is, what made it, from which inputs.

    ``inputs`` maps an input's role to its identity (a sha256, or a dict with
    ``path`` and ``sha256``). ``extra`` keys are added verbatim. Where torch is
    loaded, ``compute`` records the device and precision policy of this process
    (:func:`zs.runtime.compute_entry`) unless the caller gives its own.
    """
    m = {
        "kind": kind,
        "zs_version": __version__,
        "created": _dt.datetime.now(_dt.timezone.utc).isoformat(timespec="seconds"),
        "python": platform.python_version(),
        "seed": seed,
        "config": to_jsonable(config),
        "inputs": to_jsonable(inputs or {}),
    }
    if "compute" not in extra and "torch" in sys.modules:
        from zs.runtime import compute_entry

        m["compute"] = compute_entry()
    m.update(to_jsonable(extra))
    return m


def path_inputs(**paths: str | os.PathLike | None) -> dict:
    """``inputs`` of a manifest for files and folders: role -> path (resolved) plus sha256 for files."""
    out = {}
    for role, p in paths.items():
        if p is None:
            continue
        out[role] = {"path": str(Path(p).resolve())}
        if Path(p).is_file():
            out[role]["sha256"] = sha256_file(p)
    return out


def write_json_atomic(path: str | os.PathLike, obj: Any) -> None:
    """Write JSON to ``path`` via a temp file + rename (never half-written)."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.name}.tmp-{os.getpid()}")
    with open(tmp, "w") as f:
        json.dump(to_jsonable(obj), f, indent=2, sort_keys=False)
        f.write("\n")
    os.replace(tmp, path)


def read_json(path: str | os.PathLike) -> Any:
    """Read a JSON file; a missing or malformed file is a ZsError naming it."""
    from zs.errors import ZsError

    try:
        with open(path) as f:
            return json.load(f)
    except FileNotFoundError:
        raise ZsError(f"{path}: file not found") from None
    except json.JSONDecodeError as e:
        raise ZsError(f"{path}: not valid JSON ({e.msg} at line {e.lineno})") from None
