"""A mistyped output path never overwrites an input or another artifact; bad numbers stop at the command
line; an empty input file is an error, not an interruption."""

import json
import shutil

import numpy as np
import pytest

from faultkit import refused, tree


@pytest.mark.parametrize("command", ["evaluate", "adapt", "diagnose", "train-clip", "report"])
def test_out_holding_a_store_is_refused_and_the_store_is_unchanged(world, store, capsys, command):
    w = world
    args = {
        "evaluate": ["evaluate", "--store", store, "--head", w["head"], "--out", store, "--device", "cpu",
                     "--no-progress"],
        "adapt": ["adapt", "--store", store, "--method", "seen-only", "--out", store, "--device", "cpu",
                  "--no-progress"],
        "diagnose": ["diagnose", "--store", store, "--generator", w["gen"], "--out", store, "--device", "cpu",
                     "--no-progress"],
        "train-clip": ["train-clip", "--data", w["root"], "--out", store],
        "report": ["report", w["root"], w["root"], "--out", store],
    }[command]
    before = tree(store)
    refused(args, capsys, f"--out {store}: holds a zs-store", "choose another --out")
    assert tree(store) == before


def test_adapt_refuses_to_replace_a_finished_head(world, tmp_path, capsys):
    head = shutil.copytree(world["head"], tmp_path / "head")
    before = tree(head)
    refused(["adapt", "--store", world["store"], "--method", "seen-only", "--out", head, "--device", "cpu",
             "--no-progress"], capsys, f"--out {head}: already holds a finished head")
    assert tree(head) == before


def test_adapt_continues_a_head_whose_manifest_was_never_written(world, tmp_path, capsys):
    """The manifest is written last: weights and config without it are an interrupted run, not a finished head."""
    from faultkit import zs

    head = shutil.copytree(world["head"], tmp_path / "head")
    (head / "manifest.json").unlink()
    code, err, _ = zs(["adapt", "--store", world["store"], "--method", "seen-only", "--out", head, "--device", "cpu",
                       "--no-progress"], capsys)
    assert code == 0, err
    assert (head / "manifest.json").is_file()


def test_semantic_names_of_another_length_name_the_file(tmp_path, capsys):
    names = tmp_path / "names.txt"
    names.write_text("a\nb\n")
    refused(["metrics", "semantic", "--gt-folder", tmp_path, "--pred-folder", tmp_path, "--num-classes", 3,
             "--names", names, "--out", tmp_path / "m.json"], capsys, f"--names {names}: 2 names for --num-classes 3")


def test_split_and_metrics_do_not_write_over_their_inputs(tmp_path, capsys):
    js = tmp_path / "panoptic.json"
    js.write_text(json.dumps({"images": [], "annotations": [], "categories": []}))
    before = tree(tmp_path)
    refused(["split", "coco-panoptic", js, js], capsys, f"JSON_OUT {js}: is also the input JSON_IN")
    refused(["metrics", "panoptic", "--gt-json", js, "--gt-folder", tmp_path, "--pred-json", js,
             "--pred-folder", tmp_path, "--out", js], capsys, "is also the input --gt-json")
    refused(["metrics", "instance", "--gt-json", tmp_path / "gt.json", "--results-json", js, "--out", js], capsys,
            "is also the input --results-json")
    assert tree(tmp_path) == before


def test_text_embed_refuses_nan_and_an_empty_file(store, tmp_path, capsys):
    before = tree(store)
    nan = tmp_path / "nan.npy"
    np.save(nan, np.full((8, 16), np.nan, np.float32))
    refused(["text-embed", "--store", store, "--semantic", nan], capsys, f"--semantic {nan}", "NaN/Inf")
    empty = tmp_path / "empty.npy"
    empty.write_bytes(b"")
    refused(["text-embed", "--store", store, "--semantic", empty], capsys, f"--semantic {empty}: cannot read .npy")
    assert tree(store) == before


def test_an_emptied_text_embedding_file_is_named(store, capsys):
    (store / "text" / "default.npy").write_bytes(b"")
    refused(["adapt", "--store", store, "--method", "projection", "--out", store.parent / "h", "--device", "cpu",
             "--no-progress"], capsys, "text embeddings 'default' unreadable")


@pytest.mark.parametrize("args, option", [
    (["extract", "--dask-workers", "-1"], "--dask-workers"),
    (["extract", "--batch-size", "0"], "--batch-size"),
    (["extract", "--num-points", "0"], "--num-points"),
    (["run", "demo", "--dask-workers", "-1"], "--dask-workers"),
    (["fit-generator", "--lr", "-1"], "--lr"),
    (["fit-generator", "--gen-dropout", "1.5"], "--gen-dropout"),
    (["fit-generator", "--stop-after", "0"], "--stop-after"),
    (["adapt", "--lr", "0"], "--lr"),
    (["adapt", "--hidden-dim", "-7"], "--hidden-dim"),
    (["train-clip", "--steps", "0"], "--steps"),
    (["report", ".", "--panels", "-1"], "--panels"),
    (["synth-quality", "--object-threshold", "5"], "--object-threshold"),
])
def test_out_of_range_numbers_are_usage_errors(tmp_path, capsys, args, option):
    """Refused by the command line itself, before any input is read or any output written."""
    out = ["--store" if args[0] == "extract" else "--out", tmp_path / "o"]
    refused(args + out, capsys, f"Invalid value for '{option}'")
    assert not (tmp_path / "o").exists()


def test_an_end_of_file_anywhere_is_an_error_not_an_interruption(store, capsys, monkeypatch):
    """click turns every EOFError into Abort ("aborted", exit 130 as for ^C); zs reports it as bad input."""
    import zs.extract.text

    def eof(*a, **k):
        raise EOFError("No data left in file")

    monkeypatch.setattr(zs.extract.text, "embed_store_text", eof)
    refused(["text-embed", "--store", store, "--semantic", store / "x.npy"], capsys,
            "an input file is empty or truncated (No data left in file)")


def test_replacing_a_text_embedding_set_is_said(store, tmp_path, capsys, caplog):
    from faultkit import zs

    emb = tmp_path / "semantic.npy"
    np.save(emb, np.random.default_rng(0).standard_normal((8, 16)).astype(np.float32))
    code, err, _ = zs(["text-embed", "--store", store, "--semantic", emb], capsys)
    assert code == 0, err
    assert "replacing text embeddings 'default'" in caplog.text
