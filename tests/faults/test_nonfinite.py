"""NaN/Inf never propagates silently: poisoned stores and weights are refused, diverging runs stop."""

import math
import shutil

import numpy as np
import pytest
import torch

from faultkit import poison, refused, tree, zs

GEN = ["--kind", "gmmn", "--schedule", "two-stage", "--batch-images", "4", "--batch-size", "32",
       "--device", "cpu", "--no-progress"]
ADAPT = ["--steps", "2", "--images-per-batch", "4", "--device", "cpu", "--no-progress"]


def test_fit_generator_refuses_nan_store(store, tmp_path, capsys):
    poison(store, "train", "query_embed", 13)
    before = tree(store)
    line = refused(["fit-generator", "--store", store, "--out", tmp_path / "g", "--iterations", 2, *GEN], capsys,
                   "split 'train'", "query_embed", "1 rows", "first row 13", "fit-generator refused")
    assert "zs store verify" in line
    assert tree(store) == before and not (tmp_path / "g").exists()


@pytest.mark.parametrize("method", ["seen-only", "projection", "classifier", "v2c", "cpa"])
def test_adapt_refuses_nan_store_every_method(world, store, tmp_path, capsys, method):
    poison(store, "train", "query_embed", 5, np.inf)
    poison(store, "train", "query_embed", 20)
    before = tree(store)
    extra = ["--generator", world["gen"]] if method in ("classifier", "cpa") else []
    refused(["adapt", "--store", store, "--method", method, "--out", tmp_path / "h", *ADAPT, *extra], capsys,
            "split 'train'", "query_embed", "2 rows", "first row 5", f"adapt --method {method} refused")
    assert tree(store) == before and not (tmp_path / "h").exists()


def test_adapt_v2c_refuses_nan_segment_token(store, tmp_path, capsys):
    poison(store, "train", "clip_segment", 2)
    refused(["adapt", "--store", store, "--method", "v2c", "--out", tmp_path / "h", *ADAPT], capsys,
            "clip_segment", "segment rows", "first row 2")


def test_evaluate_refuses_nan_store_and_nan_head(world, store, tmp_path, capsys):
    poison(store, "val", "query_embed", 6)
    refused(["evaluate", "--store", store, "--head", world["head"], "--out", tmp_path / "e", "--device", "cpu",
             "--no-progress"], capsys, "split 'val'", "query_embed", "first row 6", "evaluate refused")
    assert not (tmp_path / "e").exists()
    head = shutil.copytree(world["head"], tmp_path / "head")
    sd = torch.load(head / "weights.pt", weights_only=True)
    name = next(k for k, v in sd.items() if v.is_floating_point())
    sd[name].view(-1)[0] = float("nan")
    torch.save(sd, head / "weights.pt")
    refused(["evaluate", "--store", world["store"], "--head", head, "--out", tmp_path / "e", "--device", "cpu",
             "--no-progress"], capsys, f"head {head}", name, "NaN/Inf")
    assert not (tmp_path / "e").exists()  # no empty --out left behind


def test_diagnose_refuses_nan_store_and_nan_generator(world, store, tmp_path, capsys):
    poison(store, "val", "query_embed", 1)
    args = ["diagnose", "--generator", world["gen"], "--out", tmp_path / "d", "--no-plots", "--device", "cpu",
            "--no-progress"]
    refused([*args[:1], "--store", store, *args[1:]], capsys, "split 'val'", "first row 1", "diagnose refused")
    gen = shutil.copytree(world["gen"], tmp_path / "gen")
    sd = torch.load(gen / "weights.pt", weights_only=True)
    name = next(k for k, v in sd.items() if v.is_floating_point())
    sd[name].view(-1)[0] = float("inf")
    torch.save(sd, gen / "weights.pt")
    refused(["diagnose", "--store", world["store"], "--generator", gen, *args[3:]], capsys,
            f"generator {gen}", name, "NaN/Inf")
    assert not (tmp_path / "d").exists()


def _nan_after(real, n_calls):
    """Wrap a loss function so that its ``n_calls``-th call onwards returns NaN (a diverging run)."""
    calls = {"n": 0}

    def wrapped(*a, **k):
        out = real(*a, **k)
        calls["n"] += 1
        if calls["n"] < n_calls:
            return out
        if isinstance(out, tuple):
            return (out[0] * math.nan, *out[1:])
        return out * math.nan

    return wrapped


def test_fit_generator_stops_on_nan_loss_keeping_last_checkpoint(world, tmp_path, capsys, monkeypatch):
    import zs.generate.objectives as O

    out = tmp_path / "g"
    monkeypatch.setattr(O, "generator_loss", _nan_after(O.generator_loss, 4))
    args = ["fit-generator", "--store", world["store"], "--out", out, "--iterations", 6, "--checkpoint-every", 2,
            *GEN]
    line = refused(args, capsys, "fit-generator: loss 'gen' is nan at iteration 4",
                   f"last good checkpoint: {out / 'checkpoint.pt'} (iteration 2)")
    ck = out / "checkpoint.pt"
    blob = torch.load(ck, weights_only=False)
    assert blob["step"] == 2 and all(torch.isfinite(v).all() for v in blob["gen"].values())
    assert not (out / "weights.pt").exists() and "Traceback" not in line


def test_fit_generator_stops_on_nan_parameter_before_checkpoint(world, tmp_path, capsys, monkeypatch):
    import zs.generate.train as T

    real, calls = T.train_step, {"n": 0}

    def corrupting(cfg, st, batch):  # iteration 2 ends with a NaN weight that no loss has seen yet
        parts = real(cfg, st, batch)
        calls["n"] += 1
        if calls["n"] == 2:
            with torch.no_grad():
                next(st.gen.parameters()).view(-1)[0] = float("nan")
        return parts

    monkeypatch.setattr(T, "train_step", corrupting)
    out = tmp_path / "g"
    refused(["fit-generator", "--store", world["store"], "--out", out, "--iterations", 4, "--checkpoint-every", 2,
             *GEN], capsys, "parameter 'gen.", "at iteration 2", "no checkpoint was written yet")
    assert not (out / "checkpoint.pt").exists()


def test_adapt_stops_on_nan_loss_keeping_last_checkpoint(world, tmp_path, capsys, monkeypatch):
    import zs.adapt.cpa as cpa

    monkeypatch.setattr(cpa, "focal_alignment_loss", _nan_after(cpa.focal_alignment_loss, 3))
    out = tmp_path / "h"
    refused(["adapt", "--store", world["store"], "--method", "cpa", "--generator", world["gen"], "--out", out,
             "--steps", 5, "--checkpoint-every", 1, "--images-per-batch", 4, "--device", "cpu", "--no-progress"],
            capsys, "adapt --method cpa: loss 'loss' is nan at iteration 3",
            f"last good checkpoint: {out / 'checkpoint.pt'} (iteration 2)")
    state = torch.load(out / "checkpoint.pt", weights_only=False)
    assert state["step"] == 2 and not (out / "weights.pt").exists()
    code, err, _ = zs(["store", "verify", world["store"]], capsys)
    assert code == 0, err


def test_train_segmenter_stops_on_a_diverging_loss(tmp_path):
    import dataclasses

    from zs.guard import NonFiniteError
    from zs.synth.dataset import SynthConfig, write_synth
    from zs.synth.segmenter_config import PRESETS
    from zs.synth.train import CHECKPOINT, train_segmenter

    micro = dataclasses.replace(
        PRESETS["tiny"], backbone_hidden_sizes=(8, 16, 32, 32), backbone_embedding_size=8, feature_size=32,
        mask_feature_size=32, hidden_dim=32, encoder_layers=1, encoder_feedforward_dim=32, decoder_layers=2,
        num_attention_heads=2, dim_feedforward=32, num_queries=8, train_num_points=256, image_size=32, max_size=32,
        steps=4, batch_size=4, warmup_steps=0, lr=1e30, checkpoint_every=1, hflip=False)  # lr 1e30: diverges
    data = write_synth(tmp_path / "w", SynthConfig(seed=1, train=4, val=1, size=32))
    out = tmp_path / "m"
    with pytest.raises(NonFiniteError, match=r"train-segmenter: .* at iteration \d") as e:
        train_segmenter(data, out, micro, seed=0, device="cpu")
    assert "last good checkpoint" in str(e.value) and len(str(e.value).splitlines()) == 1
    ck = torch.load(out / CHECKPOINT, weights_only=False)
    assert all(torch.isfinite(v).all() for v in ck["model"].values() if v.is_floating_point())
    assert f"(iteration {ck['step']})" in str(e.value)


def _nan_weights(src, dst, value=float("nan")):
    d = shutil.copytree(src, dst)
    sd = torch.load(d / "weights.pt", weights_only=True)
    name = next(k for k, v in sd.items() if v.is_floating_point())
    sd[name].view(-1)[0] = value
    torch.save(sd, d / "weights.pt")
    return d, name


def test_nan_seen_head_and_generator_are_refused_without_leaving_folders(world, store, tmp_path, capsys):
    _, name = _nan_weights(store / "seen_head", tmp_path / "h0")
    shutil.rmtree(store / "seen_head")
    shutil.copytree(tmp_path / "h0", store / "seen_head")
    refused(["fit-generator", "--store", store, "--out", tmp_path / "g", "--iterations", 2, "--no-progress",
             "--device", "cpu"], capsys, "seen_head", name, "NaN/Inf")
    assert not (tmp_path / "g").exists()
    gen, name = _nan_weights(world["gen"], tmp_path / "gen")
    refused(["adapt", "--store", world["store"], "--method", "classifier", "--generator", gen, "--out",
             tmp_path / "o" / "h", *ADAPT], capsys, f"generator {gen}", name)
    assert not (tmp_path / "o").exists()
