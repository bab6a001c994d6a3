"""The scale-out path on a local S3 server, with real processes.

`zs extract --dask-workers 2` (worker PROCESSES) into s3://bucket/store is SIGKILLed as a whole mid-way,
then resumed the same way while one worker process is SIGKILLed mid-range (its images are retried); the
store verifies and equals a local single-process store bit for bit; fit-generator, adapt, evaluate and
diagnose then read it.
"""

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest

from tests.conftest import run_cli
from tests.extract.test_job import _assert_same, _snapshot
from zs.extract.job import ExtractConfig
from zs.extract.run import run
from zs.store import open_store

pytestmark = pytest.mark.s3
ROOT = Path(__file__).resolve().parents[2]


def _extract_args(data, seg_dir, store, *extra):
    return ["extract", "--data", data, "--split", "val", "--unseen", data / "unseen.txt", "--segmenter", seg_dir,
            "--store", store, "--no-clip", "--num-points", 100, "--batch-size", 2, "--chunk-images", 2,
            "--workers", 1, "--no-progress", "--device", "cpu", *extra]


def _spawn(args):
    # slow_writes/sitecustomize.py: each image's store write waits 0.3 s in these processes (dask workers
    # included), so the test catches them mid-range on any machine
    path = os.pathsep.join([str(Path(__file__).parent / "slow_writes"), str(ROOT), os.environ.get("PYTHONPATH", "")])
    env = {**os.environ, "PYTHONPATH": path, "OMP_NUM_THREADS": "2", "ZS_TEST_SLOW_FRAGMENT_S": "0.3"}
    return subprocess.Popen([sys.executable, "-m", "zs.cli", *map(str, args)], env=env, cwd=ROOT,
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, start_new_session=True)


class Bucket:
    def __init__(self, prefix: str):
        import s3fs

        self.fs, self.prefix = s3fs.S3FileSystem(use_listings_cache=False), prefix

    def names(self, *parts) -> list[str]:
        try:
            return sorted(os.path.basename(p) for p in self.fs.ls("/".join([self.prefix, *parts]), detail=False))
        except FileNotFoundError:
            return []

    def read_json(self, *parts):
        try:
            return json.loads(self.fs.cat("/".join([self.prefix, *parts])))
        except (FileNotFoundError, ValueError):
            return None


def _wait(what: str, cond, proc, timeout: float = 300.0):
    t0 = time.time()
    while time.time() - t0 < timeout:
        got = cond()
        if got:
            return got
        if proc.poll() is not None:
            out, err = proc.communicate()
            pytest.fail(f"the run ended (rc {proc.returncode}) before {what}:\n{err[-3000:]}")
        time.sleep(0.1)
    pytest.fail(f"timed out waiting for {what}")


def _fragments(b: Bucket) -> set[int]:
    return {int(n.split(".")[0]) for n in b.names("val", "fragments") if n.endswith(".npz")}


def _live_range_lock(b: Bucket, before: set[int]):
    """(pid, rows) of a dask worker holding a range lock with a fragment written in this run, if any."""
    new = _fragments(b) - before
    for name in b.names("val", "locks"):
        if not name.startswith("rows-"):
            continue
        lo, hi = map(int, name[len("rows-"):-len(".lock")].split("-"))
        info = b.read_json("val", "locks", name)
        if info and any(lo <= r < hi for r in new):
            return int(info["pid"]), (lo, hi)
    return None


def test_s3_store_killed_resumed_on_dask_processes_bit_identical(bucket, tiny_data, tiny_seg_dir, tmp_path):
    local = tmp_path / "local"
    run(ExtractConfig(split="val", store=str(local), segmenter=str(tiny_seg_dir), unseen=str(tiny_data / "unseen.txt"),
                      images=str(tiny_data / "val" / "images"), json=str(tiny_data / "val" / "panoptic.json"),
                      png=str(tiny_data / "val" / "panoptic"), num_points=100, batch_size=2, chunk_images=2,
                      workers=1))
    url = f"s3://{bucket}/store"
    b = Bucket(f"{bucket}/store")

    # 1. a run on two dask worker processes, SIGKILLed as a whole (coordinator, nannies, workers: one
    #    process group) once a few images are written
    proc = _spawn(_extract_args(tiny_data, tiny_seg_dir, url, "--dask-workers", 2))
    _wait("two images written", lambda: len(_fragments(b)) >= 2, proc)
    os.killpg(proc.pid, signal.SIGKILL)
    proc.communicate()
    assert proc.returncode == -signal.SIGKILL
    before = _fragments(b)
    assert 0 < len(before) < 12

    # 2. resumed on two dask worker processes; one worker is SIGKILLed in the middle of its range
    proc = _spawn(_extract_args(tiny_data, tiny_seg_dir, url, "--dask-workers", 2))
    pid, rows = _wait("a worker mid-range", lambda: _live_range_lock(b, before), proc)
    assert pid != proc.pid
    os.kill(pid, signal.SIGKILL)
    out, err = proc.communicate(timeout=600)
    assert proc.returncode == 0, err[-3000:]
    assert f"{url} [val]: 12/12 rows done" in out

    # 3. sound, and equal to the local single-process store bit for bit
    r = run_cli(["store", "verify", url])
    assert r.exit_code == 0 and r.output.strip() == f"{url}: ok", r.output
    _assert_same(_snapshot(local), _snapshot(url))
    assert open_store(url).has_seen_head() and not b.names("val", "fragments")

    # 4. the downstream stages read the store on S3 (only val was extracted: it holds unseen classes,
    # so the training stages need --allow-unseen-in-train)
    np.save(tmp_path / "sem.npy", np.random.default_rng(0).normal(size=(5, 16)).astype(np.float32))
    steps = [
        ["text-embed", "--store", url, "--semantic", tmp_path / "sem.npy"],
        ["fit-generator", "--store", url, "--split", "val", "--out", tmp_path / "gen", "--iterations", 2,
         "--batch-images", 4, "--num-primitives", 8, "--device", "cpu", "--no-progress", "--threads", 1,
         "--allow-unseen-in-train"],
        ["adapt", "--store", url, "--split", "val", "--method", "classifier", "--generator", tmp_path / "gen",
         "--out", tmp_path / "head", "--steps", 3, "--images-per-batch", 4, "--device", "cpu", "--no-progress",
         "--allow-unseen-in-train"],
        ["evaluate", "--store", url, "--split", "val", "--head", tmp_path / "head", "--out", tmp_path / "eval",
         "--no-report", "--no-progress", "--device", "cpu"],
        ["diagnose", "--store", url, "--split", "val", "--generator", tmp_path / "gen", "--out", tmp_path / "diag",
         "--per-class", 10, "--no-plots", "--no-progress", "--device", "cpu"],
    ]
    for args in steps:
        r = run_cli(args)
        assert r.exit_code == 0, (args[0], r.output, r.exception)
    metrics = json.loads((tmp_path / "eval" / "metrics.json").read_text())
    assert metrics["provenance"]["store"]["url"] == url and metrics["provenance"]["num_images"] == 12
    assert (tmp_path / "diag" / "diagnostics.json").is_file()
