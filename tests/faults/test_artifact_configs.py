"""A head or generator folder with a damaged config.json, or of the wrong kind, is one line naming it."""

import json
import shutil

import pytest

from faultkit import refused


def _evaluate(world, head, tmp_path):
    return ["evaluate", "--store", world["store"], "--head", head, "--out", tmp_path / "run", "--device", "cpu",
            "--no-progress"]


@pytest.mark.parametrize("damage, needle", [
    (lambda c: c.update(query_dim="x"), "wrong type: query_dim='x'"),
    (lambda c: c.pop("num_classes"), "missing keys ['num_classes']"),
    (lambda c: c.update(kind="bogus"), "config.json: "),
    (lambda c: c.update(seen=[True]), "config.json: head config: len(seen)=1"),
])
def test_damaged_head_config_is_named(world, tmp_path, capsys, damage, needle):
    head = shutil.copytree(world["head"], tmp_path / "head")
    cfg = json.loads((head / "config.json").read_text())
    damage(cfg)
    (head / "config.json").write_text(json.dumps(cfg))
    msg = refused(_evaluate(world, head, tmp_path), capsys, needle)
    assert str(head) in msg
    assert not (tmp_path / "run").exists()


def test_head_config_that_is_not_an_object(world, tmp_path, capsys):
    head = shutil.copytree(world["head"], tmp_path / "head")
    (head / "config.json").write_text("[1, 2]")
    refused(_evaluate(world, head, tmp_path), capsys, f"{head / 'config.json'}: expected a JSON object, got list")


def test_a_generator_given_as_head_and_a_head_as_generator(world, tmp_path, capsys):
    refused(_evaluate(world, world["gen"], tmp_path), capsys, f"{world['gen']}: holds a zs-generator", "not a zs-head")
    head = shutil.copytree(world["head"], tmp_path / "h")
    refused(["sample", "--generator", head, "--out", tmp_path / "s.npz", "--device", "cpu"], capsys,
            f"{head}: holds a zs-head", "not a zs-generator")


def test_head_weights_of_another_shape_are_one_line(world, tmp_path, capsys):
    head = shutil.copytree(world["head"], tmp_path / "head")
    shutil.copy(world["gen"] / "weights.pt", head / "weights.pt")
    refused(_evaluate(world, head, tmp_path), capsys, "weights.pt does not fit its config.json")
