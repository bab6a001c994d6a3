"""Output paths: checked before any work, and a full disk reported as one line.

Every command calls :func:`check_out_dir` / :func:`check_out_file` /
:func:`check_store_out` on each path it will write, before the expensive part.
They create nothing. They refuse: a path that exists as the wrong kind, a
parent that is a regular file, a location that is not writable, a disk with
less than ``MIN_FREE_BYTES`` free. :func:`disk_full_is_error` turns an
``ENOSPC``/``EDQUOT`` raised while writing into a one-line error that says the
command resumes; :func:`no_empty_dirs_on_error` removes the folders a failed
command created and left empty.
"""

from __future__ import annotations

import contextlib
import errno
import os
import shutil
from pathlib import Path

from zs.errors import ZsError

MIN_FREE_BYTES = 1 << 20  # refuse to start on a disk with less than 1 MiB free


class OutputPathError(ZsError):
    """An output path cannot be written."""


class DiskFullError(ZsError):
    """The disk filled up while writing (what was complete is kept; rerun resumes)."""


def _nearest_existing(p: Path) -> Path:
    while not (p.exists() or p.is_symlink()) and p != p.parent:
        p = p.parent
    return p


def _check(path, kind: str, flag: str) -> Path:
    p = Path(path).expanduser()
    name = f"{flag} {p}" if flag else str(p)
    if p.exists():
        if kind == "dir" and not p.is_dir():
            raise OutputPathError(f"{name}: exists and is a file, expected a directory")
        if kind == "file" and p.is_dir():
            raise OutputPathError(f"{name}: exists and is a directory, expected a file")
    base = _nearest_existing(p if kind == "dir" else p.parent)
    if not base.is_dir():
        raise OutputPathError(f"{name}: {base} is a file, not a directory")
    if not os.access(base, os.W_OK | os.X_OK):
        raise OutputPathError(f"{name}: {base} is not writable")
    free = shutil.disk_usage(base).free
    if free < MIN_FREE_BYTES:
        raise OutputPathError(f"{name}: the disk holding {base} is full ({free} bytes free)")
    return p


def check_out_dir(path, flag: str = "--out", *, writes: str | None = None) -> Path:
    """A directory the command will create or write into.

    ``writes``: the kind of zs artifact the command writes there (its ``manifest.json`` kind); a
    folder that already holds another kind (a store, a head, a generator...) is refused, so a
    mistyped ``--out`` never overwrites it.
    """
    p = _check(path, "dir", flag)
    held = artifact_kind(p) if writes is not None else None
    if held is not None and held != writes:
        raise OutputPathError(f"{flag} {p}: holds a {held} (see its manifest.json), and this command would write "
                              f"a {writes} over it; choose another {flag}")
    return p


def check_out_file(path, flag: str = "--out", *, inputs: dict | None = None) -> Path:
    """A file the command will create or replace; ``inputs`` (flag -> path): files it reads, which it
    must not replace."""
    p = _check(path, "file", flag)
    for in_flag, in_path in (inputs or {}).items():
        if in_path is not None and _same_file(p, Path(in_path).expanduser()):
            raise OutputPathError(f"{flag} {p}: is also the input {in_flag}; writing it would replace that input, "
                                  f"choose another {flag}")
    return p


def artifact_kind(path) -> str | None:
    """The ``kind`` in ``path/manifest.json`` (a zs artifact folder), or None where there is none."""
    import json

    m = Path(path) / "manifest.json"
    try:
        kind = json.loads(m.read_text()).get("kind") if m.is_file() else None
    except (OSError, ValueError, AttributeError):
        return None
    return kind if isinstance(kind, str) else None


def _same_file(a: Path, b: Path) -> bool:
    try:
        return a.exists() and b.exists() and os.path.samefile(a, b)
    except OSError:
        return a.resolve() == b.resolve()


def check_store_out(url, flag: str = "--store") -> None:
    """A store location that will be written (local paths only; object stores are checked by their writes)."""
    s = str(url)
    if "://" in s and not s.startswith("file://"):
        return
    _check(s[len("file://"):] if s.startswith("file://") else s, "dir", flag)


@contextlib.contextmanager
def disk_full_is_error(what: str, resume_hint: str = "free some space and rerun the same command to resume"):
    """Turn ENOSPC/EDQUOT raised inside into :class:`DiskFullError` naming ``what``."""
    try:
        yield
    except OSError as e:
        if e.errno not in (errno.ENOSPC, errno.EDQUOT):
            raise
        raise DiskFullError(f"disk full while writing {what}: {e.strerror or e}; {resume_hint}") from None


@contextlib.contextmanager
def no_empty_dirs_on_error(path):
    """Folders up to ``path`` that this block creates are removed again if it fails and left them empty."""
    p = Path(path)
    missing = []
    while not (p.exists() or p.is_symlink()) and p != p.parent:
        missing.append(p)
        p = p.parent
    try:
        yield
    except BaseException:
        for d in missing:  # deepest first
            with contextlib.suppress(OSError):
                d.rmdir()
        raise


@contextlib.contextmanager
def new_dir_removed_on_error(path):
    """A folder ``path`` that does not exist yet is removed with everything in it if the block fails
    (a refused or failed conversion leaves nothing half-written behind); an existing one is kept."""
    p = Path(path)
    existed = p.exists() or p.is_symlink()
    try:
        yield
    except BaseException:
        if not existed and p.is_dir():
            shutil.rmtree(p, ignore_errors=True)
        raise
