import json

import numpy as np
import pytest
from PIL import Image
from pycocotools import mask as mask_utils

from zs.errors import ZsError
from zs.extract.datasets import CocoPanoptic
from zs.synth.dataset import SynthConfig, write_synth
from zs.synth.world import build_world
from zs.vocab import Vocabulary

CFG = SynthConfig(seed=3, train=10, val=8, size=48)


@pytest.fixture(scope="module")
def world_dir(tmp_path_factory):
    return write_synth(tmp_path_factory.mktemp("w") / "synth", CFG)


def _files(root):
    return {p.relative_to(root).as_posix(): p.read_bytes() for p in sorted(root.rglob("*"))
            if p.is_file() and p.name != "manifest.json"}


def test_same_seed_gives_byte_identical_output(world_dir, tmp_path):
    again = write_synth(tmp_path / "again", CFG)
    assert _files(world_dir) == _files(again)
    other = write_synth(tmp_path / "other", SynthConfig(seed=4, train=10, val=8, size=48))
    assert (other / "train" / "panoptic.json").read_bytes() != (world_dir / "train" / "panoptic.json").read_bytes()


def _check_split(root, split, vocab):
    ds = CocoPanoptic(root / split / "images", root / split / "panoptic.json", root / split / "panoptic")
    assert len(ds) == (CFG.train if split == "train" else CFG.val)
    cats = set()
    for i in range(len(ds)):
        s = ds[i]
        assert s.image.shape == (CFG.size, CFG.size, 3)
        ids_in_png = set(np.unique(s.segment_map).tolist())
        by_id = {seg["id"]: seg for seg in s.segments}
        assert ids_in_png == set(by_id), "every PNG id has a segments_info entry and vice versa"
        assert 0 not in ids_in_png  # no void: every pixel is stuff or a thing
        for sid, seg in by_id.items():
            m = s.segment_map == sid
            rle = mask_utils.encode(np.asfortranarray(m.astype(np.uint8)))
            assert seg["area"] == int(m.sum()) == int(mask_utils.area(rle))
            assert seg["bbox"] == [int(v) for v in mask_utils.toBbox(rle)]
            cats.add(seg["category_id"])
    return cats


def test_format_and_zero_shot_protocol(world_dir):
    vocab = Vocabulary.load(world_dir / "vocab.json")
    assert vocab == build_world().vocabulary
    unseen = {vocab.ids[i] for i in vocab.unseen_indices}
    train_cats = _check_split(world_dir, "train", vocab)
    val_cats = _check_split(world_dir, "val", vocab)
    assert not train_cats & unseen, "no unseen pixel in training images"
    assert val_cats & unseen, "validation shows unseen classes"
    doc = json.loads((world_dir / "val" / "panoptic.json").read_text())
    assert {c["id"] for c in doc["categories"]} == set(vocab.ids)
    assert all(c["isthing"] in (0, 1) for c in doc["categories"])
    sem = np.load(world_dir / "semantic.npy")
    assert sem.shape[0] == vocab.num_classes
    np.testing.assert_allclose(np.linalg.norm(sem, axis=1), 1.0, rtol=1e-5)
    world = json.loads((world_dir / "world.json").read_text())
    assert world["seed"] == CFG.seed and world["sizes"]["image"] == CFG.size
    assert json.loads((world_dir / "manifest.json").read_text())["kind"] == "synth-world"


def test_images_show_several_occluding_instances(world_dir):
    doc = json.loads((world_dir / "val" / "panoptic.json").read_text())
    things = [sum(1 for s in a["segments_info"] if s["category_id"] <= 12) for a in doc["annotations"]]
    assert max(things) >= 3 and min(things) >= 1
    png = np.asarray(Image.open(world_dir / "val" / "panoptic" / "000000.png"))
    assert png.dtype == np.uint8 and png.shape == (CFG.size, CFG.size, 3)


def test_bad_output_folder_and_sizes(tmp_path):
    (tmp_path / "busy").mkdir()
    (tmp_path / "busy" / "notes.txt").write_text("mine")
    with pytest.raises(ZsError, match="not a previous `zs synth` output"):
        write_synth(tmp_path / "busy", CFG)
    with pytest.raises(ZsError, match="--train 0"):
        write_synth(tmp_path / "x", SynthConfig(train=0))
    with pytest.raises(ZsError, match="--size 8"):
        write_synth(tmp_path / "x", SynthConfig(size=8))


def test_cli_synth(tmp_path):
    from tests.conftest import run_cli

    r = run_cli(["synth", "--out", tmp_path / "c", "--train", 2, "--val", 2, "--size", 32, "--no-progress"])
    assert r.exit_code == 0, r.output
    assert (tmp_path / "c" / "val" / "panoptic.json").is_file()
    r = run_cli(["synth", "--help"])
    assert r.exit_code == 0 and "--seed" in r.output


def test_cli_refuses_an_impossible_split(tmp_path):
    from tests.conftest import run_cli
    from zs.synth.world import DEFAULT_CLASSES

    classes = [{"name": n, "attributes": a, "seen": True} for n, a, _ in DEFAULT_CLASSES]
    (tmp_path / "c.json").write_text(json.dumps(classes))
    r = run_cli(["synth", "--out", tmp_path / "o", "--classes", tmp_path / "c.json", "--no-progress"])
    assert isinstance(r.exception, ZsError) and "no unseen class" in str(r.exception)
    classes[3]["seen"] = False  # red square unseen: red and square are still shown by two seen classes each
    (tmp_path / "c.json").write_text(json.dumps(classes))
    r = run_cli(["synth", "--out", tmp_path / "o", "--classes", tmp_path / "c.json", "--train", 2, "--val", 2,
                 "--no-progress"])
    assert r.exit_code == 0, r.output
    assert json.loads((tmp_path / "o" / "vocab.json").read_text())["categories"][3]["seen"] is False
