"""The shipped models: present, small, loadable, over the default world's vocabulary."""

import json

import pytest
import torch

from zs.synth.assets import (
    default_clip_paths,
    default_segmenter_path,
    default_world_args,
)
from zs.synth.dataset import SynthConfig, write_synth
from zs.synth.world import build_world

torch.set_num_threads(1)


def _size(path):
    return sum(p.stat().st_size for p in path.rglob("*") if p.is_file())


def test_shipped_segmenter_loads_over_full_vocabulary():
    from zs.extract.segmenter import load_segmenter

    path = default_segmenter_path()
    assert _size(path) <= 10 * 2**20
    vocab = build_world().vocabulary
    seg = load_segmenter(path)
    assert seg.num_classes == vocab.num_classes and seg.label_names == vocab.names
    meta = json.loads((path / "zs_segmenter.json").read_text())
    assert meta["vocabulary"] == vocab.to_dict()
    assert set(default_world_args()) == {"seed", "train", "val", "size"}


def test_shipped_clip_loads_and_retrieves_captions(small_world):
    from zs.synth.clip_eval import clip_retrieval, load_tiny_clip

    config, weights = default_clip_paths()
    assert config.stat().st_size + weights.stat().st_size <= 6 * 2**20
    _, cfg = load_tiny_clip(config, weights)
    assert set(cfg) == {"embed_dim", "vision_cfg", "text_cfg"}
    res = clip_retrieval(config, weights, small_world)
    # attribute captions are retrieved far above chance (colour 1/4, class 1/21)
    assert res["seen"]["colour"] > 0.6 and res["unseen"]["colour"] > 0.6
    assert res["seen"]["class"] > 3 * res["chance_class"]


@pytest.fixture(scope="module")
def small_world(tmp_path_factory):
    return write_synth(tmp_path_factory.mktemp("q") / "w", SynthConfig(seed=5, train=3, val=12, size=64))


def test_quality_report_on_a_small_world(small_world):
    from zs.synth.quality import segmenter_quality

    res = segmenter_quality(default_segmenter_path(), small_world, limit=3)
    assert res["num_images"] == 3
    assert {"shape", "colour", "class"} <= set(res["seen_accuracy"])
    recall = res["mask_recall_iou>=0.50"]
    assert 0.0 <= recall["seen"]["accuracy"] <= 1.0 and recall["seen"]["n"] > 0
    assert res["pq"]["seen"] is not None


def test_clip_training_smoke_and_retrieval(small_world, tmp_path):
    from zs.synth.clip_eval import clip_retrieval
    from zs.synth.clip_train import ClipTrainConfig, train_clip

    config, weights = train_clip(small_world, tmp_path / "clip", ClipTrainConfig(steps=2, batch_size=8), device="cpu")
    res = clip_retrieval(config, weights, small_world, limit=10)
    assert res["num_crops"] == 10 and "class" in res["seen"]
    assert json.loads((tmp_path / "clip" / "manifest.json").read_text())["kind"] == "zs-synth-clip"
