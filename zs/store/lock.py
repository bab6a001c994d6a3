"""Writer locks on a split: one whole-split writer, or disjoint row-range writers.

A lock is a small JSON file ``<split>/locks/<name>.lock`` holding pid, host and
time. ``all.lock`` covers the split; ``rows-A-B.lock`` covers rows [A, B).
A lock left by a dead process on this host is *stale* and broken
automatically (logged) so that an interrupted write resumes with the same
command; a lock from a live process or another host refuses the writer with a
message naming it (``zs store unlock`` breaks it by hand).
"""

from __future__ import annotations

import json
import logging
import os
import socket
import time

from zs.errors import StoreError
from zs.store.layout import Location

log = logging.getLogger(__name__)


def lock_name(rows: tuple[int, int] | None) -> str:
    return "all.lock" if rows is None else f"rows-{rows[0]}-{rows[1]}.lock"


def _parse_rows(name: str) -> tuple[int, int] | None:
    if name == "all.lock":
        return None
    a, b = name[len("rows-"):-len(".lock")].split("-")
    return int(a), int(b)


def _overlaps(a, b) -> bool:
    if a is None or b is None:
        return True
    return a[0] < b[1] and b[0] < a[1]


def pid_alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def read_lock(loc: Location, split: str, name: str) -> dict:
    try:
        return json.loads(loc.read_bytes(split, "locks", name))
    except (FileNotFoundError, ValueError):
        return {}


def is_stale(info: dict) -> bool:
    """Held by a process of this host that no longer exists."""
    return info.get("host") == socket.gethostname() and not pid_alive(int(info.get("pid", -1)))


def _conflicts(loc: Location, split: str, rows, own: str) -> list[str]:
    out = []
    for name in loc.listdir(split, "locks"):
        if name == own or not name.endswith(".lock"):
            continue
        if _overlaps(rows, _parse_rows(name)):
            out.append(name)
    return out


def _refuse_or_break(loc: Location, split: str, name: str, owner: str | None = None) -> None:
    info = read_lock(loc, split, name)
    if is_stale(info):
        log.warning("breaking stale lock %s (pid %s on %s is gone)", name, info.get("pid"), info.get("host"))
        loc.remove(split, "locks", name)
        return
    if owner and info.get("owner") == owner:  # an earlier attempt of the same task (its worker died, any host)
        log.warning("taking over lock %s of an earlier attempt (pid %s on %s)", name, info.get("pid"), info.get("host"))
        loc.remove(split, "locks", name)
        return
    raise StoreError(
        f"{loc.url_of(split)}: split '{split}' is being written by another writer "
        f"(lock {name}: pid {info.get('pid')} on {info.get('host')} since {info.get('time')}); "
        f"if that process is gone, run `zs store unlock {loc.url} {split}`"
    )


def acquire(loc: Location, split: str, rows: tuple[int, int] | None = None, owner: str | None = None) -> str:
    """Take the lock for ``rows`` (None = whole split); StoreError if held by someone else.

    ``owner``: a token of the coordinating run (dask tasks); a lock left by the same owner is an earlier
    attempt of a retried task whose worker died, and is taken over even when it was on another host.
    """
    own = lock_name(rows)
    for name in _conflicts(loc, split, rows, own) + ([own] if loc.exists(split, "locks", own) else []):
        _refuse_or_break(loc, split, name, owner)
    info = {"pid": os.getpid(), "host": socket.gethostname(), "time": time.strftime("%Y-%m-%dT%H:%M:%S")}
    if owner:
        info["owner"] = owner
    loc.makedirs(split, "locks")
    _create_exclusive(loc, split, own, json.dumps(info).encode())
    if _conflicts(loc, split, rows, own):  # lost a race with a writer that checked at the same time
        loc.remove(split, "locks", own)
        raise StoreError(f"{loc.url_of(split)}: another writer took an overlapping lock on split '{split}'")
    return own


def _create_exclusive(loc: Location, split: str, name: str, data: bytes) -> None:
    path = loc.path(split, "locks", name)
    if loc.is_local:
        try:
            fd = os.open(path, os.O_CREAT | os.O_EXCL | os.O_WRONLY, 0o644)
        except FileExistsError:
            raise StoreError(f"{path}: split '{split}' was locked by another writer just now") from None
        except PermissionError:
            raise StoreError(f"{path}: location is read-only (permission denied)") from None
        with os.fdopen(fd, "wb") as f:
            f.write(data)
        return
    if loc.fs.exists(path):  # object stores have no O_EXCL; best effort
        raise StoreError(f"{path}: split '{split}' was locked by another writer just now")
    loc.write_bytes_atomic(data, split, "locks", name)


def release(loc: Location, split: str, name: str) -> None:
    loc.remove(split, "locks", name)


def break_locks(loc: Location, split: str) -> list[str]:
    """Remove every lock of a split (the user says the writers are gone)."""
    names = [n for n in loc.listdir(split, "locks") if n.endswith(".lock")]
    for n in names:
        loc.remove(split, "locks", n)
    return names
