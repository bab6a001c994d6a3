"""The extraction job end to end on tiny data: what is written, resume, dask, failures."""

import json
import shutil

import numpy as np
import pytest
import torch

from tests.conftest import run_cli
from zs.extract.job import ExtractConfig, batches_within_chunks
from zs.extract.run import run
from zs.store import open_store


def _cfg(tiny_coco, seg_dir, store, **kw):
    i, j, p = tiny_coco
    base = dict(split="val", store=str(store), segmenter=str(seg_dir), images=str(i), json=str(j), png=str(p),
                num_points=200, batch_size=2, chunk_images=2, workers=2)
    base.update(kw)
    return ExtractConfig(**base)


def _snapshot(url, split="val"):
    sp = open_store(url).split(split)
    out = {"embed": sp.query_embed(slice(0, sp.num_images)), "logits": sp.query_logits(slice(0, sp.num_images)),
           "images": sp.images(), "queries": sp.queries(), "segments": sp.segments()}
    if sp.has_masks:
        out["masks"] = np.stack([sp.mask_probs(r) for r in range(sp.num_images)])
    if sp.has_clip:
        out["clip"] = sp.clip_global(slice(0, sp.num_images))
    return out


def _assert_same(a, b):
    assert a.keys() == b.keys()
    for k in a:
        if hasattr(a[k], "equals"):
            assert a[k].equals(b[k]), k
        else:
            np.testing.assert_array_equal(a[k], b[k], err_msg=k)


def test_written_shapes_dtypes_and_class_head(tiny_coco, tiny_seg_dir, tiny_clip_paths, tmp_path):
    cfg = _cfg(tiny_coco, tiny_seg_dir, tmp_path / "s", clip_model=str(tiny_clip_paths[0]),
               clip_weights=str(tiny_clip_paths[1]))
    res = run(cfg)
    assert res.written == res.num_rows == 6 and not res.failures
    st = open_store(tmp_path / "s")
    sp = st.split("val")
    assert (sp.num_queries, sp.query_dim, sp.num_classes) == (10, 32, 5)
    emb, logits = sp.query_embed(slice(0, 6)), sp.query_logits(slice(0, 6))
    assert emb.shape == (6, 10, 32) and logits.shape == (6, 10, 6) and emb.dtype == np.float32
    m = sp.mask_probs(0)
    assert m.ndim == 3 and m.shape[0] == 10 and 0 <= m.min() and m.max() <= 1
    assert sp.clip_global(slice(0, 6)).shape == (6, 32)
    segs = sp.segments()
    assert sp.clip_segment(segs["seg_row"].to_numpy()).shape == (len(segs), 32)
    # the stored embeddings reproduce the stored logits through the checkpoint's class head
    from zs.extract.segmenter import load_segmenter
    from zs.heads import load_head

    seg = load_segmenter(tiny_seg_dir)
    with torch.no_grad():
        again = seg.class_head(torch.from_numpy(emb)).numpy()
        head = load_head(st.seen_head_path)
        from_head = head(torch.from_numpy(emb).reshape(-1, 32)).reshape(6, 10, 6).numpy()
    np.testing.assert_allclose(again, logits, atol=0.05)
    np.testing.assert_allclose(from_head, again, atol=1e-5)
    # matched queries point at non-crowd segments of their own image; images carry geometry
    q = sp.queries()
    matched = q[q["segment"] >= 0]
    assert len(matched) > 0
    seg_rows = segs.set_index("seg_row").loc[matched["segment"]]
    assert (seg_rows["row"].to_numpy() == matched["row"].to_numpy()).all()
    assert (seg_rows["iscrowd"] == 0).all()
    assert {"resized_h", "padded_w", "crop_h", "view"} <= set(sp.images().columns)
    ds = st.manifest["dataset"]["val"]
    assert ds["json"] == str(tiny_coco[1].resolve()) and ds["num_images"] == 6


def test_interrupted_then_resumed_equals_uninterrupted(tiny_coco, tiny_seg_dir, tmp_path, monkeypatch):
    run(_cfg(tiny_coco, tiny_seg_dir, tmp_path / "full"))
    import zs.extract.job as job

    real, calls = job.map_batch, {"n": 0}

    def dying(*a, **k):
        calls["n"] += 1
        if calls["n"] == 2:
            raise KeyboardInterrupt
        return real(*a, **k)

    monkeypatch.setattr(job, "map_batch", dying)
    with pytest.raises(KeyboardInterrupt):
        run(_cfg(tiny_coco, tiny_seg_dir, tmp_path / "resumed"))
    monkeypatch.setattr(job, "map_batch", real)
    seen = []
    monkeypatch.setattr(job, "map_batch", lambda ctx, items, c: seen.extend(it["row"] for it in items) or real(ctx, items, c))
    run(_cfg(tiny_coco, tiny_seg_dir, tmp_path / "resumed"))
    assert seen == [2, 3, 4, 5]  # the first batch was not recomputed
    _assert_same(_snapshot(tmp_path / "full"), _snapshot(tmp_path / "resumed"))


def test_dask_two_workers_equals_single_process(tiny_coco, tiny_seg_dir, tmp_path):
    run(_cfg(tiny_coco, tiny_seg_dir, tmp_path / "single", split="train", views=2))
    run(_cfg(tiny_coco, tiny_seg_dir, tmp_path / "dask", split="train", views=2, dask_workers=2,
             dask_processes=False))
    a, b = _snapshot(tmp_path / "single", "train"), _snapshot(tmp_path / "dask", "train")
    assert len(a["images"]) == 12 and set(a["images"]["view"].astype(int)) == {0, 1}
    _assert_same(a, b)


def test_batches_never_cross_chunks():
    assert batches_within_chunks([0, 1, 2, 3, 4, 5, 6], 3, 4) == [[0, 1, 2], [3], [4, 5, 6]]
    assert batches_within_chunks([1, 3, 4, 7], 4, 4) == [[1, 3], [4, 7]]


def test_corrupt_image_recorded_exit_nonzero_and_retried(tiny_coco, tiny_seg_dir, tmp_path):
    img_dir = tmp_path / "images"
    shutil.copytree(tiny_coco[0], img_dir)
    victim = img_dir / "000003.png"
    good = victim.read_bytes()
    victim.write_bytes(b"garbage")
    args = ["extract", "--images", img_dir, "--json", tiny_coco[1], "--png", tiny_coco[2], "--split", "val",
            "--segmenter", tiny_seg_dir, "--store", tmp_path / "s", "--no-clip", "--num-points", 100,
            "--chunk-images", 2, "--no-progress", "--device", "cpu"]
    r = run_cli(args)
    assert r.exit_code == 1 and "000003.png" in r.output
    fails = json.loads((tmp_path / "s" / "val" / "extract_failures.json").read_text())
    assert [f["row"] for f in fails] == [2]
    assert len(open_store(tmp_path / "s").split("val").images()) == 5
    victim.write_bytes(good)
    r = run_cli(args)
    assert r.exit_code == 0, r.output
    assert len(open_store(tmp_path / "s").split("val").images()) == 6
    assert json.loads((tmp_path / "s" / "val" / "extract_failures.json").read_text()) == []


def test_bad_inputs_fail_before_work(tiny_coco, tiny_seg_dir, tiny_clip_paths, tmp_path):
    from zs.errors import ProvenanceError, ZsError
    from toyworld.extract_inputs import tiny_segmenter_dir

    vocab = {"name": "v", "categories": [{"id": 1, "name": "disk", "isthing": 1}]}
    (tmp_path / "vocab.json").write_text(json.dumps(vocab))
    with pytest.raises(ZsError, match=r"category ids \[2, 3, 7, 9\] are not in the vocabulary"):
        run(_cfg(tiny_coco, tiny_seg_dir, tmp_path / "a", vocab=str(tmp_path / "vocab.json")))
    other = tiny_segmenter_dir(tmp_path / "seg7", 7, seed=1)
    with pytest.raises(ZsError, match="predicts 7 classes but the vocabulary"):
        run(_cfg(tiny_coco, other, tmp_path / "b"))
    assert not (tmp_path / "a").exists() and not (tmp_path / "b").exists()
    run(_cfg(tiny_coco, tiny_seg_dir, tmp_path / "c", limit=2))
    other5 = tiny_segmenter_dir(tmp_path / "seg5", 5, seed=2)
    with pytest.raises(ProvenanceError, match="made with segmenter"):
        run(_cfg(tiny_coco, other5, tmp_path / "c", split="train", limit=2))
    bad_w = tmp_path / "bad.pt"
    sd = torch.load(tiny_clip_paths[1])
    sd.pop("text_projection")
    torch.save(sd, bad_w)
    with pytest.raises(ZsError, match="do not fit --clip-model"):
        run(_cfg(tiny_coco, tiny_seg_dir, tmp_path / "d", clip_model=str(tiny_clip_paths[0]), clip_weights=str(bad_w)))
    assert not (tmp_path / "d").exists()
