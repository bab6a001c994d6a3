"""COCO panoptic and COCO-Stuff readers."""

import json

import numpy as np
import pytest
from PIL import Image

from zs.errors import ZsError
from zs.extract.datasets import CocoPanoptic, CocoStuffSemantic, ImageReadError


def test_coco_panoptic_sample(tiny_coco):
    ds = CocoPanoptic(*tiny_coco)
    assert len(ds) == 6
    s = ds[0]
    assert s.image.dtype == np.uint8 and s.image.ndim == 3
    assert s.segment_map.dtype == np.int32 and s.segment_map.shape == s.image.shape[:2]
    for seg in s.segments:
        assert (s.segment_map == seg["id"]).sum() == seg["area"]
    assert {c["id"] for c in ds.categories} >= ds.category_ids()


def test_missing_and_corrupt_images(tiny_coco, tmp_path):
    import shutil

    img_dir, js, png = tiny_coco
    d = tmp_path / "imgs"
    shutil.copytree(img_dir, d)
    ds = CocoPanoptic(d, js, png)
    (d / ds.image_infos[0]["file_name"]).write_bytes(b"not a png")
    (d / ds.image_infos[1]["file_name"]).unlink()
    with pytest.raises(ImageReadError, match="cannot decode"):
        ds[0]
    with pytest.raises(ImageReadError, match="not found"):
        ds[1]


def test_bad_json(tmp_path, tiny_coco):
    p = tmp_path / "x.json"
    p.write_text(json.dumps({"images": []}))
    with pytest.raises(ZsError, match="annotations"):
        CocoPanoptic(tiny_coco[0], p, tiny_coco[2])


def test_coco_stuff(tmp_path):
    (tmp_path / "im").mkdir(); (tmp_path / "lab").mkdir()
    img = np.zeros((8, 10, 3), np.uint8)
    lab = np.full((8, 10), 255, np.uint8); lab[:4] = 0; lab[4:, :5] = 2
    Image.fromarray(img).save(tmp_path / "im" / "a.jpg")
    Image.fromarray(lab).save(tmp_path / "lab" / "a.png")
    ds = CocoStuffSemantic(tmp_path / "im", tmp_path / "lab", [92, 93, 94])
    s = ds[0]
    assert [(x["category_id"], x["area"]) for x in s.segments] == [(92, 40), (94, 20)]
    assert (s.segment_map == 0).sum() == 20
