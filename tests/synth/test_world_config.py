"""World levers as data: configured worlds, the honesty rules, and the default world unchanged."""

import hashlib
import json

import numpy as np
import pytest

from zs.errors import ConfigError
from zs.synth.clip_train import open_world
from zs.synth.dataset import SynthConfig, load_world, write_synth
from zs.synth.world import DEFAULT_CLASSES, build_world, semantic_embeddings
from zs.synth.world_config import world_from_config

# sha256 over (relative path, bytes) of every file but manifest.json of
# write_synth(SynthConfig(seed=0, train=6, val=6, size=64)), recorded before the world became configurable.
DEFAULT_WORLD_SHA256 = "cd8e0fecfe8f63f5f3f2a7d3a0f1362cfd8732da4fe1bec99a30498bac74a3de"

GRID = {
    "things": {"shape": ["circle", "square", "ring"], "colour": ["red", "green", "orange"],
               "unseen": ["red circle", "green ring"], "absent": ["orange square"]},
    "stuff": {"pattern": ["stripes", "zigzag", "dots"], "direction": ["horizontal", "vertical", "diagonal"],
              "unseen": ["vertical stripes"]},
    "render": {"min_radius": 0.12, "max_things": 3},
    "semantic": {"dim": 32},
}


def _digest(root):
    h = hashlib.sha256()
    for p in sorted(root.rglob("*")):
        if p.is_file() and p.name != "manifest.json":
            h.update(p.relative_to(root).as_posix().encode())
            h.update(p.read_bytes())
    return h.hexdigest()


def test_default_world_is_byte_identical_to_the_recorded_one(tmp_path):
    out = write_synth(tmp_path / "w", SynthConfig(seed=0, train=6, val=6, size=64))
    assert _digest(out) == DEFAULT_WORLD_SHA256
    assert world_from_config({}).vocabulary == build_world().vocabulary  # an empty config is the default world
    assert [c.name for c in open_world().classes] == [c.name for c in open_world(build_world()).classes]
    assert len(open_world().classes) == 16 + 9


def test_grid_config_builds_named_classes_with_unseen_and_absent():
    w = world_from_config(GRID)
    names = [c.name for c in w.classes]
    assert names[:3] == ["red circle", "green circle", "orange circle"] and "orange square" not in names
    assert names[-4:] == ["diagonal zigzag", "horizontal dots", "vertical dots", "diagonal dots"]
    assert sorted(c.name for c in w.classes if not c.seen) == ["green ring", "red circle", "vertical stripes"]
    assert w.values["shape"] == ("circle", "square", "ring") and w.values["colour"] == ("red", "green", "orange")
    assert w.render == {"min_radius": 0.12, "max_things": 3} and w.semantic_dim == 32
    sem = semantic_embeddings(w, seed=0)
    assert sem.shape == (len(names), 32)
    assert len(open_world(w).classes) == 9 + 9  # every combination of the world's values


def test_bad_configs_are_refused():
    with pytest.raises(ConfigError, match="unknown key"):
        world_from_config({"thingz": {}})
    with pytest.raises(ConfigError, match="unseen names no class"):
        world_from_config({**GRID, "things": {**GRID["things"], "unseen": ["blue circle"]}})
    with pytest.raises(ConfigError, match="render has unknown field.*size"):
        world_from_config({**GRID, "render": {"size": 96}})
    with pytest.raises(ConfigError, match="is not one of"):
        world_from_config({**GRID, "things": {**GRID["things"], "shape": ["circle", "square", "hexagon"], "unseen": []}})
    # orange is worn only by 'orange circle' and 'orange ring' -> making one unseen leaves one seen class
    with pytest.raises(ConfigError, match="colour='orange' is shown by 1 seen class"):
        world_from_config({**GRID, "things": {**GRID["things"], "unseen": ["orange ring"]}})


def test_honesty_rule_refuses_a_value_on_one_seen_class():
    # 'red circle' unseen leaves circle on 'green circle' only (yellow circle is unseen too)
    classes = [(n, a, s and n != "red circle") for n, a, s in DEFAULT_CLASSES]
    with pytest.raises(ConfigError, match="shape='circle' is shown by 1 seen class"):
        build_world(classes)


def test_configured_world_renders_and_round_trips(tmp_path):
    from tests.conftest import run_cli

    (tmp_path / "w.json").write_text(json.dumps(GRID))
    r = run_cli(["synth", "--out", tmp_path / "o", "--world-config", tmp_path / "w.json", "--train", 3, "--val", 3,
                 "--size", 48, "--no-progress"])
    assert r.exit_code == 0, r.output
    w = load_world(tmp_path / "o")
    assert w.vocabulary == world_from_config(GRID).vocabulary and w.render == GRID["render"]
    doc = json.loads((tmp_path / "o" / "world.json").read_text())
    assert doc["render"]["min_radius"] == 0.12 and doc["render"]["size"] == 48
    train = json.loads((tmp_path / "o" / "train" / "panoptic.json").read_text())
    unseen = {c.id for c in w.classes if not c.seen}
    assert all(s["category_id"] not in unseen for a in train["annotations"] for s in a["segments_info"])
    assert all(sum(s["category_id"] <= 8 for s in a["segments_info"]) <= 3 for a in train["annotations"])
    assert np.load(tmp_path / "o" / "semantic.npy").shape == (len(w.classes), 32)
    r = run_cli(["synth", "--out", tmp_path / "p", "--world-config", tmp_path / "w.json", "--classes",
                 tmp_path / "w.json", "--no-progress"])
    assert r.exit_code != 0 and "give one of them" in str(r.exception)


def test_extra_shapes_and_patterns_render_distinct_masks():
    from zs.synth.render import shape_mask

    masks = {s: shape_mask(s, 32, 32, 12, 0.0, 64) for s in ("circle", "ring", "bar", "star", "semicircle", "cross")}
    areas = {s: int(m.sum()) for s, m in masks.items()}
    assert all(a > 40 for a in areas.values()), areas
    assert not masks["ring"][32, 32] and masks["circle"][32, 32]  # the ring has a hole
    for a in masks:
        for b in masks:
            if a < b:
                assert (masks[a] ^ masks[b]).sum() > 0.1 * min(areas[a], areas[b]), (a, b)


@pytest.mark.parametrize("name", ["world_A.json", "world_D.json", "world_E.json"])
def test_the_logged_candidate_worlds_are_honest(name):
    from pathlib import Path

    from zs.synth.world_config import read_world_config

    w = read_world_config(Path(__file__).resolve().parents[2] / "docs" / "synth_worlds" / name)
    unseen = len(w.vocabulary.unseen_indices)
    assert 1 / 7 <= unseen / len(w.classes) <= 1 / 5  # about one class in six is unseen
