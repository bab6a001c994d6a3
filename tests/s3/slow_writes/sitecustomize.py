"""Test harness only: with ZS_TEST_SLOW_FRAGMENT_S set, every image's fragment write into a zs store
sleeps that long first, so a test can reliably catch a process (a dask worker) in the middle of its
range. Python imports this at start-up in every process whose PYTHONPATH holds this folder."""

import os

_DELAY = float(os.environ.get("ZS_TEST_SLOW_FRAGMENT_S") or 0)
if _DELAY > 0:
    import time

    from zs.store.layout import Location

    _write = Location.write_bytes_atomic

    def _slow_write(self, data, *parts):
        if "fragments" in parts:
            time.sleep(_DELAY)
        return _write(self, data, *parts)

    Location.write_bytes_atomic = _slow_write
