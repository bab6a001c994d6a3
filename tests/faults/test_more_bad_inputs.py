"""More bad inputs a user makes, each one `error:` line naming the file or value, nothing written."""

import json

import pytest

from faultkit import extract_args, refused, tree


def test_unreachable_or_malformed_dask_scheduler_before_the_store_exists(coco, tmp_path, capsys):
    store = tmp_path / "store"
    refused(extract_args(coco, store) + ["--dask-scheduler", "not-an-address"], capsys,
            "--dask-scheduler not-an-address: cannot connect to a dask scheduler")
    assert not store.exists()


def test_truncated_image_given_to_segment(coco, tmp_path, capsys):
    jpg = next(p for p in sorted(coco["images"].iterdir()))
    cut = tmp_path / "cut.jpg"
    cut.write_bytes(jpg.read_bytes()[: len(jpg.read_bytes()) // 3])
    if jpg.suffix.lower() == ".png":
        cut = tmp_path / "cut.png"
        cut.write_bytes(jpg.read_bytes()[: len(jpg.read_bytes()) // 3])
    refused(["segment", "--segmenter", coco["seg"], "--image", cut, "--out", tmp_path / "o.png", "--device", "cpu"],
            capsys, f"{cut}: unreadable image")
    assert not (tmp_path / "o.png").exists()


def test_panoptic_json_given_as_instances_ground_truth(tmp_path, capsys):
    gt = tmp_path / "panoptic.json"
    gt.write_text(json.dumps({"images": [{"id": 1}], "categories": [{"id": 1, "name": "a"}],
                              "annotations": [{"image_id": 1, "file_name": "1.png", "segments_info": []}]}))
    res = tmp_path / "results.json"
    res.write_text("[]")
    refused(["metrics", "instance", "--gt-json", gt, "--results-json", res, "--out", tmp_path / "m.json"], capsys,
            f"{gt}: annotation #0 lacks id/image_id/category_id")
    gt.write_text("[]")
    refused(["metrics", "instance", "--gt-json", gt, "--results-json", res, "--out", tmp_path / "m.json"], capsys,
            f"{gt}: not a COCO instances JSON")
    assert not (tmp_path / "m.json").exists()


@pytest.mark.parametrize("field, value", [("seen", "false"), ("isthing", "no")])
def test_vocabulary_flags_must_be_booleans(coco, tmp_path, capsys, field, value):
    cats = json.loads(coco["json"].read_text())["categories"]
    vocab = {"name": "v", "categories": [{"id": c["id"], "name": c["name"], "isthing": bool(c["isthing"]),
                                          "seen": True} for c in cats]}
    vocab["categories"][0][field] = value
    path = tmp_path / "vocab.json"
    path.write_text(json.dumps(vocab))
    refused(extract_args(coco, tmp_path / "store") + ["--vocab", path], capsys, str(path), f"{field}={value!r}")
    assert not (tmp_path / "store").exists()


def test_rgb_panoptic_pngs_given_as_label_maps(coco, tmp_path, capsys):
    before = tree(coco["root"])
    refused(["prepare", "coco-stuff", "--images", coco["images"], "--labels", coco["png"], "--out", tmp_path / "pp",
             "--no-progress"], capsys, "a label map has one channel")
    assert tree(coco["root"]) == before and not (tmp_path / "pp").exists()


def test_directory_given_for_a_json_file(coco, tmp_path, capsys):
    refused(extract_args(coco, tmp_path / "store") + ["--vocab", tmp_path], capsys, "is a directory")
    refused(["split", "coco-panoptic", tmp_path, tmp_path / "o.json"], capsys, "is a directory")


@pytest.mark.parametrize("edit, needle", [
    (lambda m: m.pop("vocabulary"), "'vocabulary' is missing or not an object"),
    (lambda m: m["segmenter"].update(query_dim="big"), "segmenter.query_dim is 'big', expected a non-negative integer"),
])
def test_hand_edited_store_manifest_is_named(world, store, tmp_path, capsys, edit, needle):
    m = json.loads((store / "manifest.json").read_text())
    edit(m)
    (store / "manifest.json").write_text(json.dumps(m))
    for args in (["store", "info", store],
                 ["evaluate", "--store", store, "--head", world["head"], "--out", tmp_path / "r", "--no-progress"]):
        refused(args, capsys, f"{store / 'manifest.json'}: {needle}")
    assert not (tmp_path / "r").exists()


def test_unlock_of_a_split_the_store_does_not_have(store, capsys):
    refused(["store", "unlock", store, "nosplit"], capsys, "no split 'nosplit' (have: ")


def test_full_image_options_without_full_image(world, coco, tmp_path, capsys):
    refused(["evaluate", "--store", world["store"], "--head", world["head"], "--out", tmp_path / "r",
             "--segmenter", coco["seg"], "--no-progress"], capsys, "--segmenter: used by --full-image only")
    assert not (tmp_path / "r").exists()


def test_evaluating_a_split_with_failed_images_says_so(coco, tmp_path, capsys, caplog):
    """The scored images are those extracted; the ones extraction could not read are named, not silently dropped."""
    import shutil

    from faultkit import zs

    images = shutil.copytree(coco["images"], tmp_path / "images")
    sorted(images.iterdir())[1].write_bytes(b"not an image")
    store = tmp_path / "store"
    assert zs(extract_args(coco, store, images), capsys)[0] == 1
    code, err, _ = zs(["evaluate", "--store", store, "--head", store / "seen_head", "--out", tmp_path / "run",
                       "--device", "cpu", "--no-progress", "--no-report"], capsys)
    assert code == 0, err
    # a warning (on stderr through logging's last-resort handler when zs runs as a command)
    assert "split 'val': 1 image(s) failed at extraction and are not scored" in caplog.text
