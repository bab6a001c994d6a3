"""Fixture A (real detectron2 + Mask2Former outputs): the converted model reproduces them.

Intermediate checks (backbone, pixel decoder, per-layer predictions) come
first so that a mapping mistake is localised to the stage that breaks.
Tolerances are the fixture README's.
"""

from __future__ import annotations

import json

import numpy as np
import pytest
import torch

from tests.convert.helpers import ref

ATOL_LOGITS, ATOL_MASKS, ATOL_EMBED = 1e-3, 2e-3, 5e-4
ATOL_FEATURES = 1e-3  # intermediates: same order as the final outputs' tolerances


@pytest.fixture(scope="module")
def input0(fixture_a) -> torch.Tensor:
    return torch.from_numpy(ref(fixture_a, "img0_model_input_normalized_padded"))[None]  # [1, 3, Hp, Wp]


@pytest.fixture(scope="module")
def outputs0(segmenter_a, input0):
    with torch.inference_mode():
        return segmenter_a.model.model(pixel_values=input0, output_hidden_states=True)


def test_backbone_res2_to_res5(segmenter_a, input0, fixture_a):
    with torch.inference_mode():
        feats = segmenter_a.model.model.pixel_level_module.encoder(input0).feature_maps
    for level, f in zip(range(2, 6), feats):
        expected = ref(fixture_a, f"img0_backbone_res{level}")
        assert f[0].shape == expected.shape, level
        scale = np.abs(expected).max()
        np.testing.assert_allclose(f[0].numpy(), expected, atol=ATOL_FEATURES * max(1.0, scale), rtol=0,
                                   err_msg=f"res{level}")


def test_pixel_decoder_outputs(outputs0, fixture_a):
    np.testing.assert_allclose(outputs0.pixel_decoder_last_hidden_state[0].numpy(),
                               ref(fixture_a, "img0_pixel_decoder_mask_features"), atol=ATOL_FEATURES, rtol=0)
    for i, f in enumerate(outputs0.pixel_decoder_hidden_states):
        np.testing.assert_allclose(f[0].numpy(), ref(fixture_a, f"img0_pixel_decoder_multi_scale_{i}"),
                                   atol=ATOL_FEATURES, rtol=0, err_msg=f"multi-scale level {i}")


def test_per_layer_predictions(segmenter_a, outputs0, fixture_a):
    """aux outputs: learnable queries (layer 0) then each decoder layer but the last."""
    aux_logits, aux_masks = ref(fixture_a, "img0_aux_pred_logits"), ref(fixture_a, "img0_aux_pred_masks")
    states = outputs0.transformer_decoder_intermediate_states  # L+1 x [Q, 1, D] after the final LayerNorm
    with torch.inference_mode():
        for layer in range(aux_logits.shape[0]):
            logits = segmenter_a.model.class_predictor(states[layer].transpose(0, 1))[0]
            np.testing.assert_allclose(logits.numpy(), aux_logits[layer], atol=ATOL_LOGITS, rtol=0,
                                       err_msg=f"layer {layer} logits")
            np.testing.assert_allclose(outputs0.masks_queries_logits[layer][0].numpy(), aux_masks[layer],
                                       atol=ATOL_MASKS, rtol=0, err_msg=f"layer {layer} masks")


def test_preprocessing_reproduces_fixture_input(segmenter_a, fixture_a):
    from zs.evaluate.evaluation.segment import read_image

    pixels, geometry = segmenter_a.preprocess(read_image(fixture_a / "images" / "img0.png"), resize=False)
    batch = segmenter_a.collate([pixels])
    np.testing.assert_allclose(batch[0].numpy(), ref(fixture_a, "img0_model_input_normalized_padded"),
                               atol=1e-5, rtol=0)
    assert (geometry["padded_h"], geometry["padded_w"]) == (256, 320)


@pytest.fixture(scope="module")
def segmented(converted_a, fixture_a, tmp_path_factory):
    """`zs segment --no-resize` on both fixture images (through the CLI)."""
    from zs.cli import cli
    from click.testing import CliRunner

    out = {}
    for i in (0, 1):
        path = tmp_path_factory.mktemp("segment") / f"img{i}.npz"
        r = CliRunner().invoke(cli, ["segment", "--segmenter", str(converted_a), "--image",
                                     str(fixture_a / "images" / f"img{i}.png"), "--no-resize", "--out", str(path)])
        assert r.exit_code == 0, r.output + repr(r.exception)
        out[i] = dict(np.load(path))
    return out


@pytest.mark.parametrize("i", [0, 1])
def test_final_outputs_within_tolerance(segmented, fixture_a, i):
    z = segmented[i]
    assert z["class_logits"].dtype == np.float32 and z["mask_logits"].dtype == np.float32
    np.testing.assert_allclose(z["class_logits"], ref(fixture_a, f"img{i}_pred_logits"), atol=ATOL_LOGITS, rtol=0)
    np.testing.assert_allclose(z["mask_logits"], ref(fixture_a, f"img{i}_pred_masks"), atol=ATOL_MASKS, rtol=0)
    np.testing.assert_allclose(z["query_embed"], ref(fixture_a, f"img{i}_decoder_embedding"), atol=ATOL_EMBED,
                               rtol=0)


@pytest.mark.parametrize("i", [0, 1])
def test_panoptic_equals_detectron2(segmented, fixture_a, manifest_a, i):
    z = segmented[i]
    expected = manifest_a["images"][i]["segments_info"]
    ours = [{"id": int(s), "isthing": bool(t), "category_id": int(c)}
            for s, c, t in zip(z["segment_ids"], z["segment_classes"], z["segment_isthing"])]
    assert ours == expected
    same = (z["panoptic_seg"] == ref(fixture_a, f"img{i}_panoptic_seg")).mean()
    assert same >= 0.999, same


@pytest.mark.parametrize("i", [0, 1])
def test_semantic_argmax_equals_detectron2(segmented, fixture_a, i):
    from zs.evaluate.evaluation.inference import semantic_inference

    z = segmented[i]
    mask = torch.nn.functional.interpolate(torch.from_numpy(z["mask_logits"])[None], size=(256, 320),
                                           mode="bilinear", align_corners=False)[0].sigmoid()
    sem = semantic_inference(torch.from_numpy(z["class_logits"]).softmax(-1), mask)  # [K, H, W]
    same = (sem.argmax(0).numpy() == ref(fixture_a, f"img{i}_sem_seg_argmax")).mean()
    assert same >= 0.999, same


def test_segmenter_directory_contents(converted_a):
    pre = json.loads((converted_a / "preprocessor_config.json").read_text())
    np.testing.assert_allclose(pre["image_mean"], [123.675 / 255, 116.28 / 255, 103.53 / 255])
    np.testing.assert_allclose(pre["image_std"], [58.395 / 255, 57.12 / 255, 57.375 / 255])
    assert pre["size"] == {"shortest_edge": 800, "longest_edge": 1333} and pre["size_divisor"] == 32
    info = json.loads((converted_a / "zs_segmenter.json").read_text())
    assert info["input_format"] == "RGB" and info["label_names"][0] == "person" and len(info["isthing"]) == 133
    assert sum(info["isthing"]) == 80
    manifest = json.loads((converted_a / "manifest.json").read_text())
    assert manifest["inputs"]["checkpoint"]["sha256"].startswith("62f3ebb5")
    assert manifest["ignored_keys"] == ["criterion.empty_weight"]
    assert (converted_a / "model.safetensors").is_file() and not (converted_a / "pading_head").exists()


def test_mapping_is_a_bijection_on_fixture_a(segmenter_a, fixture_a):
    """hf -> d2 names reproduce every weight of the checkpoint exactly (and nothing else)."""
    from zs.extract.d2 import load_d2_checkpoint, to_detectron2_state_dict

    original = load_d2_checkpoint(fixture_a / "model_final.pth")
    back = to_detectron2_state_dict(segmenter_a.model.state_dict())
    assert set(back) == set(original) - {"criterion.empty_weight"}
    for name, tensor in back.items():
        assert torch.equal(tensor, original[name]), name
