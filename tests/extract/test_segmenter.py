"""Segmenter loading, preprocessing geometry, and the class-head readout."""

import json

import numpy as np
import pytest
import torch

from zs.errors import ZsError
from zs.extract.segmenter import load_segmenter, resized_size
from zs.extract.views import View, sample_views

REF = "/work/shared/reference/d2-mask2former/A"


def test_sizes_and_output_shapes(tiny_segmenter):
    seg = tiny_segmenter
    assert (seg.num_queries, seg.query_dim, seg.num_classes) == (10, 32, 5)
    img = np.random.default_rng(0).integers(0, 256, (50, 70, 3), dtype=np.uint8)
    x, geo = seg.preprocess(img)
    assert x.dtype == torch.float32 and x.shape == (3, 64, 90)  # shortest edge 64
    assert (geo["padded_h"], geo["padded_w"]) == (64, 96)
    batch = seg.collate([x, seg.preprocess(img[:, :60])[0]])
    assert batch.shape == (2, 3, 64, 96)
    out = seg.forward(batch)
    assert out.query_embed.shape == (2, 10, 32)
    assert out.class_logits.shape == (2, 10, 6)
    assert out.mask_logits.shape == (2, 10, 16, 24)


def test_embeddings_reproduce_logits_through_class_head(tiny_segmenter):
    seg = tiny_segmenter
    img = np.random.default_rng(1).integers(0, 256, (64, 64, 3), dtype=np.uint8)
    pix = seg.collate([seg.preprocess(img)[0]])
    out = seg.forward(pix)
    with torch.no_grad():
        ref = seg.model(pixel_values=pix).class_queries_logits
        again = seg.class_head(out.query_embed)
    torch.testing.assert_close(out.class_logits, ref, atol=1e-5, rtol=1e-5)
    torch.testing.assert_close(again, ref, atol=1e-5, rtol=1e-5)
    # the embedding is after the final LayerNorm: per-query mean ~ bias-free LN output stats
    raw = seg.model.model(pixel_values=pix).transformer_decoder_last_hidden_state
    assert not torch.allclose(raw, out.query_embed)


def test_preprocessing_matches_detectron2_input_at_native_size(tiny_segmenter):
    from PIL import Image

    ref = np.load(f"{REF}/outputs/img0_model_input_normalized_padded.npy")  # [3, 256, 320]
    img = np.asarray(Image.open(f"{REF}/images/img0.png").convert("RGB"))
    x, geo = tiny_segmenter.preprocess(img, resize=False)
    pix = tiny_segmenter.collate([x])[0]
    assert pix.shape == ref.shape
    np.testing.assert_allclose(pix.numpy(), ref, atol=1e-5)
    assert geo["resized_h"] == img.shape[0] and geo["padded_h"] == ref.shape[1]


def test_resize_rule_matches_detectron2():
    assert resized_size(480, 640, 800, 1333) == (800, 1067)
    assert resized_size(640, 480, 800, 1333) == (1067, 800)
    assert resized_size(300, 1200, 800, 1333) == (333, 1333)


def test_views_are_seeded_and_view0_is_plain(tiny_segmenter):
    v1 = sample_views(60, 80, 3, seed=5, image_id=7)
    v2 = sample_views(60, 80, 3, seed=5, image_id=7)
    assert v1 == v2 and v1[0] == View(0, False, 0, 0, 60, 80, 1.0)
    assert sample_views(60, 80, 3, seed=6, image_id=7) != v1
    img = np.random.default_rng(1).integers(0, 256, (60, 80, 3), dtype=np.uint8)
    x, geo = tiny_segmenter.preprocess(img, view=v1[1])
    assert geo["view"] == 1 and geo["crop_h"] == v1[1].crop_h and x.shape[1] == geo["resized_h"]


def test_not_a_segmenter_dir(tmp_path):
    with pytest.raises(ZsError, match="not found"):
        load_segmenter(tmp_path / "nope")
    (tmp_path / "empty").mkdir()
    with pytest.raises(ZsError, match="no config.json"):
        load_segmenter(tmp_path / "empty")


def test_bad_input_format(tiny_seg_dir, tmp_path):
    import shutil

    d = tmp_path / "seg"
    shutil.copytree(tiny_seg_dir, d)
    (d / "zs_segmenter.json").write_text(json.dumps({"input_format": "YUV"}))
    with pytest.raises(ZsError, match="input_format"):
        load_segmenter(d)
