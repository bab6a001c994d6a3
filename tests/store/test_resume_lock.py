"""SIGKILL at several points + resume == uninterrupted; locks refuse a second writer."""

import json
import os
import signal
import socket
import subprocess
import sys
from pathlib import Path

import pytest

from store_helpers import PARAMS, manifest, record
from zs.errors import StoreError
from zs.store import create_store, open_store

HERE = Path(__file__).parent
N = 7


def _run(path, kill_at=None):
    args = [sys.executable, str(HERE / "_kill_writer.py"), str(path), str(N)]
    if kill_at is not None:
        args.append(str(kill_at))
    env = {**os.environ, "PYTHONPATH": str(HERE)}
    return subprocess.run(args, env=env, capture_output=True, text=True, timeout=120)


def _tree(path: Path) -> dict:
    return {p.relative_to(path).as_posix(): p.read_bytes() for p in sorted(path.rglob("*")) if p.is_file()}


def test_sigkill_resume_is_bit_identical(tmp_path):
    ref = _run(tmp_path / "ref")
    assert ref.returncode == 0, ref.stderr
    want = _tree(tmp_path / "ref")
    assert "val/queries.parquet" in want and not any(k.startswith("val/fragments") for k in want)
    for kill_at in (3, 11, 24, 29):  # mid-rows, at a chunk flush, near the end, during consolidation
        path = tmp_path / f"k{kill_at}"
        killed = _run(path, kill_at)
        assert killed.returncode == -signal.SIGKILL, (kill_at, killed.stderr)
        assert _tree(path) != want
        resumed = _run(path)  # same command; the stale lock of the dead pid is broken
        assert resumed.returncode == 0, resumed.stderr
        got = _tree(path)
        assert sorted(got) == sorted(want), kill_at
        assert [k for k in got if got[k] != want[k]] == [], kill_at
        sp = open_store(path).split("val")
        assert sp.images()["row"].tolist() == list(range(N))


def _store(tmp_path):
    return create_store(tmp_path / "s", manifest())


def test_second_writer_refused(tmp_path):
    store = _store(tmp_path)
    w = store.open_writer("val", num_images=6, **PARAMS)
    with pytest.raises(StoreError, match="being written by another writer"):
        store.open_writer("val", num_images=6, **PARAMS)
    w.close()
    with store.open_writer("val", num_images=6, **PARAMS) as w2:  # released on close
        w2.write(0, record(0))
        w2.write(0, record(0))  # idempotent
    assert open_store(tmp_path / "s").split("val").done().sum() == 1


def test_foreign_and_stale_locks(tmp_path):
    store = _store(tmp_path)
    store.prepare_split("val", num_images=6, **PARAMS)
    locks = tmp_path / "s" / "val" / "locks"
    locks.mkdir()
    (locks / "all.lock").write_text(json.dumps({"pid": 1, "host": "elsewhere", "time": "t"}))
    with pytest.raises(StoreError, match="elsewhere.*zs store unlock"):
        store.open_writer("val", num_images=6, **PARAMS)
    dead = subprocess.run([sys.executable, "-c", "import os; print(os.getpid())"], capture_output=True, text=True)
    (locks / "all.lock").write_text(json.dumps({"pid": int(dead.stdout), "host": socket.gethostname()}))
    with store.open_writer("val", num_images=6, **PARAMS) as w:  # stale: broken automatically
        assert w.pending() == list(range(6))


def test_range_writers_dask_path(tmp_path):
    store = _store(tmp_path)
    store.prepare_split("val", num_images=7, **PARAMS)  # chunk_images = 3
    with pytest.raises(StoreError, match="chunk-aligned"):
        store.open_writer("val", rows=(0, 4))
    a = store.open_writer("val", rows=(0, 3))
    b = store.open_writer("val", rows=(3, 7))
    with pytest.raises(StoreError, match="another writer"):
        store.open_writer("val", rows=(3, 6))
    with pytest.raises(StoreError, match="another writer"):
        store.open_writer("val", num_images=7, **PARAMS)
    for w in (b, a):
        for row in w.pending():
            w.write(row, record(row))
        w.close()
    meta = store.finalize_split("val")
    assert meta["status"] == "complete"
    sp = open_store(tmp_path / "s").split("val")
    assert sp.images()["row"].tolist() == list(range(7)) and len(sp.queries()) == 7 * 6


def test_read_only_location(tmp_path, monkeypatch):
    from fsspec.implementations.local import LocalFileSystem

    store = _store(tmp_path)

    opened = open_store(store.url, mode="a")
    real_open = LocalFileSystem.open

    def denied(self, path, *a, **kw):  # what a read-only mount answers (root ignores chmod)
        raise PermissionError(13, "Permission denied", path)

    def open_read_only(self, path, mode="rb", *a, **kw):
        return real_open(self, path, mode, *a, **kw) if "r" in mode else denied(self, path)

    monkeypatch.setattr(LocalFileSystem, "makedirs", denied)
    monkeypatch.setattr(LocalFileSystem, "open", open_read_only)
    with pytest.raises(StoreError, match=r"/new.*read-only"):
        create_store(tmp_path / "new", manifest())
    with pytest.raises(StoreError, match=r"text/default.npy.*read-only"):
        opened.write_text("default", [[0.0]] * 3)
    with pytest.raises(StoreError, match="read-only"):
        open_store(store.url).write_text("default", [[0.0]] * 3)


def test_retried_task_takes_over_its_own_lock_on_any_host(tmp_path):
    store = _store(tmp_path)
    store.prepare_split("val", num_images=6, **PARAMS)  # chunk_images = 3
    locks = tmp_path / "s" / "val" / "locks"
    locks.mkdir()
    # a dask worker on another host died inside rows 0-3 (its pid there may be alive or reused)
    (locks / "rows-0-3.lock").write_text(json.dumps({"pid": 1, "host": "elsewhere", "owner": "run-a"}))
    for owner in (None, "run-b"):
        with pytest.raises(StoreError, match="elsewhere"):
            store.open_writer("val", rows=(0, 3), owner=owner)
    with store.open_writer("val", rows=(0, 3), owner="run-a") as w:  # the retry of the same run's task
        assert w.pending() == [0, 1, 2]
        assert json.loads((locks / "rows-0-3.lock").read_text())["owner"] == "run-a"
