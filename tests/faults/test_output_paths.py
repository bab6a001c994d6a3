"""Output paths are checked before any work: wrong kind, parent a file, not writable, disk full."""

import shutil
from pathlib import Path

import pytest

from faultkit import refused, tree


def _commands(w, out):
    """Every command that writes, with ``out`` as its output path (inputs valid where they are read first)."""
    s, g, h = w["store"], w["gen"], w["head"]
    d = w["root"]  # an existing folder for --data / input options that click checks
    missing = d / "not-there.json"
    return {
        "fit-generator": ["fit-generator", "--store", s, "--out", out, "--iterations", 2, "--no-progress"],
        "adapt": ["adapt", "--store", s, "--method", "seen-only", "--out", out, "--no-progress", "--device", "cpu"],
        "evaluate": ["evaluate", "--store", s, "--head", h, "--out", out, "--device", "cpu", "--no-progress"],
        "diagnose": ["diagnose", "--store", s, "--generator", g, "--out", out, "--device", "cpu", "--no-progress"],
        "sample": ["sample", "--generator", g, "--out", out, "--device", "cpu"],
        "metrics panoptic": ["metrics", "panoptic", "--gt-json", missing, "--gt-folder", d, "--pred-json", missing,
                             "--pred-folder", d, "--out", out],
        "metrics semantic": ["metrics", "semantic", "--gt-folder", d, "--pred-folder", d, "--num-classes", 3,
                             "--out", out],
        "metrics instance": ["metrics", "instance", "--gt-json", missing, "--results-json", missing, "--out", out],
        "report": ["report", d, d, "--out", out],
        "synth": ["synth", "--out", out, "--train", 1, "--val", 1],
        "train-segmenter": ["train-segmenter", "--data", d, "--out", out],
        "pretrain-backbone": ["pretrain-backbone", "--out", out],
        "train-clip": ["train-clip", "--data", d, "--out", out],
        "synth-quality": ["synth-quality", "--data", d, "--out", out],
        "synth-criteria": ["synth-criteria", "--data", d, "--out", out],
        "export": ["export", d, "--format", "coco-panoptic", "--out", out],
        "prepare coco-stuff": ["prepare", "coco-stuff", "--images", d, "--labels", d, "--out", out],
        "prepare coco-zsi": ["prepare", "coco-zsi", "--json", missing, "--out", out],
        "convert-checkpoint": ["convert-checkpoint", "--from", "detectron2", "--config", missing, missing, out],
        "segment": ["segment", "--segmenter", d, "--image", missing, "--out", out],
        "run": ["run", "demo", "--out", out],
        "split": ["split", "coco-panoptic", missing, out],
        "extract": ["extract", "--images", d, "--json", missing, "--png", d, "--split", "val", "--segmenter", d,
                    "--store", out, "--no-clip"],
        "text-embed": ["text-embed", "--store", out, "--semantic", missing],
    }


FILE_OUTPUTS = {"sample", "metrics panoptic", "metrics semantic", "metrics instance", "synth-quality", "segment",
                "split", "synth-criteria"}
NAMES = sorted(_commands({"store": "", "gen": "", "head": "", "root": Path("/")}, "").keys())


@pytest.mark.parametrize("name", NAMES)
def test_output_under_a_regular_file_is_refused_first(world, tmp_path, capsys, name):
    blocker = tmp_path / "blocker"
    blocker.write_text("keep me")
    before = tree(tmp_path, world["store"])
    refused(_commands(world, blocker / "sub" / "x.json")[name], capsys, f"{blocker} is a file, not a directory")
    assert tree(tmp_path, world["store"]) == before


@pytest.mark.parametrize("name", NAMES)
def test_output_of_the_wrong_kind_is_refused(world, tmp_path, capsys, name):
    if name in FILE_OUTPUTS:
        target = tmp_path / "a_folder"
        target.mkdir()
        (target / "inside.txt").write_text("keep")
        needle = "is a directory"
    else:
        target = tmp_path / "a_file"
        target.write_text("keep me")
        needle = "is a file"  # (click's own path check, or zs.paths for options click does not type)
    before = tree(tmp_path)
    refused(_commands(world, target)[name], capsys, str(target), needle)
    assert tree(tmp_path) == before


def test_not_writable_and_full_disk_are_refused_before_work(world, tmp_path, capsys, monkeypatch):
    import collections
    import os

    import zs.paths

    out = tmp_path / "ro" / "gen"
    (tmp_path / "ro").mkdir()
    real_access = os.access
    # root ignores permission bits, so the refusal is simulated where zs asks the OS
    ro = str(tmp_path / "ro")
    monkeypatch.setattr(zs.paths.os, "access", lambda p, m: False if str(p) == ro else real_access(p, m))
    refused(["fit-generator", "--store", world["store"], "--out", out, "--no-progress"], capsys,
            f"{tmp_path / 'ro'} is not writable")
    monkeypatch.setattr(zs.paths.os, "access", real_access)
    usage = collections.namedtuple("usage", "total used free")
    monkeypatch.setattr(zs.paths.shutil, "disk_usage", lambda p: usage(10 << 20, 10 << 20, 4096))
    refused(["evaluate", "--store", world["store"], "--head", world["head"], "--out", out, "--no-progress"], capsys,
            "the disk holding", "is full (4096 bytes free)")
    assert not out.exists()


def test_refused_evaluate_leaves_no_empty_out_folder(world, tmp_path, capsys):
    """A head of another store's vocabulary is refused after the --out checks: no folder is left behind."""
    import json

    head = shutil.copytree(world["head"], tmp_path / "head")
    cfg = json.loads((head / "config.json").read_text())
    cfg["vocab_sha256"] = "0" * 64
    (head / "config.json").write_text(json.dumps(cfg))
    out = tmp_path / "runs" / "e1"
    refused(["evaluate", "--store", world["store"], "--head", head, "--out", out, "--device", "cpu",
             "--no-progress"], capsys, "vocabulary")
    assert not (tmp_path / "runs").exists()
