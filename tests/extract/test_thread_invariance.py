"""Stored values do not depend on torch's thread count or the batch size (CPU extraction)."""

import torch

from zs.extract.run import run
from zs.store import open_store

from tests.extract.test_job import _assert_same, _cfg, _snapshot


def test_store_identical_whatever_threads_and_batch(tiny_coco, tiny_seg_dir, tiny_clip_paths, tmp_path):
    clip = dict(clip_model=str(tiny_clip_paths[0]), clip_weights=str(tiny_clip_paths[1]))
    old = torch.get_num_threads()
    try:
        torch.set_num_threads(1)
        # PADing's 12,544 matching points: enough work for a 2-thread matmul to split its reductions
        run(_cfg(tiny_coco, tiny_seg_dir, tmp_path / "t1", batch_size=1, chunk_images=4, num_points=12544, **clip))
        torch.set_num_threads(2)
        run(_cfg(tiny_coco, tiny_seg_dir, tmp_path / "t2", batch_size=4, chunk_images=4, num_points=12544, **clip))
        assert torch.get_num_threads() == 2  # extraction leaves the caller's setting alone
    finally:
        torch.set_num_threads(old)
    a, b = _snapshot(tmp_path / "t1"), _snapshot(tmp_path / "t2")
    assert open_store(tmp_path / "t1").split("val").num_images == 6
    _assert_same(a, b)
