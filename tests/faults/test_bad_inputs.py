"""Bad inputs zs already refuses: exit code, one line without traceback, nothing written before lost."""

import json
import shutil

import numpy as np
from PIL import Image

from faultkit import extract_args, refused, tree, zs


def test_corrupt_image_and_missing_png_fail_alone_and_are_named(coco, tmp_path, capsys):
    images = shutil.copytree(coco["images"], tmp_path / "images")
    png = shutil.copytree(coco["png"], tmp_path / "png")
    bad_image = sorted(images.iterdir())[0]
    bad_image.write_bytes(b"\x89PNG garbage")
    missing = sorted(png.iterdir())[4]
    missing.unlink()
    args = extract_args(coco, tmp_path / "store", images)
    args[args.index("--png") + 1] = png
    code, err, _ = zs(args, capsys)
    text = "\n".join(err)
    assert code == 1 and "Traceback" not in text  # a partial result: the other images are stored
    assert err[0] == "2 image(s) failed (rerun the same command to retry them):"
    assert bad_image.name in text and "cannot decode image" in text
    assert missing.name in text and "not found" in text


def test_unknown_category_is_refused_before_work(coco, tmp_path, capsys):
    vocab = tmp_path / "vocab.json"
    vocab.write_text(json.dumps({"name": "v", "categories": [{"id": 1, "name": "disk", "isthing": 1}]}))
    refused(extract_args(coco, tmp_path / "store") + ["--vocab", vocab], capsys,
            "category ids [2, 3, 7, 9] are not in the vocabulary")
    assert not (tmp_path / "store").exists()


def test_invalid_json_is_refused(coco, tmp_path, capsys):
    bad = tmp_path / "bad.json"
    bad.write_text('{"images": [1, 2,')
    args = extract_args(coco, tmp_path / "store")
    args[args.index("--json") + 1] = bad
    refused(args, capsys, str(bad))
    assert not (tmp_path / "store").exists()


def test_head_of_another_vocabulary_is_refused(world, tmp_path, capsys):
    head = shutil.copytree(world["head"], tmp_path / "head")
    cfg = json.loads((head / "config.json").read_text())
    cfg["vocab_sha256"] = "f" * 64
    (head / "config.json").write_text(json.dumps(cfg))
    out = tmp_path / "h"
    out.mkdir()
    (out / "keep.txt").write_text("keep")
    before = tree(out, world["store"])
    refused(["adapt", "--store", world["store"], "--method", "classifier", "--generator", world["gen"],
             "--init-head", head, "--out", out, "--steps", 2, "--device", "cpu", "--no-progress"], capsys,
            f"head {head}", "vocabulary")
    assert tree(out, world["store"]) == before


def test_store_without_text_embeddings_is_refused(store, tmp_path, capsys):
    shutil.rmtree(store / "text")
    before = tree(store)
    refused(["fit-generator", "--store", store, "--out", tmp_path / "g", "--no-progress"], capsys,
            "has no text embeddings 'default'", "zs text-embed")
    assert tree(store) == before and not (tmp_path / "g").exists()


def test_mismatched_prediction_size_is_refused(reference_dir, tmp_path, capsys):
    src = reference_dir / "metrics" / "panoptic_pq"
    pred = shutil.copytree(src / "pred", tmp_path / "pred")
    victim = sorted(pred.iterdir())[0]
    img = np.asarray(Image.open(victim))
    Image.fromarray(img[:-3]).save(victim)
    out = tmp_path / "m.json"
    out.write_text("previous result")
    refused(["metrics", "panoptic", "--gt-json", src / "gt.json", "--gt-folder", src / "gt", "--pred-json",
             src / "pred.json", "--pred-folder", pred, "--out", out], capsys, victim.name)
    assert out.read_text() == "previous result"


def _spec(tmp_path, text):
    p = tmp_path / "spec.yaml"
    p.write_text(text)
    return p


def test_unknown_stage_type_and_spec_cycle_are_refused(tmp_path, capsys):
    spec = _spec(tmp_path, "name: t\nstages:\n  world: {type: synthh}\n")
    refused(["run", spec, "--out", tmp_path / "o"], capsys, "spec.yaml:3", "unknown stage type 'synthh'")
    spec = _spec(tmp_path, "name: t\nstages:\n  a: {type: report, inputs: {runs: b}}\n"
                           "  b: {type: report, inputs: {runs: a}}\n")
    refused(["run", spec, "--out", tmp_path / "o"], capsys, "dependency cycle: a -> b -> a")
    assert not (tmp_path / "o").exists()


def test_usage_error_is_one_line(tmp_path, capsys):
    refused(["fit-generator", "--store", tmp_path, "--out", tmp_path / "g", "--kind", "nope"], capsys,
            "Invalid value for '--kind'", "zs fit-generator --help")
