"""PADing's protocol class lists and the converters of `zs prepare` (COCO-Stuff label maps, COCO instances)."""

import json

import numpy as np

from tests.conftest import run_cli
from tests.pipelines.coco_layout import write_instances, write_stuff_label_maps
from zs.extract.datasets import CocoPanoptic
from zs.extract.protocols import coco_stuff_171, coco_zsi_48_17
from zs.vocab import Vocabulary


def test_protocol_class_lists():
    stuff = coco_stuff_171()
    assert stuff.num_classes == 171 and len(stuff.unseen_indices) == 15
    assert stuff.unseen_indices == list(range(156, 171))  # PADing: seen first, then unseen
    assert [stuff.names[i] for i in stuff.unseen_indices] == [
        "cow", "giraffe", "suitcase", "frisbee", "skateboard", "carrot", "scissors", "cardboard", "clouds", "grass",
        "playingfield", "river", "road", "tree", "wall-concrete"]
    assert sum(c.isthing for c in stuff.categories) == 80 and stuff.ids[:3] == [1, 2, 3] and stuff.ids[155] == 182
    zsi = coco_zsi_48_17()
    assert zsi.num_classes == 65 and zsi.unseen_indices == list(range(48, 65))
    assert zsi.names[39:48] == ["train", "bear", "suitcase", "frisbee", "fork", "sandwich", "toilet", "mouse",
                                "toaster"]
    assert [zsi.names[i] for i in zsi.unseen_indices][:3] == ["bus", "dog", "cow"] and len(set(zsi.ids)) == 65


def test_prepare_coco_stuff_writes_panoptic_ground_truth(tmp_path):
    write_stuff_label_maps(tmp_path / "img", tmp_path / "lab", [[0, 95, 160], [3, 170]])
    r = run_cli(["prepare", "coco-stuff", "--images", tmp_path / "img", "--labels", tmp_path / "lab",
                 "--out", tmp_path / "out", "--no-progress"])
    assert r.exit_code == 0, r.output
    vocab = Vocabulary.load(tmp_path / "out" / "vocab.json")
    assert vocab == coco_stuff_171()
    ds = CocoPanoptic(tmp_path / "img", tmp_path / "out" / "panoptic.json", tmp_path / "out" / "panoptic")
    s = ds[0]
    assert [seg["category_id"] for seg in s.segments] == [vocab.ids[0], vocab.ids[95], vocab.ids[160]]
    assert vocab.names[160] == "skateboard" and s.image_id == 1
    band = s.segment_map[s.segment_map > 0]
    assert set(np.unique(band)) == {1, 96, 161} and (s.segment_map == 0).any()  # ignore rows are void
    assert [seg["category_id"] for seg in ds[1].segments] == [vocab.ids[3], vocab.ids[170]]


def test_prepare_coco_stuff_refuses_labels_outside_the_171(tmp_path, capsys):
    import pytest

    from zs.cli import main

    write_stuff_label_maps(tmp_path / "img", tmp_path / "lab", [[0, 200]])
    with pytest.raises(SystemExit) as ei:
        main(["prepare", "coco-stuff", "--images", str(tmp_path / "img"), "--labels", str(tmp_path / "lab"),
              "--out", str(tmp_path / "out"), "--no-progress"])
    err = capsys.readouterr().err.strip().splitlines()
    assert ei.value.code == 2 and len(err) == 1 and "label 200 outside 0..170" in err[0]


def test_prepare_coco_zsi_paints_instances_smaller_on_top(tmp_path):
    cats = [{"id": c.id, "name": c.name} for c in coco_zsi_48_17().categories]
    # bus (unseen), person, person crowd; category 11 (fire hydrant) is not in the 65
    write_instances(tmp_path / "img", tmp_path / "inst.json", [[(6, 0), (1, 0), (1, 1), (11, 0)], [(2, 0)]], cats)
    r = run_cli(["prepare", "coco-zsi", "--json", tmp_path / "inst.json", "--out", tmp_path / "out", "--no-progress"])
    assert r.exit_code == 0, r.output
    assert "1 annotation(s) of other classes dropped" in r.output
    ds = CocoPanoptic(tmp_path / "img", tmp_path / "out" / "panoptic.json", tmp_path / "out" / "panoptic")
    segs = ds[0].segments
    assert sorted(s["category_id"] for s in segs) == [1, 1, 6] and sum(s["iscrowd"] for s in segs) == 1
    areas = [s["area"] for s in sorted(segs, key=lambda s: s["id"])]
    inst = json.loads((tmp_path / "inst.json").read_text())["annotations"][:3]
    painted = sorted(inst, key=lambda a: -a["area"])
    # the last-painted (smallest) instance keeps all its pixels; larger ones lose what it covers
    assert areas[-1] == painted[-1]["area"] and all(a <= p["area"] for a, p in zip(areas, painted))
    sm = ds[0].segment_map
    assert {s["id"] for s in segs} == set(np.unique(sm[sm > 0]))
    assert Vocabulary.load(tmp_path / "out" / "vocab.json") == coco_zsi_48_17()
    meta = json.loads((tmp_path / "out" / "prepare.json").read_text())
    assert meta["outside_vocabulary"] == 1
