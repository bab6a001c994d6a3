"""zs split coco-panoptic, zs text-embed, CLIP tokens, --help of the commands."""

import json

import numpy as np
import pytest
import torch

from tests.conftest import run_cli


def _coco_json():
    cats = [{"id": i, "name": f"c{i}", "isthing": 1} for i in (1, 2, 21, 25, 33, 34, 41, 57, 87, 100)]
    cats += [{"id": i, "name": f"s{i}", "isthing": 0} for i in (145, 148, 149, 184, 187, 193, 199)]
    seg = lambda sid, cat, crowd=0: {"id": sid, "category_id": cat, "iscrowd": crowd, "area": 10, "bbox": [0, 0, 1, 1]}
    anns = [
        {"image_id": 1, "file_name": "1.png", "segments_info": [seg(1, 1), seg(2, 199)]},  # all seen
        {"image_id": 2, "file_name": "2.png", "segments_info": [seg(1, 1), seg(2, 21)]},  # unseen cow
        {"image_id": 3, "file_name": "3.png", "segments_info": [seg(1, 2), seg(2, 184, crowd=1)]},  # unseen crowd
        {"image_id": 4, "file_name": "4.png", "segments_info": [seg(1, 2), seg(2, 2), seg(3, 1)]},
    ]
    images = [{"id": i, "file_name": f"{i}.jpg", "height": 4, "width": 4} for i in (1, 2, 3, 4)]
    return {"images": images, "annotations": anns, "categories": cats}


def test_split_coco_panoptic(tmp_path):
    (tmp_path / "in.json").write_text(json.dumps(_coco_json()))
    r = run_cli(["split", "coco-panoptic", tmp_path / "in.json", tmp_path / "out.json"])
    assert r.exit_code == 0, r.output
    out = json.loads((tmp_path / "out.json").read_text())
    assert [im["id"] for im in out["images"]] == [1, 4]
    assert [a["image_id"] for a in out["annotations"]] == [1, 4]
    assert "images kept 2, dropped 2" in r.output and "unseen segments dropped 2" in r.output
    (tmp_path / "unseen.txt").write_text("c2  # by name\n")
    r = run_cli(["split", "coco-panoptic", tmp_path / "in.json", tmp_path / "o2.json", "--unseen", tmp_path / "unseen.txt"])
    assert [im["id"] for im in json.loads((tmp_path / "o2.json").read_text())["images"]] == [1, 2]
    (tmp_path / "bad.txt").write_text("zebra\n")
    r = run_cli(["split", "coco-panoptic", tmp_path / "in.json", tmp_path / "o3.json", "--unseen", tmp_path / "bad.txt"])
    assert r.exit_code != 0 and "zebra" in str(r.exception)


def test_clip_tokens_and_segment_preparation(tiny_clip_paths):
    from zs.extract.clip import load_clip

    clip = load_clip(str(tiny_clip_paths[0]), tiny_clip_paths[1])
    assert clip.dim == 32 and clip.image_size == 32
    img = np.zeros((40, 60, 3), np.uint8)
    img[10:20, 30:50] = 255
    mask = np.zeros((40, 60), bool)
    mask[10:20, 30:40] = True
    prep = clip.prepare_segment(img, mask)
    assert prep.shape == (32, 32, 3) and (prep == 255).all()  # crop to the box: only segment pixels
    mask[30, 0] = True  # box now spans outside pixels -> mean colour fills them
    prep = clip.prepare_segment(img, mask)
    assert (np.abs(prep.astype(int) - clip.mean_colour).sum(-1) < 3).mean() > 0.5
    tok = clip.encode_segments(img, [mask, ~mask])
    assert tok.shape == (2, 32) and torch.isfinite(tok).all()
    assert clip.encode_images([img]).shape == (1, 32)


def test_clip_name_errors(tiny_clip_paths, tmp_path):
    from zs.errors import ZsError
    from zs.extract.clip import load_clip

    with pytest.raises(ZsError, match="not an open_clip model name"):
        load_clip("No-Such-Model", tiny_clip_paths[1])
    cfg = json.loads(tiny_clip_paths[0].read_text())
    cfg["vision_cfg"]["width"] = 48
    (tmp_path / "wide.json").write_text(json.dumps(cfg))
    with pytest.raises(ZsError, match="do not fit"):
        load_clip(str(tmp_path / "wide.json"), tiny_clip_paths[1])
    with pytest.raises(ZsError, match="file not found"):
        load_clip(str(tiny_clip_paths[0]), tmp_path / "none.pt")


def test_text_embed_clip_and_semantic(tiny_coco, tiny_seg_dir, tiny_clip_paths, tmp_path):
    from zs.extract.clip import load_clip
    from zs.extract.job import ExtractConfig
    from zs.extract.run import run
    from zs.extract.text import PADING_TEMPLATES
    from zs.store import open_store

    i, j, p = tiny_coco
    run(ExtractConfig(split="val", store=str(tmp_path / "s"), segmenter=str(tiny_seg_dir), images=str(i),
                      json=str(j), png=str(p), limit=1, num_points=50))
    r = run_cli(["text-embed", "--store", tmp_path / "s", "--clip-model", tiny_clip_paths[0],
                 "--clip-weights", tiny_clip_paths[1], "--device", "cpu"])
    assert r.exit_code == 0, r.output
    emb, meta = open_store(tmp_path / "s").text()
    assert emb.shape == (5, 32) and np.allclose(np.linalg.norm(emb, axis=1), 1, atol=1e-5)
    assert meta["templates"] == list(PADING_TEMPLATES) and len(PADING_TEMPLATES) == 8
    clip = load_clip(str(tiny_clip_paths[0]), tiny_clip_paths[1])
    one = torch.nn.functional.normalize(clip.encode_text([t.format("disk") for t in PADING_TEMPLATES]), dim=-1)
    want = torch.nn.functional.normalize(one.mean(0), dim=0)
    np.testing.assert_allclose(emb[0], want.numpy(), atol=1e-5)
    sem = np.random.default_rng(0).normal(size=(5, 7)).astype(np.float32)
    np.save(tmp_path / "sem.npy", sem)
    r = run_cli(["text-embed", "--store", tmp_path / "s", "--semantic", tmp_path / "sem.npy", "--name", "sem"])
    assert r.exit_code == 0, r.output
    np.testing.assert_array_equal(open_store(tmp_path / "s").text("sem")[0], sem)
    np.save(tmp_path / "bad.npy", sem[:3])
    r = run_cli(["text-embed", "--store", tmp_path / "s", "--semantic", tmp_path / "bad.npy"])
    assert r.exit_code != 0 and "K=5" in str(r.exception)


@pytest.mark.parametrize("cmd", [["extract"], ["split", "coco-panoptic"], ["text-embed"]])
def test_help(cmd):
    r = run_cli(cmd + ["--help"])
    assert r.exit_code == 0 and "Usage" in r.output
