"""Training on a toy store: MMD falls, determinism, resume, artifacts, bad input."""

import types

import numpy as np
import pandas as pd
import pytest
import torch

from tests.generate.conftest import small_cfg
from zs.errors import ConfigError, ProvenanceError, StoreError, ZsError
from zs.generate.artifact import check_generator_fits, generator_manifest, load_generator
from zs.generate.data import _check_matched
from zs.generate.losses import mmd_loss
from zs.generate.train import fit_generator
from zs.heads import load_head
from zs.store import open_store


def _real(store):
    x, y = next(open_store(store).split("train").matched_batches(200, seed=123))
    return x, y


def _mmd_to_real(gen_dir, x, y):
    g = load_generator(gen_dir)
    return float(mmd_loss(g.sample(y, generator=torch.Generator().manual_seed(0)), x))


@pytest.mark.parametrize("kind,schedule", [("gmmn", "pading"), ("primitive", "pading"), ("vae", "two-stage")])
def test_mmd_to_real_falls(toy_store, tmp_path, kind, schedule):
    x, y = _real(toy_store)
    kw = dict(kind=kind, schedule=schedule, lr=2e-3, batch_images=8)
    before = fit_generator(small_cfg(toy_store, tmp_path / "a", iterations=1, **kw))
    after = fit_generator(small_cfg(toy_store, tmp_path / "b", iterations=40, **kw))
    m0, m1 = _mmd_to_real(before, x, y), _mmd_to_real(after, x, y)
    assert m1 < 0.85 * m0, (m0, m1)


def _weights(path):
    return torch.load(path / "weights.pt", weights_only=True)


def _same(a, b):
    return a.keys() == b.keys() and all(torch.equal(a[k], b[k]) for k in a)


def test_same_seed_same_weights_other_seed_differs(toy_store, tmp_path):
    a = fit_generator(small_cfg(toy_store, tmp_path / "a", seed=3))
    b = fit_generator(small_cfg(toy_store, tmp_path / "b", seed=3))
    c = fit_generator(small_cfg(toy_store, tmp_path / "c", seed=4))
    assert _same(_weights(a), _weights(b))
    assert _same(_weights(a / "head"), _weights(b / "head"))
    assert not _same(_weights(a), _weights(c))


@pytest.mark.parametrize("kind,schedule", [("primitive", "pading"), ("vae", "two-stage")])
def test_resume_equals_uninterrupted(toy_store, tmp_path, kind, schedule):
    full = fit_generator(small_cfg(toy_store, tmp_path / "full", kind=kind, schedule=schedule, iterations=8))
    part = tmp_path / "part"
    fit_generator(small_cfg(toy_store, part, kind=kind, schedule=schedule, iterations=8), stop_after=3)
    assert (part / "checkpoint.pt").is_file() and not (part / "weights.pt").exists()
    with pytest.raises(ZsError, match="--resume"):
        fit_generator(small_cfg(toy_store, part, kind=kind, schedule=schedule, iterations=8))
    with pytest.raises(ConfigError, match="lr"):
        fit_generator(small_cfg(toy_store, part, kind=kind, schedule=schedule, iterations=8, lr=1e-3, resume=True))
    fit_generator(small_cfg(toy_store, part, kind=kind, schedule=schedule, iterations=8, resume=True))
    assert _same(_weights(full), _weights(part))
    assert not (part / "checkpoint.pt").exists()
    if schedule == "pading":
        assert _same(_weights(full / "head"), _weights(part / "head"))


def test_pading_head_artifact_and_manifest(toy_store, tmp_path):
    out = fit_generator(small_cfg(toy_store, tmp_path / "g", iterations=4))
    store = open_store(toy_store)
    head = load_head(out / "head")
    seen = load_head(store.seen_head_path)
    assert head.cfg.method == "pading" and head.cfg.vocab_sha256 == store.vocab.sha256
    assert not torch.equal(head.fc.weight, seen.fc.weight)
    m = generator_manifest(out)
    assert m["kind"] == "zs-generator" and m["store_sha256"] == store.sha256
    assert m["vocab_sha256"] == store.vocab.sha256 and m["seed"] == 0 and m["text_sha256"]
    assert m["zs_version"] and m["config"]["kind"] == "primitive"
    check_generator_fits(out, store)


def test_check_generator_fits_refuses_other_store(toy_store, tmp_path):
    from toyworld.store import write_toy_store

    out = fit_generator(small_cfg(toy_store, tmp_path / "g", iterations=1, schedule="two-stage"))
    other = write_toy_store(tmp_path / "other", n_train=8, n_val=0, num_queries=4, dim=8, text_dim=16,
                            masks=False, clip=False)
    with pytest.raises(ProvenanceError, match="query dim"):
        check_generator_fits(out, other)


def test_gv2s_with_projector(toy_store, tmp_path):
    from zs.heads import HeadConfig, build_head, save_head

    store = open_store(toy_store)
    text, _ = store.text()
    cfg = HeadConfig(kind="projector", query_dim=32, num_classes=8, seen=list(store.vocab.seen_mask()),
                     text_dim=16, vocab_sha256=store.vocab.sha256)
    save_head(build_head(cfg, torch.from_numpy(text)), tmp_path / "proj", {"kind": "head"})
    out = fit_generator(small_cfg(toy_store, tmp_path / "g", kind="vae", schedule="two-stage", iterations=3,
                                  projector=str(tmp_path / "proj"), gv2s=True))
    assert "gv2s" in generator_manifest(out)["final_losses"]
    with pytest.raises(ConfigError, match="projector head"):
        fit_generator(small_cfg(toy_store, tmp_path / "h", kind="vae", schedule="two-stage", gv2s=True,
                                projector=str(open_store(toy_store).seen_head_path)))


@pytest.mark.parametrize("switches,present,absent", [
    (dict(kind="gmmn", alignment=False, disentangle=False), ["mmd", "cls"], ["align", "recon"]),
    (dict(alignment=True, disentangle=False), ["align"], ["recon", "relation"]),
    (dict(alignment=False, disentangle=True), ["recon", "relation", "unrelated"], ["align"]),
    (dict(), ["align", "recon", "relation", "unrelated", "structure"], []),
])
def test_ablation_switches_select_losses(toy_store, tmp_path, switches, present, absent):
    out = fit_generator(small_cfg(toy_store, tmp_path / "g", iterations=1, **switches))
    losses = generator_manifest(out)["final_losses"]
    assert all(k in losses for k in present), losses
    assert not any(k in losses for k in absent), losses


def test_bad_input_text_and_dims(toy_store, tmp_path):
    with pytest.raises(StoreError, match="no text embeddings 'clip-l'"):
        fit_generator(small_cfg(toy_store, tmp_path / "a", text_name="clip-l"))
    with pytest.raises(ConfigError, match="query dim 32"):
        fit_generator(small_cfg(toy_store, tmp_path / "b", query_dim=64))
    with pytest.raises(ConfigError, match="text embedding dim 16"):
        fit_generator(small_cfg(toy_store, tmp_path / "c", text_dim=512))
    with pytest.raises(StoreError, match="no split 'val'"):
        fit_generator(small_cfg(toy_store, tmp_path / "d", split="val"))
    assert not (tmp_path / "a").exists() and not (tmp_path / "b").exists()  # refused before training


def test_bad_input_no_unseen_classes(tmp_path):
    from toyworld.store import TOY_CATEGORIES, write_toy_store
    from zs.vocab import Vocabulary

    vocab = Vocabulary.from_dict({"name": "all-seen", "categories": [{**c, "seen": True} for c in TOY_CATEGORIES]})
    write_toy_store(tmp_path / "s", vocab=vocab, n_train=8, n_val=0, num_queries=4, dim=8, text_dim=8,
                    masks=False, clip=False)
    with pytest.raises(ConfigError, match="no unseen classes"):
        fit_generator(small_cfg(str(tmp_path / "s"), tmp_path / "g"))


def test_bad_input_no_matched_queries():
    split = types.SimpleNamespace(name="train", queries=lambda columns=None: pd.DataFrame({"label": [8, 8, 8]}))
    with pytest.raises(StoreError, match="no matched queries"):
        _check_matched(split, 8, "store X")
    ok = types.SimpleNamespace(name="train", queries=lambda columns=None: pd.DataFrame({"label": [8, 2]}))
    _check_matched(ok, 8, "store X")


def test_cli_fit_and_sample(toy_store, tmp_path):
    from tests.conftest import run_cli

    g = tmp_path / "g"
    r = run_cli(["fit-generator", "--store", toy_store, "--out", g, "--iterations", 2, "--batch-images", 4,
                 "--num-primitives", 16, "--device", "cpu", "--no-progress", "--threads", 1])
    assert r.exit_code == 0, r.output
    assert torch.get_num_threads() == 1
    r = run_cli(["sample", "--generator", g, "--classes", "unseen", "--per-class", 5, "--out", tmp_path / "f.npz",
                 "--device", "cpu"])
    assert r.exit_code == 0, r.output
    z = np.load(tmp_path / "f.npz")
    assert z["features"].shape == (10, 32) and z["features"].dtype == np.float32
    assert z["labels"].tolist() == [3] * 5 + [7] * 5 and z["category_ids"].tolist() == [4] * 5 + [8] * 5
    r = run_cli(["sample", "--generator", g, "--classes", "4,1", "--per-class", 2, "--out", tmp_path / "h.npz"])
    assert r.exit_code == 0 and np.load(tmp_path / "h.npz")["labels"].tolist() == [3, 3, 0, 0]
    r = run_cli(["sample", "--generator", g, "--classes", "99", "--out", tmp_path / "x.npz"])
    assert isinstance(r.exception, ZsError) and "99" in str(r.exception)
    r = run_cli(["fit-generator", "--store", toy_store, "--out", tmp_path / "v", "--kind", "vae", "--gv2s"])
    assert isinstance(r.exception, ConfigError) and "--projector" in str(r.exception)
