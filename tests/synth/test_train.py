import dataclasses
import json

import pytest
import torch
from safetensors.torch import load_file

from zs.errors import ConfigError, ZsError
from zs.synth.dataset import SynthConfig, write_synth
from zs.synth.segmenter_config import PRESETS, load_segmenter_config
from zs.synth.train import CHECKPOINT, train_segmenter

torch.set_num_threads(1)

MICRO = dataclasses.replace(
    PRESETS["tiny"],
    backbone_hidden_sizes=(8, 16, 32, 32), backbone_embedding_size=8, feature_size=32, mask_feature_size=32,
    hidden_dim=32, encoder_layers=1, encoder_feedforward_dim=32, decoder_layers=2, num_attention_heads=2,
    dim_feedforward=32, num_queries=8, train_num_points=256, image_size=32, max_size=32,
    steps=6, batch_size=4, warmup_steps=0, lr=1e-3, checkpoint_every=2, hflip=False,
)


@pytest.fixture(scope="module")
def data(tmp_path_factory):
    return write_synth(tmp_path_factory.mktemp("d") / "w", SynthConfig(seed=1, train=4, val=2, size=32))


def test_few_steps_reduce_the_loss(data, tmp_path):
    # the whole train split is one batch: the loss of that batch must drop
    cfg = dataclasses.replace(MICRO, steps=20, lr=3e-3)
    r = train_segmenter(data, tmp_path / "m", cfg, seed=0, device="cpu", log_every=1)
    first = sum(l for _, l in r.losses[:3]) / 3
    last = sum(l for _, l in r.losses[-3:]) / 3
    assert last < 0.9 * first, (first, last)


def test_resume_after_interruption_matches_uninterrupted(data, tmp_path):
    full = train_segmenter(data, tmp_path / "full", MICRO, seed=0, device="cpu", log_every=1)
    part = train_segmenter(data, tmp_path / "part", MICRO, seed=0, device="cpu", stop_after=3, log_every=1)
    assert part.steps == 3 and (tmp_path / "part" / CHECKPOINT).is_file()
    assert not (tmp_path / "part" / "model.safetensors").exists()
    with pytest.raises(ConfigError, match="different config"):
        train_segmenter(data, tmp_path / "part", dataclasses.replace(MICRO, lr=0.5), seed=0, device="cpu")
    rest = train_segmenter(data, tmp_path / "part", MICRO, seed=0, device="cpu", log_every=1)
    assert rest.steps == MICRO.steps and rest.losses == full.losses
    a, b = load_file(tmp_path / "full" / "model.safetensors"), load_file(tmp_path / "part" / "model.safetensors")
    assert all(torch.equal(a[k], b[k]) for k in a)
    assert not (tmp_path / "part" / CHECKPOINT).exists()
    with pytest.raises(ZsError, match="already holds a trained segmenter"):
        train_segmenter(data, tmp_path / "part", MICRO, seed=0, device="cpu")


def test_output_is_a_segmenter_directory_over_the_full_vocabulary(data, tmp_path):
    from zs.extract.segmenter import load_segmenter
    from zs.vocab import Vocabulary

    train_segmenter(data, tmp_path / "m", dataclasses.replace(MICRO, steps=1), seed=0, device="cpu")
    vocab = Vocabulary.load(data / "vocab.json")
    seg = load_segmenter(tmp_path / "m")
    assert seg.num_classes == vocab.num_classes and seg.num_queries == MICRO.num_queries
    assert seg.label_names == vocab.names
    meta = json.loads((tmp_path / "m" / "zs_segmenter.json").read_text())
    assert meta["vocabulary"] == vocab.to_dict()
    assert json.loads((tmp_path / "m" / "manifest.json").read_text())["kind"] == "zs-segmenter"


def test_bad_inputs(data, tmp_path):
    from zs.vocab import Vocabulary

    vocab = Vocabulary.load(data / "vocab.json")
    d = vocab.to_dict()
    for c in d["categories"]:
        c["seen"] = not c["isthing"]  # every thing unseen: every training image has an unseen segment
    Vocabulary.from_dict(d).save(tmp_path / "v.json")
    with pytest.raises(ZsError, match="no training image with seen-class segments"):
        train_segmenter(data, tmp_path / "m", MICRO, vocab_path=tmp_path / "v.json", device="cpu")
    with pytest.raises(ZsError, match="vocabulary not found"):
        train_segmenter(tmp_path, tmp_path / "m2", MICRO, device="cpu")
    with pytest.raises(ZsError, match="missing .*panoptic.json"):
        train_segmenter(data, tmp_path / "m3", MICRO, split="test", device="cpu")
    (tmp_path / "busy").mkdir()
    (tmp_path / "busy" / "x.txt").write_text("x")
    with pytest.raises(ZsError, match="holds no train-segmenter checkpoint"):
        train_segmenter(data, tmp_path / "busy", MICRO, device="cpu")
    with pytest.raises(ConfigError, match="not a preset"):
        load_segmenter_config("huge")
    (tmp_path / "c.json").write_text(json.dumps({"base": "tiny", "stepz": 3}))
    with pytest.raises(ConfigError, match="unknown field"):
        load_segmenter_config(str(tmp_path / "c.json"))
    (tmp_path / "c.yaml").write_text("steps: 7\nbackbone_depths: [1, 1, 1, 1]\n")
    assert load_segmenter_config(str(tmp_path / "c.yaml")).steps == 7


def test_cli_train_segmenter_help_and_error(data, tmp_path):
    from tests.conftest import run_cli

    r = run_cli(["train-segmenter", "--help"])
    assert r.exit_code == 0 and "--steps" in r.output and "--batch-size" in r.output
    r = run_cli(["train-segmenter", "--data", data, "--out", tmp_path / "o", "--config", "nope"])
    assert r.exit_code != 0 and isinstance(r.exception, ZsError)


def test_checkpoint_records_the_device_and_refuses_another(data, tmp_path):
    train_segmenter(data, tmp_path / "m", MICRO, seed=0, device="cpu", stop_after=1)
    path = tmp_path / "m" / CHECKPOINT
    ck = torch.load(path, weights_only=False)
    assert ck["device"] == "cpu" and set(ck["rng"]) == {"torch"}
    ck["device"] = "cuda:0"
    torch.save(ck, path)
    with pytest.raises(ConfigError, match="cannot resume on cpu, the checkpoint was written on cuda:0"):
        train_segmenter(data, tmp_path / "m", MICRO, seed=0, device="cpu")
