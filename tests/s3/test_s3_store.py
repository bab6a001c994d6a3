"""Stores on a local S3 server: fresh stores every time, bad endpoint/bucket/schema as one-line errors."""

import json

import pytest

from tests.s3.conftest import CREDENTIALS, free_port
from zs.cli import main
from zs.errors import StoreError
from zs.extract.job import ExtractConfig
from zs.extract.run import run
from zs.store import open_store

pytestmark = pytest.mark.s3


def _cfg(data, seg_dir, store, **kw):
    base = dict(split="val", store=store, segmenter=str(seg_dir), images=str(data / "val" / "images"),
                json=str(data / "val" / "panoptic.json"), png=str(data / "val" / "panoptic"), num_points=100,
                batch_size=2, chunk_images=2, workers=1, limit=1)
    return ExtractConfig(**{**base, **kw})


def _local_files(path):
    return sorted(p.relative_to(path).as_posix() for p in path.rglob("*"))


def test_ten_fresh_stores_are_created_every_time(bucket, tiny_data, tiny_seg_dir, tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    # what made a fresh extract fail with 'no such store': the seen head used to be written to a local
    # directory shaped like the URL (./s3:/bucket/store/seen_head), which a later fresh run then took for
    # an existing non-empty store. Such a leftover must not matter, and no run may leave one.
    decoy = tmp_path / "s3:" / bucket / "fresh-0" / "seen_head"
    decoy.mkdir(parents=True)
    (decoy / "weights.pt").write_bytes(b"left over")
    before = _local_files(tmp_path)
    for k in range(10):
        url = f"s3://{bucket}/fresh-{k}"
        res = run(_cfg(tiny_data, tiny_seg_dir, url))
        assert (res.store, res.written, res.failures) == (url, 1, [])
        store = open_store(url)
        assert store.has_seen_head() and store.split("val").num_images == 1
    assert _local_files(tmp_path) == before


def test_seen_head_read_back_from_the_bucket(bucket, tiny_data, tiny_seg_dir, tmp_path, monkeypatch):
    from zs.heads import load_head

    monkeypatch.chdir(tmp_path)
    run(_cfg(tiny_data, tiny_seg_dir, f"s3://{bucket}/s"))
    head = load_head(open_store(f"s3://{bucket}/s").seen_head_path)
    assert head.cfg.kind == "linear" and head.cfg.num_classes == 5
    assert not list(tmp_path.iterdir())


def _one_line_error(capsys, args) -> str:
    with pytest.raises(SystemExit) as e:
        main([str(a) for a in args])
    assert e.value.code == 2
    err = capsys.readouterr().err
    assert err.startswith("error: ") and err.count("\n") == 1 and "Traceback" not in err
    assert not any(v in err for k, v in CREDENTIALS.items() if "KEY" in k)
    return err


def _extract_args(data, seg_dir, store):
    return ["extract", "--data", data, "--split", "val", "--segmenter", seg_dir, "--store", store, "--no-clip",
            "--no-progress", "--device", "cpu"]


def test_missing_bucket_unreachable_endpoint_other_schema(bucket, s3_endpoint, tiny_data, tiny_seg_dir, capsys,
                                                          monkeypatch):
    import s3fs

    import zs.extract.run as extract_run

    monkeypatch.setattr(extract_run, "build_context", lambda cfg: pytest.fail("work started"))
    err = _one_line_error(capsys, _extract_args(tiny_data, tiny_seg_dir, "s3://no-such-bucket/store"))
    assert "s3://no-such-bucket/store: bucket 'no-such-bucket' does not exist" in err and s3_endpoint in err

    dead = f"http://127.0.0.1:{free_port()}"
    monkeypatch.setenv("AWS_ENDPOINT_URL", dead)
    s3fs.S3FileSystem.clear_instance_cache()
    try:
        err = _one_line_error(capsys, _extract_args(tiny_data, tiny_seg_dir, "s3://elsewhere/store"))
        assert "s3://elsewhere/store: cannot reach the object store" in err and dead in err
    finally:
        monkeypatch.setenv("AWS_ENDPOINT_URL", s3_endpoint)
        s3fs.S3FileSystem.clear_instance_cache()

    from zs.store import create_store
    from zs.vocab import Vocabulary

    vocab = Vocabulary.from_dict({"name": "v", "categories": [{"id": 1, "name": "a", "isthing": 1}]})
    url = f"s3://{bucket}/future"
    create_store(url, {"vocabulary": vocab.to_dict()})
    fs = s3fs.S3FileSystem(use_listings_cache=False)
    m = json.loads(fs.cat(f"{bucket}/future/manifest.json"))
    fs.pipe(f"{bucket}/future/manifest.json", json.dumps({**m, "schema_version": 99}).encode())
    err = _one_line_error(capsys, ["store", "verify", url])
    assert "schema_version 99 is newer than this zs supports (2)" in err and url in err
    with pytest.raises(StoreError, match="schema_version 99"):
        open_store(url)


def test_endpoint_from_fsspec_config_client_kwargs(bucket, s3_endpoint, tiny_data, tiny_seg_dir, tmp_path,
                                                   monkeypatch):
    """The other standard way: fsspec's configuration (FSSPEC_S3 / ~/.config/fsspec/s3.json) -> client_kwargs."""
    import fsspec.config
    import s3fs

    monkeypatch.chdir(tmp_path)
    monkeypatch.delenv("AWS_ENDPOINT_URL")
    monkeypatch.setitem(fsspec.config.conf, "s3", {"client_kwargs": {"endpoint_url": s3_endpoint}})
    s3fs.S3FileSystem.clear_instance_cache()
    try:
        res = run(_cfg(tiny_data, tiny_seg_dir, f"s3://{bucket}/via-config"))
        assert res.written == 1
        assert open_store(f"s3://{bucket}/via-config").split("val").num_images == 1
    finally:
        s3fs.S3FileSystem.clear_instance_cache()
