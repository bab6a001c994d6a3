"""zs synth-criteria: the world-selection figures are computed, and pass / fail where they should."""

import dataclasses
import json

import numpy as np
import pytest
import torch

from tests.synth.test_train import MICRO
from zs.synth import criteria as C
from zs.synth.dataset import SynthConfig, write_synth
from zs.synth.honesty import honesty_checks, text_source_check
from zs.synth.train import train_segmenter
from zs.synth.world_config import world_from_config

torch.set_num_threads(1)

WORLD = {
    "things": {"shape": ["circle", "square", "ring"], "colour": ["red", "green", "orange"],
               "unseen": ["red circle", "green ring"]},
    "stuff": {"pattern": ["stripes", "dots", "waves"], "direction": ["horizontal", "vertical", "diagonal"],
              "unseen": ["vertical stripes"]},
}


@pytest.fixture(scope="module")
def world(tmp_path_factory):
    root = tmp_path_factory.mktemp("crit")
    data = write_synth(root / "w", SynthConfig(seed=2, train=4, val=8, size=64), world_from_config(WORLD))
    train_segmenter(data, root / "seg", dataclasses.replace(MICRO, steps=2, image_size=64, max_size=64), seed=0, device="cpu")
    return data, root / "seg"


def test_all_figures_are_computed_and_an_untrained_segmenter_fails(world, tmp_path):
    from tests.conftest import run_cli

    data, seg = world
    r = run_cli(["synth-criteria", "--data", data, "--segmenter", seg, "--text", "semantic", "--out",
                 tmp_path / "c.json", "--no-progress"])
    assert r.exit_code == 0, r.output
    res = json.loads((tmp_path / "c.json").read_text())
    crit = res["criteria"]
    assert set(crit) == {"1_transfer_premise", "2_seen_segmenter", "3_honest_zero_shot", "4_size"}
    assert 0 <= crit["1_transfer_premise"]["probe"] <= 1 and 0 <= crit["1_transfer_premise"]["oracle"] <= 1
    assert set(crit["2_seen_segmenter"]["attributes"]) == {"shape", "colour", "pattern", "direction"}
    assert crit["2_seen_segmenter"]["attributes"]["shape"]["chance"] == pytest.approx(1 / 3)
    assert crit["2_seen_segmenter"]["attributes"]["pattern"]["chance"] == pytest.approx(1 / 3)
    assert not crit["2_seen_segmenter"]["pass"]  # two training steps make no segmenter
    assert crit["3_honest_zero_shot"]["pass"] and crit["4_size"]["pass"]
    assert res["pass"] is False and "all criteria: FAIL" in r.output
    assert res["world"]["unseen"] == 3
    r = run_cli(["synth-criteria", "--data", data, "--text", "semantic", "--no-progress"])  # shipped: other world
    assert r.exit_code != 0 and "are not the" in str(r.exception)
    r = run_cli(["synth-quality", "--data", data, "--out", tmp_path / "q.json", "--no-progress"])  # the same check
    assert r.exit_code != 0 and "are not the" in str(r.exception) and not (tmp_path / "q.json").exists()


def test_probe_passes_with_text_that_predicts_centres_and_fails_with_noise(world):
    data, seg = world
    real, labels, vocab = C.matched_queries(data, seg)
    centres = np.stack([real[labels == k].mean(0) if (labels == k).any() else np.zeros(real.shape[1])
                        for k in range(vocab.num_classes)])  # text = the real class centres: a perfect map exists
    good = C.transfer_verdict(C.probe_figures(real, labels, vocab, centres))
    assert good["probe"] == pytest.approx(good["oracle"], abs=0.05)
    noise = np.random.default_rng(0).standard_normal((vocab.num_classes, 16))
    bad = C.probe_figures(real, labels, vocab, noise)
    assert C.transfer_verdict({**bad, "text_ridge_acc_with_seen": 0.2, "oracle_acc_with_seen": 0.3})["pass"] is False
    assert C.transfer_verdict({**bad, "text_ridge_acc_with_seen": 0.3, "oracle_acc_with_seen": 0.7})["pass"] is False
    assert C.transfer_verdict({**bad, "text_ridge_acc_with_seen": 0.3, "oracle_acc_with_seen": 0.6})["pass"] is True


def test_segmenter_and_size_verdicts_on_constructed_figures(tmp_path):
    acc = {k: {"accuracy": 0.9} for k in C.ATTRIBUTES}
    q = {"pq": {"seen": {"pq": 0.46}}, "mask_recall_iou>=0.50": {"unseen": {"accuracy": 0.81}},
         "seen_accuracy": acc, "chance": {"shape": 1 / 6, "colour": 1 / 6, "pattern": 1 / 4, "direction": 1 / 3}}
    assert C.segmenter_verdict(q)["pass"]
    assert not C.segmenter_verdict({**q, "pq": {"seen": {"pq": 0.44}}})["pass"]
    assert not C.segmenter_verdict({**q, "mask_recall_iou>=0.50": {"unseen": {"accuracy": 0.79}}})["pass"]
    low = {**acc, "direction": {"accuracy": 0.6}}  # chance 1/3: needs 2/3
    v = C.segmenter_verdict({**q, "seen_accuracy": low})
    assert not v["pass"] and not v["attributes"]["direction"]["pass"] and v["attributes"]["shape"]["pass"]
    (tmp_path / "big.bin").write_bytes(b"\0" * 1000)
    assert C.size_verdict([tmp_path], {**C.THRESHOLDS, "assets_max_bytes": 999})["pass"] is False
    assert C.size_verdict([tmp_path / "big.bin"])["pass"] is True


def test_honesty_checks_catch_an_unseen_pixel_in_training_and_foreign_text(world, tmp_path):
    import shutil

    data, _ = world
    assert all(c["pass"] for c in honesty_checks(data, "semantic").values())
    bad = tmp_path / "bad"
    shutil.copytree(data, bad)
    doc = json.loads((bad / "train" / "panoptic.json").read_text())
    doc["annotations"][0]["segments_info"][-1]["category_id"] = 1  # 'red circle' is unseen
    (bad / "train" / "panoptic.json").write_text(json.dumps(doc))
    res = honesty_checks(bad, "semantic")
    assert not res["train_has_no_unseen_pixel"]["pass"]
    assert res["train_has_no_unseen_pixel"]["images_with_unseen_or_unlisted_pixels"] == 1
    (tmp_path / "clip").mkdir()
    (tmp_path / "clip" / "manifest.json").write_text(json.dumps({"kind": "zs-segmenter"}))
    assert not text_source_check("clip", tmp_path / "clip")["pass"]
    assert not text_source_check("segmenter-features")["pass"]
