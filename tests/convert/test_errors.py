"""Checkpoint/config pairs that do not fit fail before writing anything, naming what is wrong."""

from __future__ import annotations

import pytest
import torch
import yaml

from tests.convert.helpers import random_tiny_model, tiny_config_dict, write_tiny_config


@pytest.fixture(scope="module")
def tiny_ckpt(tmp_path_factory):
    from zs.extract.d2 import to_detectron2_state_dict

    torch.set_num_threads(1)
    model, spec = random_tiny_model(seed=2)
    d = tmp_path_factory.mktemp("ckpt")
    state = to_detectron2_state_dict(model.state_dict())
    torch.save({"model": state}, d / "ok.pth")
    return d, state


def _convert(cfg, ckpt, out, **kw):
    from zs.extract.d2 import convert_checkpoint

    return convert_checkpoint(cfg, ckpt, out, **kw)


def test_missing_and_unexpected_keys_are_listed(tiny_ckpt, tmp_path):
    from zs.extract.d2 import CheckpointMismatchError

    _, state = tiny_ckpt
    broken = dict(state)
    del broken["sem_seg_head.predictor.query_feat.weight"]
    del broken["backbone.res3.0.conv2.norm.running_mean"]
    broken["sem_seg_head.predictor.extra_thing.weight"] = torch.zeros(3)
    torch.save({"model": broken}, tmp_path / "broken.pth")
    with pytest.raises(CheckpointMismatchError) as ei:
        _convert(write_tiny_config(tmp_path), tmp_path / "broken.pth", tmp_path / "out")
    msg = str(ei.value)
    assert "broken.pth" in msg
    assert "sem_seg_head.predictor.query_feat.weight" in msg and "backbone.res3.0.conv2.norm.running_mean" in msg
    assert "unexpected keys (1): sem_seg_head.predictor.extra_thing.weight" in msg
    assert not (tmp_path / "out").exists()


def test_shape_mismatch_names_key_and_shapes(tiny_ckpt, tmp_path):
    from zs.extract.d2 import CheckpointMismatchError

    d, _ = tiny_ckpt
    cfg = write_tiny_config(tmp_path, num_queries=6)  # checkpoint has 5 queries
    with pytest.raises(CheckpointMismatchError) as ei:
        _convert(cfg, d / "ok.pth", tmp_path / "out")
    assert "sem_seg_head.predictor.query_feat.weight (5, 32) != expected (6, 32)" in str(ei.value)
    assert not (tmp_path / "out").exists()


def test_config_class_count_differing_from_checkpoint_is_one_line(tiny_ckpt, tmp_path, capsys):
    from zs.cli import main

    d, _ = tiny_ckpt
    cfg = write_tiny_config(tmp_path, num_classes=9)  # checkpoint has 7 classes
    (tmp_path / "out").mkdir()
    (tmp_path / "out" / "keep.txt").write_text("x")
    with pytest.raises(SystemExit) as ei:
        main(["convert-checkpoint", "--from", "detectron2", "--config", str(cfg), str(d / "ok.pth"),
              str(tmp_path / "out"), "--overwrite"])
    assert ei.value.code == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and err[0].startswith(f"error: {d / 'ok.pth'}: the checkpoint predicts 7 classes")
    assert "(8, 32)" in err[0] and f"{cfg} sets MODEL.SEM_SEG_HEAD.NUM_CLASSES = 9" in err[0]
    assert [p.name for p in (tmp_path / "out").iterdir()] == ["keep.txt"]  # nothing replaced


def test_hidden_size_mismatch_is_reported_on_packed_projections(tiny_ckpt, tmp_path):
    from zs.extract.d2 import CheckpointMismatchError

    d, _ = tiny_ckpt
    with pytest.raises(CheckpointMismatchError) as ei:
        _convert(write_tiny_config(tmp_path, hidden_dim=64), d / "ok.pth", tmp_path / "out")
    name = "sem_seg_head.predictor.transformer_self_attention_layers.0.self_attn.in_proj_weight"
    assert (name, (96, 32), (192, 64)) in ei.value.shapes  # packed q/k/v: 3 x hidden
    assert "shape mismatches" in str(ei.value) and "(+" in str(ei.value)  # long lists are counted, not dumped


@pytest.mark.parametrize("key,value,needle", [
    (("MODEL", "BACKBONE", "NAME"), "D2SwinTransformer", "MODEL.BACKBONE.NAME = 'D2SwinTransformer'"),
    (("MODEL", "SEM_SEG_HEAD", "PIXEL_DECODER_NAME"), "BasePixelDecoder", "unsupported pixel decoder"),
    (("MODEL", "RESNETS", "DEPTH"), 18, "MODEL.RESNETS.DEPTH = 18"),
    (("MODEL", "META_ARCHITECTURE"), "GeneralizedRCNN", "meta architecture"),
])
def test_unsupported_architectures(tiny_ckpt, tmp_path, key, value, needle):
    from zs.extract.d2 import UnsupportedModelError

    d, _ = tiny_ckpt
    cfg = tiny_config_dict()
    node = cfg
    for k in key[:-1]:
        node = node.setdefault(k, {})
    node[key[-1]] = value
    path = tmp_path / "c.yaml"
    path.write_text(yaml.safe_dump(cfg))
    with pytest.raises(UnsupportedModelError, match=needle.replace("(", r"\(").replace(")", r"\)")):
        _convert(path, d / "ok.pth", tmp_path / "out")
    assert not (tmp_path / "out").exists()


def test_unknown_config_keys_are_named(tiny_ckpt, tmp_path):
    from zs.extract.d2 import D2ConfigError

    d, _ = tiny_ckpt
    cfg = tiny_config_dict()
    cfg["MODEL"]["MASK_FORMER"]["HIDEN_DIM"] = 32  # typo
    cfg["SOLVER"] = {"MY_LR": 1.0}
    path = tmp_path / "c.yaml"
    path.write_text(yaml.safe_dump(cfg))
    with pytest.raises(D2ConfigError, match=r"unknown config keys \(2\): MODEL.MASK_FORMER.HIDEN_DIM, SOLVER.MY_LR"):
        _convert(path, d / "ok.pth", tmp_path / "out")
    res = _convert(path, d / "ok.pth", tmp_path / "out", allow_unknown_keys=True)
    assert (res.out_dir / "model.safetensors").is_file()


def test_missing_base_file_is_named(tmp_path, tiny_ckpt):
    from zs.extract.d2 import D2ConfigError

    d, _ = tiny_ckpt
    path = tmp_path / "c.yaml"
    path.write_text("_BASE_: nowhere/Base.yaml\n")
    with pytest.raises(D2ConfigError, match="Base.yaml: config file not found"):
        _convert(path, d / "ok.pth", tmp_path / "out")


def test_existing_output_is_not_overwritten(tiny_ckpt, tmp_path):
    from zs.errors import ZsError

    d, _ = tiny_ckpt
    out = tmp_path / "out"
    out.mkdir()
    (out / "keep.txt").write_text("x")
    with pytest.raises(ZsError, match="not empty"):
        _convert(write_tiny_config(tmp_path), d / "ok.pth", out)
    assert (out / "keep.txt").is_file()


def test_cli_prints_one_line_error_and_exits_2(tiny_ckpt, tmp_path, capsys):
    from zs.cli import main

    d, state = tiny_ckpt
    broken = dict(state)
    del broken["sem_seg_head.predictor.level_embed.weight"]
    torch.save({"model": broken}, tmp_path / "b.pth")
    with pytest.raises(SystemExit) as ei:
        main(["convert-checkpoint", "--from", "detectron2", "--config", str(write_tiny_config(tmp_path)),
              str(tmp_path / "b.pth"), str(tmp_path / "out")])
    assert ei.value.code == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and err[0].startswith("error: ") and "level_embed.weight" in err[0]
    assert not (tmp_path / "out").exists()


def test_pickle_with_code_is_refused(tmp_path):
    import pickle

    from zs.errors import ZsError
    from zs.extract.d2 import load_d2_checkpoint

    class Evil:
        def __reduce__(self):
            return (print, ("pwned",))

    with open(tmp_path / "m.pkl", "wb") as f:
        pickle.dump({"model": {"a": Evil()}}, f)
    with pytest.raises(ZsError, match="refusing to load builtins.print"):
        load_d2_checkpoint(tmp_path / "m.pkl")


def test_commands_have_help():
    from click.testing import CliRunner

    from zs.cli import cli

    for cmd in ("convert-checkpoint", "segment"):
        r = CliRunner().invoke(cli, [cmd, "--help"])
        assert r.exit_code == 0 and "Usage" in r.output
