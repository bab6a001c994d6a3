"""Subprocess for the SIGKILL-resume test: write rows 0..N-1, optionally SIGKILL at the K-th store write.

usage: python _kill_writer.py STORE N [K]
"""

import os
import signal
import sys

import zarr.core.array

from store_helpers import PARAMS, manifest, record
from zs.store import create_store, open_store
from zs.store.layout import Location


def kill_after(k: int) -> None:
    calls = {"n": 0}

    def wrap(fn):
        def inner(*a, **kw):
            calls["n"] += 1
            if calls["n"] == k:
                os.kill(os.getpid(), signal.SIGKILL)
            return fn(*a, **kw)
        return inner

    Location.write_bytes_atomic = wrap(Location.write_bytes_atomic)
    zarr.core.array.Array.__setitem__ = wrap(zarr.core.array.Array.__setitem__)


def main() -> None:
    path, n = sys.argv[1], int(sys.argv[2])
    if len(sys.argv) > 3:
        kill_after(int(sys.argv[3]))
    store = open_store(path, mode="a") if os.path.exists(path) else create_store(path, manifest())
    with store.open_writer("val", num_images=n, **PARAMS) as w:
        for row in w.pending():
            w.write(row, record(row))


if __name__ == "__main__":
    main()
