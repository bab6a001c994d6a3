"""COCO rehearsal: the documented panoptic commands on a small dataset in COCO's own layout.

Data: ``coco_layout.write_coco_layout`` (real 133 categories, mixed sizes, crowd segments,
train images with unseen classes, the two real COCO val images). Checkpoint: the detectron2
Mask2Former of ``reference/d2-mask2former/A`` (133 classes, random weights made with
detectron2), through a config whose ``_BASE_`` is its own and which only lowers the test
size (800 -> 320) to keep the test short. CLIP: a tiny random open_clip model in a weights
file. Commands: ``docs/coco.md``'s, with paths and iteration counts changed.
"""

import json
import os
from pathlib import Path

import numpy as np
import pytest

from tests.pipelines.coco_layout import TRAIN_IMAGES, UNSEEN_IN_TRAIN, write_coco_layout
from tests.pipelines.doc_commands import doc_commands, run_in
from zs.vocab import PADING_UNSEEN_IDS

METHODS = ["seen-only", "projection", "gmmn", "primitive", "pading", "semantic-centric"]
REAL_IDS = {142238, 439180}
TOL_PQ = 0.001  # cached vs full image, as tests/evaluate/test_agreement.py and the demo test



def _small_checkpoint(ckpt: Path, fixture_a: Path) -> Path:
    """config.yaml (fixture A's config as _BASE_, test size 320) beside fixture A's model_final.pth."""
    ckpt.mkdir()
    (ckpt / "config.yaml").write_text(f"_BASE_: {fixture_a / 'config.yaml'}\n"
                                      f"INPUT:\n  MIN_SIZE_TEST: 320\n  MAX_SIZE_TEST: 533\n")
    os.symlink(fixture_a / "model_final.pth", ckpt / "model_final.pth")
    return ckpt


@pytest.fixture(scope="module")
def rehearsal(tmp_path_factory, reference_dir):
    from toyworld.extract_inputs import tiny_clip

    root = tmp_path_factory.mktemp("rehearsal")
    coco = write_coco_layout(root / "coco", reference_dir / "coco-real")
    ckpt = _small_checkpoint(root / "ckpt", reference_dir / "d2-mask2former" / "A")
    clip_cfg, clip_weights = tiny_clip(root / "clip", seed=0)
    commands = doc_commands("coco-panoptic", {"COCO": coco, "CKPT": ckpt, "CLIP": clip_weights},
                            {"clip_model": clip_cfg, "gen_iterations": 20, "head_steps": 20})
    assert [c[:2] for c in commands] == [["split", "coco-panoptic"], ["run", "coco-pading"]]
    run_in(root, commands)
    return {"coco": coco, "out": root / "runs" / "coco-pading"}


def _stages(out: Path, stage_type: str) -> dict:
    found = {}
    for p in (out / "stages").glob("*/*/stage.json"):
        s = json.loads(p.read_text())
        if s["stage_type"] == stage_type:
            found[s["stage"]] = s
    return found


def _store(out: Path):
    from zs.store import open_store

    (store,) = _stages(out, "extract").values()
    return open_store(store["result"]["store"])


@pytest.mark.slow
def test_split_drops_images_with_unseen_classes(rehearsal):
    seen = json.loads((rehearsal["coco"] / "annotations" / "panoptic_train2017_seen.json").read_text())
    kept = {im["id"] for im in seen["images"]}
    assert kept == {k + 1 for k in range(len(TRAIN_IMAGES)) if k not in UNSEEN_IN_TRAIN}
    assert len(seen["categories"]) == 133


@pytest.mark.slow
def test_store_has_the_coco_vocabulary_and_no_unseen_match_in_train(rehearsal):
    st = _store(rehearsal["out"])
    assert sorted(st.splits) == ["train", "val"]
    assert st.vocab.num_classes == 133 and len(st.vocab.unseen_indices) == 14
    assert {st.vocab.categories[i].id for i in st.vocab.unseen_indices} == set(PADING_UNSEEN_IDS)
    train = st.split("train")
    assert set(train.images()["image_id"]) == {1, 2, 5}
    assert train.images()["view"].nunique() == 5  # the spec's 5 views per image
    q = train.queries()
    matched = q[q["segment"] >= 0]
    assert len(matched) > 0 and matched["seen"].all()
    assert not set(matched["category_id"]) & set(PADING_UNSEEN_IDS)


@pytest.mark.slow
def test_every_method_has_its_run_and_the_report(rehearsal):
    out = rehearsal["out"]
    evals = _stages(out, "evaluate")
    methods = {s["variant"]["vars"]["method"]: s for s in evals.values() if s["variant"]}
    assert sorted(methods) == sorted(METHODS)
    for m, s in methods.items():
        run = Path(s["result"]["run"])
        assert (run / "metrics.json").is_file() and (run / "report.html").is_file(), m
    summary = (out / "summary.txt").read_text()
    assert all(m in summary for m in METHODS) and "full-image" in summary
    assert (out / "report" / "report.html").is_file()
    generators = {s["variant"]["vars"]["method"] for s in _stages(out, "diagnose").values()}
    assert generators == {"gmmn", "primitive", "pading", "semantic-centric"}
    gens = {s["variant"]["vars"]["method"]: s for s in _stages(out, "fit-generator").values()}
    pading = json.loads((Path(gens["pading"]["result"]["generator"]) / "manifest.json").read_text())
    assert pading["config"]["preset"] == "pading-panoptic"  # the spec's preset reaches the generator
    assert pading["config"]["lr_schedule"] == "multistep" and pading["config"]["num_choose"] == 5


def _metrics(stage: dict) -> dict:
    return json.loads((Path(stage["result"]["run"]) / "metrics.json").read_text())


@pytest.mark.slow
def test_full_image_and_cached_evaluation_of_the_picked_head_agree(rehearsal):
    out = rehearsal["out"]
    evals = _stages(out, "evaluate")
    (full_stage,) = [s for s in evals.values() if not s["variant"]]
    cached_stage = next(s for s in evals.values() if s["variant"]
                        and s["result"]["head"] == full_stage["result"]["head"])
    full, cached = _metrics(full_stage), _metrics(cached_stage)
    assert full["provenance"]["mode"] == "full-image" and cached["provenance"]["mode"] == "cached"
    assert full["provenance"]["num_images"] == cached["provenance"]["num_images"] == 4
    assert abs(full["panoptic"]["all"]["pq"] - cached["panoptic"]["all"]["pq"]) <= TOL_PQ
    # the random checkpoint predicts segments (all wrong): compare what was predicted, class by class
    counts = {name: {c: (v["tp"], v["fp"], v["fn"]) for c, v in m["panoptic"]["per_class"].items() if v["counted"]}
              for name, m in (("full", full), ("cached", cached))}
    assert sum(fp for _, fp, _ in counts["full"].values()) > 0
    assert counts["full"] == counts["cached"]
    area_full = np.array([v["pos_pred"] for v in full["semantic"]["per_class"].values()], float)
    area_cached = np.array([v["pos_pred"] for v in cached["semantic"]["per_class"].values()], float)
    assert area_full.sum() > 0
    assert np.abs(area_full - area_cached).sum() / area_full.sum() <= 0.002  # >= 99.8 % same pixels


@pytest.mark.slow
def test_real_coco_images_extract_and_evaluate_like_the_generated_ones(rehearsal):
    st = _store(rehearsal["out"])
    val = st.split("val")
    images = val.images()
    assert REAL_IDS < set(images["image_id"]) and len(images) == 4
    rows = dict(zip(images["image_id"], images["row"]))
    q, segs = val.queries(), val.segments()
    for image_id in sorted(set(images["image_id"])):
        row = rows[image_id]
        assert (q[(q["row"] == row)]["segment"] >= 0).any(), image_id  # queries matched to its segments
        mine = segs[segs["row"] == row]
        assert len(mine) > 0
        assert val.clip_segment(mine["seg_row"].to_numpy()).shape[0] == len(mine)
    real_segs = segs[segs["row"].isin([rows[i] for i in REAL_IDS])]
    assert real_segs["iscrowd"].astype(bool).any()  # the real GT's crowd segments are kept as segments
    assert {184, 187, 193} <= set(real_segs["category_id"])  # unseen classes of the real images
    assert val.has_masks and np.isfinite(val.query_embed(slice(0, 4))).all()
    evals = _stages(rehearsal["out"], "evaluate")
    for s in evals.values():  # every evaluation (cached per method, full image) counted the real GT
        per_class = _metrics(s)["panoptic"]["per_class"]
        assert all(per_class[str(c)]["counted"] and per_class[str(c)]["fn"] + per_class[str(c)]["tp"] > 0
                   for c in (184, 187, 193)), s["stage"]
        report = Path(s["result"]["run"]) / "report.md"
        assert "sky-other-merged" in report.read_text(), s["stage"]
