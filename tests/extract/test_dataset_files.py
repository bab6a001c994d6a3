"""dataset_files: the one resolution of a dataset folder (zs extract, zs evaluate --full-image, zs run)."""

import pytest

from zs.errors import ZsError
from zs.extract.datasets import dataset_files


def _make(root, images, json, png):
    (root / images).mkdir(parents=True)
    (root / png).mkdir(parents=True)
    (root / json).parent.mkdir(parents=True, exist_ok=True)
    (root / json).write_text("{}")
    return root / images, root / json, root / png


@pytest.mark.parametrize("layout", [
    ("val/images", "val/panoptic.json", "val/panoptic"),
    ("images", "panoptic.json", "panoptic"),
    ("val2017", "annotations/panoptic_val2017.json", "panoptic_val2017"),
])
def test_each_layout(tmp_path, layout):
    want = _make(tmp_path, *layout)
    assert dataset_files(tmp_path, "val") == want


def test_precedence_split_folder_first(tmp_path):
    flat = _make(tmp_path, "images", "panoptic.json", "panoptic")
    split = _make(tmp_path, "val/images", "val/panoptic.json", "val/panoptic")
    assert dataset_files(tmp_path, "val") == split
    assert dataset_files(tmp_path, "train") == flat  # no train/ folder: the one-split layout


def test_explicit_parts_replace_the_layouts(tmp_path):
    images, json, png = _make(tmp_path, "train/images", "train/panoptic.json", "train/panoptic")
    other = tmp_path / "other.json"
    assert dataset_files(tmp_path, "train", json=other) == (images, other, png)
    assert dataset_files(None, "train", images="a", json="b", png="c") == tuple(map(type(images), "abc"))


def test_missing_is_one_line_naming_the_folder(tmp_path):
    with pytest.raises(ZsError) as e:
        dataset_files(tmp_path, "val")
    msg = str(e.value)
    assert msg.startswith(f"dataset folder {tmp_path}: no COCO panoptic split 'val'") and "\n" not in msg
    assert "val/panoptic.json" in msg and "annotations/panoptic_val2017.json" in msg
    with pytest.raises(ZsError, match="no such folder"):
        dataset_files(tmp_path / "nope", "val")
    (tmp_path / "f.json").write_text("{}")
    with pytest.raises(ZsError, match="f.json: is a file; give the folder that holds it"):
        dataset_files(tmp_path / "f.json", "val")


def test_a_partial_layout_names_what_is_missing(tmp_path):
    (tmp_path / "val2017").mkdir()
    (tmp_path / "annotations").mkdir()
    (tmp_path / "annotations" / "panoptic_val2017.json").write_text("{}")
    with pytest.raises(ZsError) as e:
        dataset_files(tmp_path, "val")
    assert str(e.value) == f"dataset folder {tmp_path}: split 'val' is incomplete: panoptic_val2017 missing"
    with pytest.raises(ZsError, match="all of --images, --json and --png"):
        dataset_files(None, "val", images="a")
