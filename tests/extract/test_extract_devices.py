"""Dask extraction: the coordinator keeps its models on the CPU, each worker takes one GPU."""

import torch

from zs.extract.job import ExtractConfig
from zs.extract.run import _compute, _device


def _cfg(**kw):
    return ExtractConfig(store="s", segmenter="seg", images="i", json="j.json", png="p", split="train", **kw)


def test_coordinator_of_a_dask_run_loads_on_the_cpu():
    assert _device(_cfg(device="cuda", dask_workers=2)) == "cpu"
    assert _device(_cfg(device="cuda", dask_scheduler="tcp://x:8786")) == "cpu"
    assert _device(_cfg(device="cpu")) == "cpu"


def test_worker_side_device(monkeypatch):
    import zs.runtime as rt

    monkeypatch.setattr(torch.cuda, "is_available", lambda: True)
    monkeypatch.setattr(torch.cuda, "device_count", lambda: 4)
    monkeypatch.setattr(rt, "current_worker_name", lambda: 6)
    assert _device(_cfg(device="cuda")) == "cuda:2"  # worker 6 of a 4-GPU host
    assert _device(_cfg(device="cuda:1")) == "cuda:1"
    monkeypatch.setattr(rt, "current_worker_name", lambda: None)
    assert _device(_cfg(device="cuda")) == "cuda"  # not in a worker: as given


def test_store_records_the_compute_of_the_split():
    entry = _compute(_cfg(device="cpu", dask_workers=2))
    assert entry["device"] == "cpu" and entry["tf32"] is False and entry["dask"] == "cpu workers"


def test_extract_writes_the_compute_entry_into_the_store_manifest(tiny_coco, tiny_seg_dir, tmp_path):
    from zs.extract.run import run
    from zs.store import open_store

    i, j, p = tiny_coco
    cfg = ExtractConfig(split="val", store=str(tmp_path / "store"), segmenter=str(tiny_seg_dir), images=str(i),
                        json=str(j), png=str(p), num_points=200, batch_size=2, chunk_images=2, workers=1, limit=2)
    run(cfg)
    run(cfg)  # a re-run on the same device adds no second entry
    (entry,) = open_store(cfg.store).manifest["dataset"]["val"]["compute"]
    assert entry["device"] == "cpu" and entry["tf32"] is False and entry["float32_matmul_precision"] == "highest"


def test_a_finished_extraction_gives_its_gpu_models_back(monkeypatch):
    """The per-process model cache keeps CPU models for the next extraction but drops GPU ones, so the
    stages after an extraction (same pipeline process or dask worker) get that memory back."""
    import zs.extract.run as er

    monkeypatch.setattr(torch.cuda, "is_available", lambda: True)
    monkeypatch.setattr(er, "_CACHE", {("ds", "i", "j", "p"): 1, ("seg", "m", "cpu"): 2, ("seg", "m", "cuda:1"): 3,
                                       ("clip", "b16", "w", "auto"): 4, ("clip", "b16", "w", "cpu"): 5})
    er.release_device_models()
    assert sorted(er._CACHE.values()) == [1, 2, 5]
