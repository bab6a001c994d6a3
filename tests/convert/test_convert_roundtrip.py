"""Round trip: tiny random transformers Mask2Former -> detectron2-style checkpoint -> zs convert -> same model."""

from __future__ import annotations

import json
import pickle

import numpy as np
import pytest
import torch

from tests.convert.helpers import random_tiny_model, write_tiny_config


@pytest.fixture(scope="module")
def tiny():
    torch.set_num_threads(1)
    return random_tiny_model(seed=3)


def _assert_same_weights(a: dict, b: dict):
    assert set(a) == set(b)
    for k in a:
        if not k.endswith(("num_batches_tracked", "criterion.empty_weight")):
            assert torch.equal(a[k].float(), b[k].float()), k


def _save(d2_state, path, fmt):
    if fmt == "pth":
        torch.save({"model": d2_state, "iteration": 7}, path)
    elif fmt == "pth-bare":
        torch.save(d2_state, path)
    else:  # model-zoo style pickle of numpy arrays
        with open(path, "wb") as f:
            pickle.dump({"model": {k: v.numpy() for k, v in d2_state.items()}, "__author__": "zs-test"}, f)


@pytest.mark.parametrize("fmt", ["pth", "pth-bare", "pkl"])
def test_round_trip_through_detectron2_layout(tiny, tmp_path, fmt):
    from zs.extract.d2 import convert_checkpoint, to_detectron2_state_dict
    from zs.extract.segmenter import load_segmenter

    model, spec = tiny
    d2_state = to_detectron2_state_dict(model.state_dict())
    assert any(k.endswith("self_attn.in_proj_weight") for k in d2_state)  # packed q/k/v
    assert "backbone.res5.2.conv3.norm.running_var" in d2_state
    d2_state["criterion.empty_weight"] = torch.ones(spec.num_classes + 1)
    ckpt = tmp_path / f"model.{fmt.split('-')[0]}"
    _save(d2_state, ckpt, fmt)
    res = convert_checkpoint(write_tiny_config(tmp_path), ckpt, tmp_path / "out")
    seg = load_segmenter(res.out_dir)
    _assert_same_weights(model.state_dict(), seg.model.state_dict())
    x = torch.randn(1, 3, 64, 96, generator=torch.Generator().manual_seed(0))
    with torch.inference_mode():
        a, b = model(pixel_values=x), seg.model(pixel_values=x)
    assert torch.equal(a.class_queries_logits, b.class_queries_logits)
    assert torch.equal(a.masks_queries_logits, b.masks_queries_logits)


def test_older_checkpoint_names_without_pixel_decoder(tiny, tmp_path):
    from zs.extract.d2 import convert_state_dict, to_detectron2_state_dict

    model, spec = tiny
    old = {k.replace("sem_seg_head.pixel_decoder.", "sem_seg_head."): v
           for k, v in to_detectron2_state_dict(model.state_dict()).items()}
    hf_state, _ = convert_state_dict(old, spec)
    _assert_same_weights(model.state_dict(), hf_state)


def test_stride_in_1x1_and_bgr_checkpoints(tmp_path):
    """MSRA-style ResNets (stride in the 1x1 conv) and BGR input: recorded, not reordered."""
    from zs.extract.d2 import convert_checkpoint, to_detectron2_state_dict

    model, spec = random_tiny_model(seed=1, stride_in_1x1=True)
    assert model.config.backbone_config.downsample_in_bottleneck
    torch.save({"model": to_detectron2_state_dict(model.state_dict())}, tmp_path / "m.pth")
    cfg = write_tiny_config(tmp_path, stride_in_1x1=True, format="BGR")
    res = convert_checkpoint(cfg, tmp_path / "m.pth", tmp_path / "out")
    info = json.loads((res.out_dir / "zs_segmenter.json").read_text())
    pre = json.loads((res.out_dir / "preprocessor_config.json").read_text())
    assert info["input_format"] == "BGR"
    # the config's PIXEL_MEAN is in BGR order; files keep RGB order
    np.testing.assert_allclose(pre["image_mean"], [103.53 / 255, 116.28 / 255, 123.675 / 255])


def test_pading_checkpoint_exports_new_fc_head(tiny, tmp_path):
    from zs.extract.d2 import convert_checkpoint, to_detectron2_state_dict
    from zs.heads import load_head

    model, spec = tiny
    d2_state = to_detectron2_state_dict(model.state_dict())
    g = torch.Generator().manual_seed(5)
    d2_state["new_fc.weight"] = torch.randn(spec.num_classes + 1, spec.hidden_dim, generator=g)
    d2_state["new_fc.bias"] = torch.randn(spec.num_classes + 1, generator=g)
    d2_state["fc_projection.weight"] = torch.randn(spec.hidden_dim, 512, generator=g)  # generator side: ignored
    d2_state["dict_feature.weight"] = torch.randn(400, spec.hidden_dim, generator=g)
    torch.save({"model": d2_state}, tmp_path / "pading.pth")
    res = convert_checkpoint(write_tiny_config(tmp_path, meta="PADing"), tmp_path / "pading.pth", tmp_path / "out")
    head = load_head(res.head_dir)
    assert head.cfg.method == "pading-new_fc" and head.cfg.query_dim == spec.hidden_dim
    e = torch.randn(4, spec.hidden_dim, generator=g)
    expected = e @ d2_state["new_fc.weight"].t() + d2_state["new_fc.bias"]
    torch.testing.assert_close(head(e), expected)
    assert (res.head_dir / "manifest.json").is_file()
    manifest = json.loads((res.out_dir / "manifest.json").read_text())
    assert set(manifest["pading_keys"]) == {"new_fc.weight", "new_fc.bias", "fc_projection.weight",
                                            "dict_feature.weight"}
