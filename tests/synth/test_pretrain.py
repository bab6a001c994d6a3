import dataclasses
import json

import pytest
import torch

from tests.synth.test_train import MICRO as TRAIN_MICRO
from zs.errors import ZsError
from zs.synth.dataset import SynthConfig, write_synth
from zs.synth.pretrain import BACKBONE_FILE, PretrainConfig, load_backbone_into, pretrain_backbone
from zs.synth.train import train_segmenter

torch.set_num_threads(1)

MICRO = dataclasses.replace(TRAIN_MICRO, steps=2, batch_size=2)
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
    assert metrics["held_out_accuracy"] > 2 / 25  # well above chance (1/25) after 30 steps
    manifest = json.loads((out / "manifest.json").read_text())
    assert manifest["seed"] == 0 and manifest["config"]["steps"] == TINY_PRE.steps
    with pytest.raises(ZsError, match="already holds"):
        pretrain_backbone(out, MICRO, TINY_PRE, device="cpu")


def test_too_few_crops_for_a_batch_is_a_clear_error(tmp_path):
    with pytest.raises(ZsError, match="--images 1: gives .* fewer than the batch size 64"):
        pretrain_backbone(tmp_path / "bb", MICRO, dataclasses.replace(TINY_PRE, images=1, batch_size=64),
                          device="cpu")


def test_backbone_learning_rate_multiplier_applies_to_a_pretrained_backbone_only(pretrained, tmp_path, monkeypatch):
    out, _ = pretrained
    data = write_synth(tmp_path / "w", SynthConfig(seed=1, train=2, val=1, size=32))
    seen = {}
    real_step = torch.optim.AdamW.step

    def spy(self, *a, **k):
        seen.setdefault(len(seen), [g["lr"] for g in self.param_groups])
        return real_step(self, *a, **k)

    monkeypatch.setattr(torch.optim.AdamW, "step", spy)
    cfg = dataclasses.replace(MICRO, steps=1, lr=1e-3, warmup_steps=0)
    train_segmenter(data, tmp_path / "pre", cfg, seed=0, device="cpu", init_backbone=out / BACKBONE_FILE)
    train_segmenter(data, tmp_path / "scratch", cfg, seed=0, device="cpu")
    assert seen[0] == pytest.approx([1e-4, 1e-3])  # backbone at 0.1 x lr after --init-backbone
    assert seen[1] == pytest.approx([1e-3, 1e-3])  # from scratch: full lr


def test_segmenter_starts_from_the_pretrained_backbone(pretrained, tmp_path):
    out, _ = pretrained
    state = torch.load(out / BACKBONE_FILE, weights_only=True)
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
    assert r.exit_code == 2 and "Invalid value for '--steps': 0 is not in the range x>=1" in r.output
