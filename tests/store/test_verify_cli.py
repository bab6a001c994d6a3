"""zs store verify / info, and stores at fsspec URLs."""

import json
import shutil

import numpy as np
import pytest
import zarr

from store_helpers import PARAMS, manifest, record
from zs.store import create_store, open_store
from zs.store.verify import verify_store


def run_cli(args):
    from click.testing import CliRunner

    from zs.cli import cli

    return CliRunner().invoke(cli, [str(a) for a in args])


@pytest.fixture()
def store_dir(tmp_path):
    path = tmp_path / "s"
    store = create_store(path, manifest())
    store.write_text("default", np.eye(3, 4, dtype=np.float32), {})
    with store.open_writer("val", num_images=7, **PARAMS) as w:
        for row in range(7):
            w.write(row, record(row))
    return path


def test_sound_store(store_dir):
    assert verify_store(store_dir) == []
    r = run_cli(["store", "verify", store_dir])
    assert r.exit_code == 0 and "ok" in r.output
    r = run_cli(["store", "info", store_dir, "--json"])
    info = json.loads(r.output)
    s = info["splits"]["val"]
    assert r.exit_code == 0 and s["done"] == 7 and s["queries"] == 42
    assert s["matched"]["seen"] + s["matched"]["unseen"] == sum(1 + r % 3 for r in range(7))
    assert s["bytes"]["query_embed"] > 0
    assert "split val: 7/7" in run_cli(["store", "info", store_dir]).output


def test_verify_catches_deleted_chunk(store_dir):
    (store_dir / "val/arrays.zarr/query_embed/c/1/0/0").unlink()
    (store_dir / "val/arrays.zarr/mask_logits/c/4/0/0/0").unlink()
    problems = verify_store(store_dir)
    assert any("query_embed: 1 chunk(s) missing (rows 3-5)" in p for p in problems), problems
    assert any("mask_logits: 1 chunk(s) missing (rows 4-4)" in p for p in problems), problems
    r = run_cli(["store", "verify", store_dir])
    assert r.exit_code == 1 and "chunk(s) missing" in r.output


def test_verify_catches_truncated_parquet(store_dir):
    p = store_dir / "val/queries.parquet"
    p.write_bytes(p.read_bytes()[: p.stat().st_size // 2])
    problems = verify_store(store_dir)
    assert any("queries.parquet" in x and "unreadable" in x for x in problems), problems


def test_verify_catches_nan_embedding(store_dir):
    arr = zarr.open_array(store_dir / "val/arrays.zarr/query_embed", mode="r+")
    arr[5, 2, 1] = np.nan
    problems = verify_store(store_dir)
    assert problems == ["val: arrays.zarr/query_embed: NaN/Inf in 1 rows (first: [5])"]


def test_verify_catches_table_and_manifest_mismatch(store_dir):
    shutil.copy(store_dir / "val/images.parquet", store_dir / "keep.parquet")
    import pyarrow.parquet as pq

    t = pq.read_table(store_dir / "val/images.parquet")
    pq.write_table(t.slice(0, 5), store_dir / "val/images.parquet")
    m = json.loads((store_dir / "manifest.json").read_text())
    m["segmenter"]["query_dim"] = 99
    (store_dir / "manifest.json").write_text(json.dumps(m))
    problems = verify_store(store_dir)
    assert any("query_dim=8 but manifest segmenter.query_dim=99" in p for p in problems), problems
    m["segmenter"]["query_dim"] = 8
    (store_dir / "manifest.json").write_text(json.dumps(m))
    problems = verify_store(store_dir)
    assert any("images.parquet has 5 rows, done flags mark 7" in p for p in problems), problems


def test_cli_bad_path_is_one_line(tmp_path):
    from zs.cli import main

    with pytest.raises(SystemExit) as e:
        main(["store", "verify", str(tmp_path / "nope")])
    assert e.value.code == 2


def test_file_url(tmp_path):
    url = (tmp_path / "u").as_uri()  # file:///...
    store = create_store(url, manifest())
    with store.open_writer("val", num_images=4, **PARAMS) as w:
        for row in w.pending():
            w.write(row, record(row))
    sp = open_store(url).split("val")
    np.testing.assert_array_equal(sp.clip_global([2])[0], record(2).clip_global)
    assert len(sp.queries()) == 4 * 6 and verify_store(url) == []


def test_memory_url_through_fsspec_store():
    """A non-local fsspec filesystem goes through zarr's FsspecStore (as s3:// or gs:// would)."""
    import uuid

    url = f"memory://zs-test-{uuid.uuid4().hex}"
    store = create_store(url, manifest())
    assert not store._loc.is_local
    with store.open_writer("val", num_images=4, **PARAMS) as w:
        for row in w.pending():
            w.write(row, record(row))
    sp = open_store(url).split("val")
    np.testing.assert_array_equal(sp.clip_global([3])[0], record(3).clip_global)
    assert sp.images()["row"].tolist() == [0, 1, 2, 3]
    assert verify_store(url) == []
