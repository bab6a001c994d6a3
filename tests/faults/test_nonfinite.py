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
    assert blob["iteration"] == 2 and all(torch.isfinite(v).all() for v in blob["gen"].values())
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
