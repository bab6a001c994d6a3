import math
"""zs adapt methods on a toy store: objectives go down, heads round-trip, unseen improves."""

import json

import numpy as np
import pytest
import torch

from toyworld.adapt import make_adapt_store, matched_accuracy
from toyworld.store import matched_queries
from zs.adapt import AdaptConfig, adapt
from zs.heads import load_head
from zs.store.reader import SplitReader

torch.set_num_threads(1)


@pytest.fixture(scope="module")
def world(tmp_path_factory):
    root = tmp_path_factory.mktemp("adapt")
    store, gen = make_adapt_store(root / "store")
    return root, store, gen


def _run(world, method, name=None, **kw):
    root, store, gen = world
    kw.setdefault("device", "cpu")
    if method in ("classifier", "cpa"):
        kw.setdefault("generator", gen)
    out = adapt(AdaptConfig(store=store, method=method, out=root / (name or method), **kw))
    return load_head(out), json.loads((out / "manifest.json").read_text())


def _acc(world, head):
    store = world[1]
    val = store.split("val")
    return matched_accuracy(head, val, store.vocab.seen_indices), matched_accuracy(head, val, store.vocab.unseen_indices)


def test_seen_only_copies_the_seen_head_and_stamps_identity(world):
    root, store, _ = world
    head, man = _run(world, "seen-only")
    seen = load_head(store.seen_head_path)
    for k, v in seen.state_dict().items():
        assert torch.equal(v, head.state_dict()[k])
    assert head.cfg.method == "seen-only"
    assert head.cfg.store_sha256 == store.sha256
    assert head.cfg.vocab_sha256 == store.vocab.sha256
    assert head.cfg.segmenter_sha256 == store.identity.segmenter_sha256
    assert man["inputs"]["store"]["sha256"] == store.sha256 and man["method"] == "seen-only"
    seen_acc, unseen_acc = _acc(world, head)
    assert seen_acc > 0.95 and unseen_acc == 0.0


def test_classifier_beats_seen_only_on_unseen(world):
    base, _ = _run(world, "seen-only", name="base")
    head, man = _run(world, "classifier", steps=1500, seed=1)
    seen_b, unseen_b = _acc(world, base)
    seen_c, unseen_c = _acc(world, head)
    assert unseen_c > unseen_b + 0.5, (unseen_b, unseen_c)
    assert seen_c > 0.8
    loss = man["training"]["loss"]
    assert loss["last"] < 0.5 * loss["first"]
    assert man["config"]["classifier"]["unseen_weight"] == 5.0 and man["seed"] == 1
    assert head.cfg.kind == "linear" and head.cfg.method == "classifier"


def test_projection_is_inductive_and_fits_no_object(world):
    head, man = _run(world, "projection", steps=200)
    assert head.cfg.kind == "projector" and head.cfg.hidden_dim == 0
    tr = man["training"]
    assert tr["no_object"]["last"] < tr["no_object"]["first"]
    assert tr["ridge_residual"] < 0.5
    seen_acc, _ = _acc(world, head)
    assert seen_acc > 0.8
    assert "generator" not in man["inputs"]


def test_v2c_reduces_every_term(world):
    head, man = _run(world, "v2c", steps=150, fit_scale=False)  # the training itself, no post-hoc scale
    tr = man["training"]
    for term in ("v2s", "global", "instance", "no_object", "loss"):
        assert tr[term]["last"] < tr[term]["first"], term
    assert _acc(world, head)[0] > 0.8
    assert head.cfg.logit_scale == 1.0 and "logit_scale" not in man["calibration"]


def test_projector_heads_fit_their_logit_scale_on_training_queries(world):
    from zs.adapt.logit_scale import scaled_ce, training_queries

    root, store, _ = world
    plain, _ = _run(world, "v2c", name="v2c_plain", steps=60, fit_scale=False)
    head, man = _run(world, "v2c", name="v2c_scaled", steps=60)
    rec = man["calibration"]["logit_scale"]
    assert head.cfg.logit_scale == pytest.approx(rec["logit_scale"]) and rec["logit_scale"] != 1.0
    assert rec["ce_after"] < rec["ce_before"] and rec["effective_tau"] == pytest.approx(0.07 / rec["logit_scale"])
    # same projector (trained identically), only the scale and the no-object logit differ
    for k, v in plain.state_dict().items():
        if not k.startswith("no_object"):
            assert torch.equal(v, head.state_dict()[k]), k
    # the fitted head has the lower K+1 cross-entropy on the training queries (what was minimised)
    embed, cos, labels = training_queries(plain, store.split("train"), device="cpu", seed=0, max_queries=50000)
    zero = torch.zeros(())
    with torch.no_grad():
        ce_plain = scaled_ce(cos, plain.no_object(embed), labels, 0.07, zero, 0.1)
        ce_fit = scaled_ce(cos, head.no_object(embed), labels, 0.07, torch.tensor(rec["logit_scale"]).log(), 0.1)
    assert float(ce_fit) < float(ce_plain)
    seen_only, man = _run(world, "seen-only", name="so_scale")  # linear heads are left alone
    assert "logit_scale" not in man["calibration"]


def test_logit_scale_ce_by_hand():
    from zs.adapt.logit_scale import scaled_ce

    cos = torch.tensor([[0.5, 0.0]])  # one query, K = 2; tau 0.5, scale e^0 = 1 -> logits [1, 0, nob]
    nob = torch.tensor([[0.0]])
    loss = scaled_ce(cos, nob, torch.tensor([0]), 0.5, torch.zeros(()), 0.1)
    assert float(loss) == pytest.approx(-math.log(math.e / (math.e + 1 + 1)))
    loss = scaled_ce(cos, nob, torch.tensor([2]), 0.5, torch.log(torch.tensor(2.0)), 0.1)  # logits [2, 0, 0]
    assert float(loss) == pytest.approx(-math.log(1 / (math.e ** 2 + 2)))  # weighted mean of one item = its CE


def test_v2c_switches(world):
    _, man = _run(world, "v2c", name="v2s_only", steps=20, projector=_params(v2t=False, instance=False))
    assert set(man["training"]) >= {"v2s", "no_object"}
    assert "global" not in man["training"] and "instance" not in man["training"]
    _, man = _run(world, "v2c", name="v2t_only", steps=20, projector=_params(v2s=False))
    assert "v2s" not in man["training"] and "global" in man["training"]


def _params(**kw):
    from zs.adapt import ProjectorParams

    return ProjectorParams(**kw)


def test_cpa_reduces_objective_and_learns_unseen(world):
    v2c_dir = world[0] / "v2c_init"
    adapt(AdaptConfig(store=world[1], method="v2c", out=v2c_dir, steps=60, device="cpu"))
    head, man = _run(world, "cpa", steps=200, init_head=v2c_dir)
    tr = man["training"]
    assert tr["synth_unseen"]["last"] < tr["synth_unseen"]["first"]
    assert tr["real_seen"]["last"] < tr["real_seen"]["first"]
    assert man["inputs"]["init_head"]["path"] == str(v2c_dir)
    _, unseen_init = _acc(world, load_head(v2c_dir))
    _, unseen_acc = _acc(world, head)
    assert unseen_acc > unseen_init + 0.3, (unseen_init, unseen_acc)
    # the init head's no-object scores are kept: of the unseen queries given a real class, nearly all get theirs
    store = world[1]
    x, y = matched_queries(store.split("val"))
    unseen = np.isin(y, store.vocab.unseen_indices)
    with torch.no_grad():
        pred = head(torch.from_numpy(x[unseen])).argmax(-1).numpy()
    real = pred < store.vocab.num_classes
    assert real.any() and (pred[real] == y[unseen][real]).mean() > 0.9


def test_head_round_trip_gives_identical_logits(world):
    head, _ = _run(world, "v2c", name="rt", steps=5, gamma=0.5)
    again = load_head(world[0] / "rt")
    store = world[1]
    x = torch.from_numpy(store.split("val").query_embed(slice(0, 3))).reshape(-1, store.identity.query_dim)
    K = store.vocab.num_classes
    assert torch.equal(head(x), again(x))
    assert again.cfg.gamma == 0.5
    raw = again.raw_logits(x)
    seen = torch.tensor(store.vocab.seen_mask())
    assert torch.allclose(again(x)[:, :K][:, seen], raw[:, :K][:, seen] - 0.5)
    assert torch.equal(again(x)[:, :K][:, ~seen], raw[:, :K][:, ~seen])


def test_auto_gamma_uses_only_seen_labels(world, monkeypatch):
    root, store, gen = world
    asked = []
    orig = SplitReader.matched_batches

    def spy(self, batch_size, *, seed, labels=None, device="cpu", epochs=None):
        asked.append(labels)
        return orig(self, batch_size, seed=seed, labels=labels, device=device, epochs=epochs)

    monkeypatch.setattr(SplitReader, "matched_batches", spy)
    head, man = _run(world, "classifier", name="cal", steps=300, gamma="auto", gamma_seen_fraction=0.8)
    assert asked and all(sorted(a) == store.vocab.seen_indices for a in asked)
    cal = man["calibration"]
    assert cal["gamma"] == head.cfg.gamma and cal["num_queries"] > 0
    x, _y = matched_queries(store.split("train"))
    pred = head(torch.from_numpy(x)).argmax(-1)  # over K+1
    seen_or_not = torch.cat([torch.tensor(store.vocab.seen_mask()), torch.tensor([False])])
    kept_seen = seen_or_not[pred].float().mean().item()
    assert abs(kept_seen - 0.8) < 0.05
