"""Round trip of every array and table; readers; toy store; bad input."""

import json

import numpy as np
import pytest
import torch

from store_helpers import DC, PARAMS, Q, VOCAB, manifest, record
from zs.errors import StoreError
from zs.store import create_store, open_store
from zs.store.masks import dequantize_probs, quantize_probs


@pytest.fixture()
def written(tmp_path):
    store = create_store(tmp_path / "s", manifest())
    with store.open_writer("val", num_images=7, **PARAMS) as w:
        assert w.pending() == list(range(7))
        for row in [3, 0, 6, 1, 2, 5, 4]:  # out of order on purpose
            w.write(row, record(row))
    return open_store(tmp_path / "s")


def test_arrays_round_trip(written):
    sp = written.split("val")
    recs = [record(r) for r in range(7)]
    emb = sp.query_embed(slice(None))
    assert emb.shape == (7, Q, 8) and emb.dtype == np.float32
    for r, rec in enumerate(recs):
        np.testing.assert_array_equal(emb[r], rec.query_embed.astype(np.float16).astype(np.float32))
        np.testing.assert_array_equal(sp.query_logits([r])[0], rec.query_logits.astype(np.float16).astype(np.float32))
        assert np.abs(sp.mask_probs(r) - rec.mask_probs).max() <= 0.5 / 255 + 1e-6
        np.testing.assert_array_equal(sp.clip_global([r])[0], rec.clip_global)
    np.testing.assert_array_equal(sp.query_embed([5, 1])[0], emb[5])  # unsorted fancy rows
    assert sp.done().all() and sp.complete
    assert sp.dask("query_embed").shape == (7, Q, 8)


def test_tables_round_trip(written):
    sp = written.split("val")
    images, queries, segs = sp.images(), sp.queries(), sp.segments()
    assert images["row"].tolist() == list(range(7))
    assert images["image_id"].tolist() == [1000 + r for r in range(7)]
    assert images["flip"].tolist() == [bool(r % 2) for r in range(7)]
    assert len(queries) == 7 * Q and len(segs) == sum(1 + r % 3 for r in range(7))
    assert segs["seg_row"].tolist() == list(range(len(segs)))
    for r in range(7):
        rec = record(r)
        q = queries[queries.row == r].sort_values("query")
        s = segs[segs.row == r]
        assert s["segment_id"].tolist() == [x["segment_id"] for x in rec.segments]
        for qi, m in enumerate(rec.match_segment):
            row = q.iloc[qi]
            if m < 0:
                assert row.segment == -1 and row.label == 3 and not row.seen and np.isnan(row.match_cost)
            else:
                seg = s.iloc[m]
                assert row.segment == seg.seg_row and row.category_id == rec.segments[m]["category_id"]
                assert row.label == VOCAB.index_of_id(row.category_id)
                assert row.seen == (row.category_id != 5)
                np.testing.assert_array_equal(sp.clip_segment([seg.seg_row])[0], rec.segment_clip[m])
    # push-down: columns and filters
    sub = sp.queries(columns=["row", "label"], filters=[("label", "<", 3)])
    assert list(sub.columns) == ["row", "label"] and (sub.label < 3).all() and len(sub) > 0


def test_masks_quantisation_resolution():
    p = np.linspace(0, 1, 10001, dtype=np.float32)
    assert np.abs(dequantize_probs(quantize_probs(p)) - p).max() <= 0.5 / 255 + 1e-7


def test_matched_and_image_batches(written):
    sp = written.split("val")
    batches = list(sp.matched_batches(4, seed=1, epochs=1))
    labels = torch.cat([b[1] for b in batches])
    queries = sp.queries()
    want = queries[(queries.segment >= 0) & queries.seen]
    assert len(labels) == len(want) and set(labels.tolist()) <= {0, 2}
    again = list(sp.matched_batches(4, seed=1, epochs=1))
    assert all(torch.equal(a[0], b[0]) for a, b in zip(batches, again))
    only_b = torch.cat([b[1] for b in sp.matched_batches(2, seed=0, labels=[1], epochs=1)])
    assert (only_b == 1).all() and len(only_b) == ((queries.segment >= 0) & (queries.label == 1)).sum()
    ims = list(sp.image_batches(2, seed=0, epochs=1))
    rows = torch.cat([b["rows"] for b in ims])
    assert sorted(rows.tolist()) == list(range(7))
    b = ims[0]
    r = int(b["rows"][0])
    assert torch.allclose(b["embed"][0], torch.from_numpy(sp.query_embed([r])[0]))
    q = queries[queries.row == r].sort_values("query")
    assert b["label"][0].tolist() == q.label.tolist() and b["segment_clip_rows"][0].tolist() == q.segment.tolist()
    assert b["clip_global"].shape == (2, DC)


def test_text_and_identity(tmp_path):
    store = create_store(tmp_path / "s", manifest())
    emb = np.random.default_rng(0).normal(size=(3, 5)).astype(np.float32)
    store.write_text("default", emb, {"templates": ["a {}"]})
    e, meta = open_store(tmp_path / "s").text()
    np.testing.assert_array_equal(e, emb)
    assert meta["templates"] == ["a {}"] and store.text_names() == ["default"]
    assert len(store.sha256) == 64 and store.manifest["schema_version"] == 2
    with pytest.raises(StoreError, match="text embeddings"):
        store.write_text("bad", emb[:2])


def test_bad_input_messages(tmp_path):
    with pytest.raises(StoreError, match="no such store"):
        open_store(tmp_path / "missing")
    (tmp_path / "plain").mkdir()
    with pytest.raises(StoreError, match="not a zs store"):
        open_store(tmp_path / "plain")
    store = create_store(tmp_path / "s", manifest())
    with pytest.raises(StoreError, match="not empty"):
        create_store(tmp_path / "s", manifest())
    m = json.loads((tmp_path / "s" / "manifest.json").read_text())
    m["schema_version"] = 99
    (tmp_path / "s" / "manifest.json").write_text(json.dumps(m))
    with pytest.raises(StoreError, match="schema_version 99 is newer"):
        open_store(tmp_path / "s")
    with pytest.raises(StoreError, match="no split 'val'"):
        store.split("val")
    with pytest.raises(StoreError, match="query_embed has shape"):
        with store.open_writer("val", num_images=2, **PARAMS) as w:
            rec = record(0)
            rec.query_embed = rec.query_embed[:, :3]
            w.write(0, rec)
    with pytest.raises(StoreError, match="exists with other parameters"):
        store.open_writer("val", num_images=3, **PARAMS)


def test_toy_store(tmp_path):
    from zs.heads import load_head
    from toyworld.store import write_toy_store

    store = write_toy_store(tmp_path / "toy", n_train=16, n_val=16, num_queries=8, dim=16, text_dim=8, seed=3)
    tr, va = store.split("train"), store.split("val")
    assert not tr.segments().label.isin(store.vocab.unseen_indices).any()
    assert va.segments().label.isin(store.vocab.unseen_indices).any() and va.has_masks and not tr.has_masks
    head = load_head(store.seen_head_path)
    q = va.queries()
    probs = head.class_probs(torch.from_numpy(va.query_embed(slice(None)).reshape(-1, 16)))
    pred = probs.argmax(1).numpy()
    seen = q.seen.to_numpy()
    assert (pred[seen] == q.label.to_numpy()[seen]).mean() > 0.9
    assert probs[:, store.vocab.unseen_indices].max() < 1e-6
    # masks agree with segments: a matched query's mask > 0.5 exactly on its segment
    segs = va.segments().set_index("seg_row")
    for m in q[(q.segment >= 0)].head(20).itertuples():
        mask = va.mask_probs(m.row)[m.query]  # [h, w]
        assert (mask > 0.5).sum() * 16 == segs.loc[m.segment, "area"]
    assert store.manifest["dataset"]["val"]["num_images"] == 16


def test_update_manifest(tmp_path):
    store = create_store(tmp_path / "s", manifest())
    store.update_manifest({"dataset": {"val": {"format": "coco-panoptic", "json_sha256": "x"}}})
    reopened = open_store(tmp_path / "s")
    assert reopened.manifest["dataset"]["val"]["json_sha256"] == "x" and reopened.sha256 == store.sha256
    with pytest.raises(StoreError, match="cannot be changed"):
        store.update_manifest({"schema_version": 7})
