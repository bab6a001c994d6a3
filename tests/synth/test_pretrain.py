import dataclasses
import json

import pytest
import torch

from zs.errors import ZsError
from zs.synth.dataset import SynthConfig, write_synth
from zs.synth.pretrain import BACKBONE_FILE, PretrainConfig, build_backbone, load_backbone_into, pretrain_backbone
from zs.synth.segmenter_config import PRESETS
from zs.synth.train import train_segmenter

torch.set_num_threads(1)

MICRO = dataclasses.replace(
    PRESETS["tiny"],
    backbone_hidden_sizes=(8, 16, 32, 32), backbone_embedding_size=8, feature_size=32, mask_feature_size=32,
    hidden_dim=32, encoder_layers=1, encoder_feedforward_dim=32, decoder_layers=2, num_attention_heads=2,
    dim_feedforward=32, num_queries=8, train_num_points=256, image_size=32, max_size=32,
    steps=2, batch_size=2, warmup_steps=0, checkpoint_every=2, hflip=False,
)
TINY_PRE = PretrainConfig(images=12, crop_size=32, steps=30, batch_size=16, lr=3e-3)


@pytest.fixture(scope="module")
def pretrained(tmp_path_factory):
    out = tmp_path_factory.mktemp("bb")
    return out, pretrain_backbone(out, MICRO, TINY_PRE, seed=0, device="cpu")


def test_pretraining_learns_the_open_world_classes(pretrained):
    out, metrics = pretrained
    losses = [loss for _, loss in metrics["losses"]]
    assert losses[-1] < losses[0]  # the crop-classification loss falls
    assert len(metrics["classes"]) == 25  # every shape x colour (16) and pattern x direction (9)
    manifest = json.loads((out / "manifest.json").read_text())
    assert manifest["seed"] == 0 and manifest["config"]["steps"] == TINY_PRE.steps
    with pytest.raises(ZsError, match="already holds"):
        pretrain_backbone(out, MICRO, TINY_PRE, device="cpu")


def test_segmenter_starts_from_the_pretrained_backbone(pretrained, tmp_path):
    out, _ = pretrained
    state = torch.load(out / BACKBONE_FILE, weights_only=True)
    fresh = build_backbone(MICRO)
    assert any(not torch.equal(v, fresh.state_dict()[k]) for k, v in state.items())  # training changed it
    data = write_synth(tmp_path / "w", SynthConfig(seed=1, train=2, val=1, size=32))
    seg = train_segmenter(data, tmp_path / "seg", dataclasses.replace(MICRO, steps=1, lr=0.0), seed=0,
                          device="cpu", init_backbone=out / BACKBONE_FILE)
    from safetensors.torch import load_file

    weights = load_file(seg.out / "model.safetensors")
    prefix = "model.pixel_level_module.encoder."
    for k, v in state.items():  # lr 0: the saved segmenter's backbone is the pre-trained one
        if not k.endswith("num_batches_tracked") and "running_" not in k:
            assert torch.equal(weights[prefix + k], v), k
    manifest = json.loads((seg.out / "manifest.json").read_text())
    assert manifest["init_backbone"]["sha256"]


def test_a_backbone_of_another_config_is_refused(pretrained, tmp_path):
    out, _ = pretrained
    from transformers import Mask2FormerForUniversalSegmentation

    from zs.synth.segmenter_config import build_mask2former_config

    other = dataclasses.replace(MICRO, backbone_hidden_sizes=(8, 16, 32, 64))
    model = Mask2FormerForUniversalSegmentation(build_mask2former_config(other, ["a", "b"]))
    with pytest.raises(ZsError, match="does not fit"):
        load_backbone_into(model, out / BACKBONE_FILE)
    with pytest.raises(ZsError, match="no such file"):
        load_backbone_into(model, tmp_path / "missing.pt")


def test_cli_help_and_bad_input(tmp_path):
    from tests.conftest import run_cli

    r = run_cli(["pretrain-backbone", "--help"])
    assert r.exit_code == 0 and "ImageNet" in r.output
    assert "--init-backbone" in run_cli(["train-segmenter", "--help"]).output
    r = run_cli(["pretrain-backbone", "--out", tmp_path / "o", "--steps", "0"])
    assert r.exit_code != 0 and "must be >= 1" in r.output
