"""`zs extract --shard I/N`: separate processes write disjoint chunk ranges; consolidation; overlap refused."""

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from tests.conftest import run_cli
from tests.extract.test_job import _assert_same, _cfg, _snapshot
from zs.errors import ZsError
from zs.extract.run import run
from zs.extract.shards import parse_shard, shard_rows
from zs.store import open_store

ROOT = Path(__file__).resolve().parents[2]


def _args(tiny_coco, seg_dir, store):
    i, j, p = tiny_coco
    return ["extract", "--images", i, "--json", j, "--png", p, "--split", "val", "--segmenter", seg_dir,
            "--store", store, "--no-clip", "--num-points", 200, "--batch-size", 2, "--chunk-images", 2,
            "--workers", 2, "--no-progress", "--device", "cpu"]


def _spawn(args):
    env = {**os.environ, "PYTHONPATH": f"{ROOT}{os.pathsep}{os.environ.get('PYTHONPATH', '')}",
           "OMP_NUM_THREADS": "1"}
    return subprocess.Popen([sys.executable, "-m", "zs.cli", *map(str, args)], env=env, cwd=ROOT,
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)


def test_shard_ranges_are_whole_chunks_and_disjoint():
    assert [shard_rows(10, 2, (i, 3)) for i in range(3)] == [(0, 2), (2, 6), (6, 10)]
    assert [shard_rows(7, 2, (i, 2)) for i in range(2)] == [(0, 4), (4, 7)]
    assert parse_shard("1/4") == (1, 4)
    for bad in ("4/4", "x", "1/0", "-1/2"):
        with pytest.raises(ZsError, match="expected I/N"):
            parse_shard(bad)
    with pytest.raises(ZsError, match="only 2 chunk"):
        shard_rows(4, 2, (0, 3))


def test_two_shard_processes_then_consolidate_equal_single_process(tiny_coco, tiny_seg_dir, tmp_path):
    run(_cfg(tiny_coco, tiny_seg_dir, tmp_path / "single", num_points=200, workers=2))
    store = tmp_path / "sharded"
    procs = [_spawn(_args(tiny_coco, tiny_seg_dir, store) + ["--shard", f"{i}/2"]) for i in range(2)]
    outs = [p.communicate(timeout=600) for p in procs]
    for p, (out, err) in zip(procs, outs):
        assert p.returncode == 0, err
    assert "shard 0/2 (rows 0-1): 2/2 rows done" in outs[0][0]
    assert "shard 1/2 (rows 2-5): 4/4 rows done" in outs[1][0]
    assert json.loads((store / "val" / "shards.json").read_text()) == {"shards": 2}
    assert not (store / "val" / "images.parquet").exists()  # shards do not consolidate
    # a shard of another count would overlap the running plan's ranges
    r = run_cli(_args(tiny_coco, tiny_seg_dir, store) + ["--shard", "0/3"])
    assert isinstance(r.exception, ZsError) and "being written as 2 shards" in str(r.exception)
    r = run_cli(["store", "consolidate", store, "val"])
    assert r.exit_code == 0, r.output
    assert "6/6 rows consolidated (complete)" in r.output
    _assert_same(_snapshot(tmp_path / "single"), _snapshot(store))
    assert run_cli(["store", "verify", store]).exit_code == 0


def test_consolidate_reports_missing_rows(tiny_coco, tiny_seg_dir, tmp_path):
    store = tmp_path / "half"
    r = run_cli(_args(tiny_coco, tiny_seg_dir, store) + ["--shard", "1/2"])
    assert r.exit_code == 0, r.output
    r = run_cli(["store", "consolidate", store, "val"])
    assert r.exit_code == 1 and "4/6 rows consolidated (writing)" in r.output
    assert open_store(store).split("val").images()["row"].tolist() == [2, 3, 4, 5]
    r = run_cli(_args(tiny_coco, tiny_seg_dir, store))  # finishing run without --shard: the rest + tables
    assert r.exit_code == 0, r.output
    assert open_store(store).split("val").images()["row"].tolist() == list(range(6))
