"""Vocabulary identity is what the classes mean: train and val JSONs of one dataset share a store."""

import json
import shutil

import pytest

from tests.conftest import run_cli
from zs.cli import main
from zs.extract.job import ExtractConfig
from zs.extract.run import run
from zs.store import open_store
from zs.vocab import Vocabulary


def _copy_as(tiny_coco, dest, stem, edit=None):
    """The tiny COCO set under ``dest`` with its JSON named ``stem``.json (categories edited by ``edit``)."""
    images, json_path, png = tiny_coco
    data = json.loads(json_path.read_text())
    if edit:
        edit(data["categories"])
    dest.mkdir(parents=True)
    out = dest / f"{stem}.json"
    out.write_text(json.dumps(data))
    return dict(images=str(images), json=str(out), png=str(png))


def _error_line(args, capsys) -> str:
    """Run the zs entry point; it must exit 2 with exactly one 'error: ...' line."""
    capsys.readouterr()
    with pytest.raises(SystemExit) as ei:
        main([str(a) for a in args])
    err = capsys.readouterr().err.strip().splitlines()
    assert ei.value.code == 2 and len(err) == 1 and err[0].startswith("error: "), err
    return err[0]


def _cfg(paths, seg_dir, store, split, **kw):
    return ExtractConfig(split=split, store=str(store), segmenter=str(seg_dir), num_points=200, batch_size=2,
                         chunk_images=2, workers=1, limit=2, progress=False, **paths, **kw)


def test_train_and_val_from_their_own_jsons_share_a_store(tiny_coco, tiny_seg_dir, tmp_path):
    train = _copy_as(tiny_coco, tmp_path / "train", "panoptic_train2017_seen")
    val = _copy_as(tiny_coco, tmp_path / "val", "panoptic_val2017")
    run(_cfg(train, tiny_seg_dir, tmp_path / "s", "train"))
    run(_cfg(val, tiny_seg_dir, tmp_path / "s", "val"))
    st = open_store(tmp_path / "s")
    assert sorted(st.splits) == ["train", "val"]
    # the name is a label, not part of the identity
    renamed = Vocabulary("something-else", st.vocab.categories)
    assert renamed.sha256 == st.vocab.sha256 == st.manifest["vocab_sha256"]


def _rename_box(cats):
    cats[1]["name"] = "crate"  # id 2 renamed


def test_val_json_with_other_categories_is_refused_naming_file_and_classes(tiny_coco, tiny_seg_dir, tmp_path,
                                                                           capsys):
    train = _copy_as(tiny_coco, tmp_path / "train", "panoptic_train2017")
    val = _copy_as(tiny_coco, tmp_path / "val", "panoptic_val2017", edit=_rename_box)
    run(_cfg(train, tiny_seg_dir, tmp_path / "s", "train"))
    manifest = (tmp_path / "s" / "manifest.json").read_bytes()
    line = _error_line(["extract", "--split", "val", "--store", tmp_path / "s", "--segmenter", tiny_seg_dir,
                        "--images", val["images"], "--json", val["json"], "--png", val["png"], "--no-clip",
                        "--limit", 2, "--num-points", 200, "--no-progress"], capsys)
    assert val["json"] in line and "vocabulary differs" in line
    assert "id 2: 'crate' in " in line and "'box' in the store" in line
    # nothing written: manifest unchanged, train split intact, no val split
    assert (tmp_path / "s" / "manifest.json").read_bytes() == manifest
    st = open_store(tmp_path / "s")
    assert st.splits == ["train"] and len(st.split("train").images()) == 2


def test_seen_unseen_difference_is_named(tiny_coco, tiny_seg_dir, tmp_path):
    from zs.errors import ProvenanceError

    paths = _copy_as(tiny_coco, tmp_path / "d", "panoptic")
    run(_cfg(paths, tiny_seg_dir, tmp_path / "s", "train"))
    (tmp_path / "unseen.txt").write_text("sky\n")
    with pytest.raises(ProvenanceError, match=r"id 7 'sky': unseen in .*, seen in the store"):
        run(_cfg(paths, tiny_seg_dir, tmp_path / "s", "val", unseen=str(tmp_path / "unseen.txt")))


def test_store_recorded_with_the_older_named_identity_keeps_working(tiny_coco, tiny_seg_dir, tmp_path):
    """A manifest whose vocab_sha256 hashed the name too (older zs) is accepted and keeps that hash."""
    paths = _copy_as(tiny_coco, tmp_path / "d", "panoptic_train2017_seen")
    run(_cfg(paths, tiny_seg_dir, tmp_path / "s", "train"))
    mpath = tmp_path / "s" / "manifest.json"
    m = json.loads(mpath.read_text())
    m["vocabulary"]["name"] = "panoptic_train2017_seen"
    old = Vocabulary.from_dict(m["vocabulary"]).named_sha256
    assert old != Vocabulary.from_dict(m["vocabulary"]).sha256
    m["vocab_sha256"] = old
    mpath.write_text(json.dumps(m, indent=2) + "\n")
    st = open_store(tmp_path / "s")
    assert st.vocab.sha256 == old  # heads/generators made from this store recorded this hash
    assert run_cli(["store", "verify", tmp_path / "s"]).exit_code == 0
    shutil.copytree(tmp_path / "d", tmp_path / "v")
    (tmp_path / "v" / "panoptic_train2017_seen.json").rename(tmp_path / "v" / "panoptic_val2017.json")
    run(_cfg({**paths, "json": str(tmp_path / "v" / "panoptic_val2017.json")}, tiny_seg_dir, tmp_path / "s", "val"))
    st = open_store(tmp_path / "s")
    assert sorted(st.splits) == ["train", "val"] and st.manifest["vocab_sha256"] == old


def test_segmenter_class_count_differing_from_vocabulary_names_both(tiny_coco, tmp_path, capsys):
    from toyworld.extract_inputs import tiny_segmenter_dir

    paths = _copy_as(tiny_coco, tmp_path / "d", "panoptic")
    seg7 = tiny_segmenter_dir(tmp_path / "seg7", 7, seed=1)
    line = _error_line(["extract", "--split", "train", "--store", tmp_path / "s", "--segmenter", seg7, "--images",
                        paths["images"], "--json", paths["json"], "--png", paths["png"], "--no-clip",
                        "--no-progress"], capsys)
    assert str(seg7) in line and paths["json"] in line
    assert "predicts 7 classes" in line and "has 5" in line
    assert not (tmp_path / "s").exists()


@pytest.mark.parametrize("what", ["random-bytes", "detectron2-checkpoint", "partial-state-dict"])
def test_clip_weights_that_are_not_an_open_clip_checkpoint(tiny_coco, tiny_seg_dir, tiny_clip_paths, tmp_path,
                                                           capsys, what):
    import os

    import torch

    paths = _copy_as(tiny_coco, tmp_path / "d", "panoptic")
    run(_cfg(paths, tiny_seg_dir, tmp_path / "s", "train"))
    before = {p: p.read_bytes() for p in (tmp_path / "s").rglob("*") if p.is_file()}
    bad = tmp_path / "bad.pt"
    if what == "random-bytes":
        bad.write_bytes(os.urandom(4096))
        needle = "not an open_clip checkpoint (neither a torch state dict nor a TorchScript archive"
    elif what == "detectron2-checkpoint":
        torch.save({"model": {"backbone.stem.conv1.weight": torch.zeros(2, 3, 1, 1)}}, bad)
        needle = "not an open_clip checkpoint (no flat state dict of tensors; top-level keys: model)"
    else:
        sd = torch.load(tiny_clip_paths[1])
        sd.pop("text_projection")
        sd["visual.proj"] = torch.zeros(3, 3)
        torch.save(sd, bad)
        needle = "missing keys (1): text_projection | shape mismatches (1): visual.proj (3, 3) != (32, 32)"
    line = _error_line(["extract", "--split", "val", "--store", tmp_path / "s", "--segmenter", tiny_seg_dir,
                        "--images", paths["images"], "--json", paths["json"], "--png", paths["png"],
                        "--clip-model", tiny_clip_paths[0], "--clip-weights", bad, "--no-progress"], capsys)
    assert f"--clip-weights {bad}" in line and needle in line, line
    after = {p: p.read_bytes() for p in (tmp_path / "s").rglob("*") if p.is_file()}
    assert after == before  # nothing in the store touched
