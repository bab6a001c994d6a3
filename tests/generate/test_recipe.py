"""PADing's recipe: LR schedules per optimizer, the three protocol presets, the generator CE's logits,
and the refusal of a training split holding matched queries of unseen classes."""

import json

import numpy as np
import pytest
import torch
from torch import nn

from tests.conftest import run_cli
from tests.generate.conftest import small_cfg
from zs.errors import StoreError
from zs.generate.config import PRESETS, FitConfig, fit_config
from zs.generate.objectives import StepInputs, _generator_ce
from zs.generate.train import CHECKPOINT, fit_generator, make_optimizers


def _lrs(schedule, iterations=20, **kw):
    cfg = FitConfig(iterations=iterations, lr_schedule=schedule, **kw)
    gen, cls = nn.Linear(2, 2), nn.Linear(2, 3)
    opt_g, opt_c, scheds = make_optimizers(cfg, gen, None, cls, "cpu")
    out = []
    for _ in range(iterations):
        out.append((opt_g.param_groups[0]["lr"], opt_c.param_groups[0]["lr"]))
        opt_g.step()
        opt_c.step()
        for s in scheds:
            s.step()
    return np.array(out)  # [iterations, 2]: (generator lr, classifier lr) used at each iteration


def test_generator_lr_schedules_and_constant_classifier_lr():
    it = np.arange(20)
    multi = _lrs("multistep", lr_steps=(0.7, 0.925))  # milestones 14 and round(18.5) = 18
    assert np.allclose(multi[:, 0], 5e-4 * 0.1 ** ((it >= 14).astype(int) + (it >= 18)))
    poly = _lrs("poly")
    assert np.allclose(poly[:, 0], 5e-4 * (1 - it / 20) ** 0.9)
    const = _lrs("constant")
    assert np.allclose(const[:, 0], 5e-4)
    for lrs in (multi, poly, const):  # PADing's classifier SGD has no scheduler
        assert np.all(lrs[:, 1] == 1e-3)


def test_fit_run_keeps_classifier_lr(toy_store, tmp_path):
    """In a real PADing-schedule run the generator Adam decays, the classifier SGD stays at 1e-3."""
    cfg = small_cfg(toy_store, tmp_path / "g", iterations=6, lr_steps=(0.5,))
    fit_generator(cfg, stop_after=4)
    blob = torch.load(tmp_path / "g" / CHECKPOINT, weights_only=False)
    assert blob["opt_g"]["param_groups"][0]["lr"] == pytest.approx(5e-5)
    assert blob["opt_c"]["param_groups"][0]["lr"] == 1e-3


def test_presets_hold_the_released_values():
    pan, sem, ins = (fit_config(p) for p in ("pading-panoptic", "pading-semantic", "pading-instance"))
    rows = [(c.structure_weight, c.generator.dropout, c.disentangle_dropout, c.lr_schedule, c.iterations,
             c.unseen_class_weight, c.no_object_weight, c.num_choose, c.gen_ce_logits, c.relation_classes,
             c.schedule, c.batch_images) for c in (pan, sem, ins)]
    assert rows == [
        (1e-4, 0.1, 0.1, "multistep", 20000, 5.0, 0.1, 5, "all", "all", "pading", 12),
        (1e-3, 0.3, 0.2, "poly", 2000, 5.0, 0.1, 17, "seen", "all", "pading", 12),
        (1e-3, 0.1, 0.1, "constant", 4000, 2.0, 0.1, 5, "all", "seen", "pading", 12),
    ]
    assert pan.lr_steps == (0.7, 0.925) and [round(f * 20000) for f in pan.lr_steps] == [14000, 18500]
    for c in (pan, sem, ins):  # common to the three: Adam 5e-4, SGD 1e-3, released L_U, weights 1 / 1 / 0.5
        assert (c.lr, c.cls_lr, c.unrelated_kl, c.align_weight, c.relation_weight, c.recon_weight) == (
            5e-4, 1e-3, "released", 1.0, 1.0, 0.5)
    # the defaults are the panoptic protocol
    default = FitConfig()
    assert all(getattr(default, k) == getattr(pan, k) for k in PRESETS["pading-panoptic"] if k != "gen_dropout")
    assert default.generator.dropout == pan.generator.dropout
    # explicit values override a preset
    c = fit_config("pading-semantic", structure_weight=5e-3, gen_dropout=0.0, iterations=3)
    assert (c.structure_weight, c.generator.dropout, c.iterations, c.lr_schedule) == (5e-3, 0.0, 3, "poly")


def test_cli_preset_and_explicit_override(toy_store, tmp_path):
    g = tmp_path / "g"
    r = run_cli(["fit-generator", "--store", toy_store, "--out", g, "--preset", "pading-instance", "--iterations", 2,
                 "--batch-images", 4, "--num-primitives", 16, "--device", "cpu", "--no-progress", "--threads", 1])
    assert r.exit_code == 0, r.output
    cfg = json.loads((g / "manifest.json").read_text())["config"]
    assert (cfg["preset"], cfg["iterations"], cfg["batch_images"]) == ("pading-instance", 2, 4)  # explicit wins
    assert (cfg["structure_weight"], cfg["lr_schedule"], cfg["unseen_class_weight"]) == (1e-3, "constant", 2.0)
    assert cfg["generator"]["dropout"] == 0.1
    r = run_cli(["fit-generator", "--store", toy_store, "--out", tmp_path / "x", "--preset", "pading-fancy"])
    assert r.exit_code == 2 and "pading-fancy" in r.output


def test_pipeline_stage_preset(monkeypatch, tmp_path):
    import zs.generate.train as train
    from zs.pipelines.stages import STAGE_TYPES, run_fit_generator

    seen = []
    monkeypatch.setattr(train, "fit_generator", lambda cfg: seen.append(cfg) or tmp_path)
    ctx = type("Ctx", (), {"device": "cpu", "progress": False})()
    defaults = {k: d for k, (_, d) in STAGE_TYPES["fit-generator"].params.items()}
    base = {**defaults, "kind": "primitive"}
    run_fit_generator({**base, "preset": "pading-semantic", "iterations": 7}, {"store": {"dir": "S"}}, tmp_path, ctx)
    run_fit_generator(base, {"store": {"dir": "S"}}, tmp_path, ctx)
    sem, plain = seen
    assert (sem.preset, sem.iterations, sem.structure_weight, sem.lr_schedule, sem.schedule) == (
        "pading-semantic", 7, 1e-3, "poly", "pading")
    assert sem.generator.dropout == 0.3 and sem.gen_ce_logits == "seen"
    assert (plain.preset, plain.iterations, plain.schedule, plain.structure_weight) == (None, 2000, "two-stage", 1e-4)


def test_generator_ce_seen_logits_only():
    """"seen": the CE over the seen classes' logits (PADing semantic: new_fc(fake)[:, :156]); "all": K+1."""
    torch.manual_seed(0)
    k, seen, unseen = 5, torch.tensor([0, 2, 4]), torch.tensor([1, 3])
    logits = torch.randn(6, k + 1)
    labels = torch.tensor([0, 2, 4, 4, 2, 0])
    inp = StepInputs(real=None, labels=labels, unmatched=None, unseen_ids=unseen, seen_ids=seen,
                     all_ids=torch.arange(k))
    want = torch.nn.functional.cross_entropy(logits[:, [0, 2, 4]], torch.tensor([0, 1, 2, 2, 1, 0]))
    assert torch.allclose(_generator_ce(FitConfig(gen_ce_logits="seen"), logits, inp), want)
    assert torch.allclose(_generator_ce(FitConfig(), logits, inp),
                          torch.nn.functional.cross_entropy(logits, labels))
    big = logits.clone()
    big[:, [1, 3, k]] += 10.0  # unseen and no-object logits do not enter the "seen" CE
    assert torch.allclose(_generator_ce(FitConfig(gen_ce_logits="seen"), big, inp), want)


def _ce(scores, labels):
    return torch.nn.functional.cross_entropy(scores, labels)


def test_relation_classes_seen_scores_against_seen_vectors_only():
    """relation_classes "seen": L_R's seen term is the CE of the relation scores vs the seen classes' vectors."""
    from zs.generate.config import GeneratorConfig
    from zs.generate.models import build_generator
    from zs.generate.objectives import _structure_loss
    from zs.generate.structure import Disentangler

    torch.manual_seed(0)
    k, seen, unseen = 5, torch.tensor([0, 2, 4]), torch.tensor([1, 3])
    gen = build_generator(GeneratorConfig(query_dim=8, text_dim=4, num_classes=k, num_primitives=4, num_heads=2),
                          torch.randn(k, 4))
    dis = Disentangler(8, 8, 0.0)
    labels = torch.tensor([0, 2, 4, 2])
    inp = StepInputs(real=None, labels=labels, unmatched=None, unseen_ids=unseen, seen_ids=seen,
                     all_ids=torch.arange(k))
    fs, fu = torch.randn(4, 8), torch.randn(2, 8)
    terms = {rc: _structure_loss(FitConfig(relation_classes=rc).resolved(), gen, dis, fs, fu, inp)[1]
             for rc in ("all", "seen")}
    r_s, r_u = dis.related(fs), dis.related(fu)
    sem = gen.semantic_vectors(torch.arange(k))
    ce_u = _ce(dis.relation(r_u, sem[unseen]), torch.arange(2))
    want_all = 0.2 * (_ce(dis.relation(r_s, sem), labels) + ce_u) / 2
    want_seen = 0.2 * (_ce(dis.relation(r_s, sem[seen]), torch.tensor([0, 1, 2, 1])) + ce_u) / 2
    assert torch.allclose(terms["all"]["relation"], want_all) and torch.allclose(terms["seen"]["relation"], want_seen)
    assert not torch.allclose(want_all, want_seen)


@pytest.fixture(scope="module")
def store_with_unseen(tmp_path_factory):
    """A toy store whose val split holds matched queries of the unseen classes (star, water)."""
    from toyworld.store import write_toy_store

    path = tmp_path_factory.mktemp("unseen") / "store"
    write_toy_store(path, n_train=8, n_val=8, num_queries=16, dim=32, text_dim=16, masks=False, clip=False)
    return str(path)


def test_split_with_unseen_queries_is_refused(store_with_unseen, tmp_path):
    from zs.store import open_store
    from zs.store.unseen import unseen_matched_counts

    store = open_store(store_with_unseen)
    labels = store.split("val").queries(columns=["label"])["label"].to_numpy()
    counts = unseen_matched_counts(store.split("val"), store.vocab)
    assert counts == {3: int((labels == 3).sum()), 7: int((labels == 7).sum())} and min(counts.values()) > 0
    assert unseen_matched_counts(store.split("train"), store.vocab) == {}

    g = tmp_path / "g"
    common = ["--store", store_with_unseen, "--split", "val", "--iterations", 1, "--batch-images", 4,
              "--num-primitives", 16, "--device", "cpu", "--no-progress"]
    r = run_cli(["fit-generator", "--out", g, *common])
    msg = str(r.exception)
    assert isinstance(r.exception, StoreError) and "\n" not in msg
    assert f"star (id 4) x{counts[3]}" in msg and f"water (id 8) x{counts[7]}" in msg
    assert "split 'val'" in msg and "--allow-unseen-in-train" in msg
    assert not g.exists()  # refused before anything was written
    r = run_cli(["fit-generator", "--out", g, *common, "--allow-unseen-in-train"])
    assert r.exit_code == 0, r.output

    h = tmp_path / "h"
    r = run_cli(["adapt", "--store", store_with_unseen, "--method", "projection", "--split", "val", "--out", h,
                 "--device", "cpu", "--no-progress"])
    assert isinstance(r.exception, StoreError) and "water (id 8)" in str(r.exception) and not h.exists()
    r = run_cli(["adapt", "--store", store_with_unseen, "--method", "projection", "--split", "val", "--out", h,
                 "--device", "cpu", "--no-progress", "--allow-unseen-in-train"])
    assert r.exit_code == 0, r.output
