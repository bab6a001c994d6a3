"""Every generator loss against a hand computation."""

import math
import types

import pytest
import torch

from zs.generate import losses as L


def _k(a, b, s):
    return math.exp(-sum((x - y) ** 2 for x, y in zip(a, b)) / (2 * s))


def test_mmd_single_points_one_bandwidth():
    got = L.mmd_loss(torch.tensor([[0.0]]), torch.tensor([[1.0]]), sigmas=(1.0,))
    assert got.item() == pytest.approx(math.sqrt(2 - 2 * math.exp(-0.5)), rel=1e-6)


def test_mmd_sets_of_unequal_size_two_bandwidths():
    fake = [[0.0, 1.0], [2.0, 0.0]]
    real = [[1.0, 1.0], [0.0, 0.0], [3.0, 1.0]]
    sig = (2.0, 5.0)
    mmd2 = 0.0
    for s in sig:
        ff = sum(_k(a, b, s) for a in fake for b in fake) / 4
        rr = sum(_k(a, b, s) for a in real for b in real) / 9
        fr = sum(_k(a, b, s) for a in fake for b in real) / 6
        mmd2 += ff + rr - 2 * fr
    got = L.mmd_loss(torch.tensor(fake), torch.tensor(real), sig)
    assert got.item() == pytest.approx(math.sqrt(mmd2), rel=1e-5)


def test_mmd_identical_sets_is_near_zero_and_falls_with_distance():
    x = torch.randn(8, 4, generator=torch.Generator().manual_seed(0))
    assert L.mmd_loss(x, x).item() < 1e-4
    assert L.mmd_loss(x + 3, x) > L.mmd_loss(x + 1, x)


def test_softmax_kl_hand():
    pred, target, tau = torch.tensor([[1.0, 0.0]]), torch.tensor([[0.0, 1.0]]), 0.5
    p = [math.exp(2) / (math.exp(2) + 1), 1 / (math.exp(2) + 1)]  # softmax(pred/tau)
    q = [p[1], p[0]]  # softmax(target/tau)
    kl = sum(qi * math.log(qi / pi) for pi, qi in zip(p, q)) / 2  # / numel
    assert L.softmax_kl(pred, target, tau).item() == pytest.approx(kl, rel=1e-6)


def _cos(a, b):
    return sum(x * y for x, y in zip(a, b)) / math.sqrt(sum(x * x for x in a) * sum(y * y for y in b))


def _kl_rows(pred_rows, tgt_rows, tau):
    total, numel = 0.0, 0
    for pr, tr in zip(pred_rows, tgt_rows):
        zp = [math.exp(v / tau) for v in pr]
        zq = [math.exp(v / tau) for v in tr]
        p = [v / sum(zp) for v in zp]
        q = [v / sum(zq) for v in zq]
        total += sum(qi * math.log(qi / pi) for pi, qi in zip(p, q))
        numel += len(pr)
    return total / numel


def test_relationship_alignment_hand():
    fs, fu = [[1.0, 0.0], [1.0, 1.0]], [[0.0, 1.0]]
    ss, su = [[1.0, 0.2], [0.3, 1.0]], [[-1.0, 0.5]]
    tau = 0.1

    def sims(a, b):
        return [[_cos(x, y) for y in b] for x in a]

    want = (
        _kl_rows(sims(fs, fs), sims(ss, ss), tau)
        + _kl_rows(sims(fu, fu), sims(su, su), tau)
        + _kl_rows(sims(fs, fu), sims(ss, su), tau)
    ) / 3
    got = L.relationship_alignment_loss(torch.tensor(fs), torch.tensor(ss), torch.tensor(fu), torch.tensor(su), tau)
    assert got.item() == pytest.approx(want, rel=1e-5)


def test_relationship_alignment_zero_when_relations_match():
    f = torch.tensor([[1.0, 0.0, 0.0], [0.0, 1.0, 0.0]])
    u = torch.tensor([[1.0, 1.0, 0.0]])
    # semantic vectors = features scaled: identical cosine structure
    assert L.relationship_alignment_loss(f, 2 * f, u, 3 * u).item() == pytest.approx(0.0, abs=1e-6)


def test_semantic_related_ce_hand():
    got = L.semantic_related_ce(torch.tensor([[2.0, 0.0], [0.0, 1.0]]), torch.tensor([0, 0]))
    want = (math.log(1 + math.exp(-2)) + math.log(1 + math.exp(1))) / 2
    assert got.item() == pytest.approx(want, rel=1e-6)


def test_gaussian_kl_to_standard_hand():
    feat = torch.tensor([[1.0, 0.0], [3.0, 0.0]])  # dim0: mu 2, var 1; dim1: mu 0, var 0 (+eps)
    eps = 1e-6
    d0 = 0.5 * (1 + eps + 4 - 1 - math.log(1 + eps))
    d1 = 0.5 * (eps - 1 - math.log(eps))
    assert L.gaussian_kl_to_standard(feat, eps).item() == pytest.approx((d0 + d1) / 2, rel=1e-5)
    big = torch.randn(20000, 3, generator=torch.Generator().manual_seed(1))
    assert L.gaussian_kl_to_standard(big).item() < 1e-3


def test_reconstruction_l1_hand():
    got = L.reconstruction_l1(torch.tensor([[1.0, -1.0]]), torch.tensor([[0.0, 1.0]]))
    assert got.item() == pytest.approx(1.5)


def test_diversity_contrastive_hand():
    fake = [[1.0, 0.0], [0.0, 1.0]]
    real = [[1.0, 1.0], [0.0, 2.0]]
    unmatched = [[-1.0, 0.0]]
    tau = 0.5
    total = 0.0
    for i, f in enumerate(fake):
        pos = math.exp(_cos(f, real[i]) / tau)
        neg = sum(math.exp(_cos(f, fake[j]) / tau) for j in range(2) if j != i)
        neg += sum(math.exp(_cos(f, u) / tau) for u in unmatched)
        total += -math.log(pos / (pos + neg))
    got = L.diversity_contrastive_loss(torch.tensor(fake), torch.tensor(real), torch.tensor(unmatched), tau)
    assert got.item() == pytest.approx(total / 2, rel=1e-6)
    # no unmatched queries: only the other synthetic features are negatives
    got0 = L.diversity_contrastive_loss(torch.tensor(fake), torch.tensor(real), torch.zeros(0, 2), tau)
    assert got0.item() < got.item()


def test_sigmoid_focal_hand():
    # logits 0 everywhere: p = 0.5, -log p_t = log 2, (1-p_t)^2 = 0.25
    got = L.sigmoid_focal_loss(torch.zeros(1, 2), torch.tensor([0]), alpha=0.25, gamma=2.0)
    want = 0.25 * 0.25 * math.log(2) + 0.75 * 0.25 * math.log(2)
    assert got.item() == pytest.approx(want, rel=1e-6)
    z = 2.0  # positive with logit 2, negative with logit -1
    got = L.sigmoid_focal_loss(torch.tensor([[z, -1.0]]), torch.tensor([0]))
    p0, p1 = 1 / (1 + math.exp(-z)), 1 / (1 + math.exp(1))
    want = 0.25 * (1 - p0) ** 2 * -math.log(p0) + 0.75 * p1**2 * -math.log(1 - p1)
    assert got.item() == pytest.approx(want, rel=1e-6)


def test_gv2s_through_frozen_projector():
    class_embed = torch.tensor([[1.0, 0.0], [0.0, 1.0], [1.0, 1.0]]) / torch.tensor([[1.0], [1.0], [math.sqrt(2)]])
    proj = types.SimpleNamespace(
        project=lambda x: torch.nn.functional.normalize(x, dim=-1),
        class_embed=class_embed,
        cfg=types.SimpleNamespace(tau=0.5, num_classes=3),
    )
    fake = torch.tensor([[2.0, 0.0]])
    seen = torch.tensor([0, 2])  # class 1 is unseen and excluded
    got = L.gv2s_loss(fake, torch.tensor([2]), proj, seen)
    logits = torch.tensor([[1.0 / 0.5, (1 / math.sqrt(2)) / 0.5]])  # cos with classes 0 and 2
    assert got.item() == pytest.approx(L.sigmoid_focal_loss(logits, torch.tensor([1])).item(), rel=1e-6)


def test_vae_kl_hand():
    assert L.vae_kl(torch.tensor([[1.0]]), torch.tensor([[0.0]])).item() == pytest.approx(0.5)
    assert L.vae_kl(torch.zeros(3, 2), torch.zeros(3, 2)).item() == pytest.approx(0.0)


def test_weighted_classifier_ce_hand():
    logits = torch.tensor([[0.0, 0.0, 0.0], [0.0, 0.0, 0.0]])
    labels = torch.tensor([1, 2])  # unseen (w 5), no-object (w 0.1)
    w = torch.tensor([1.0, 5.0, 0.1])
    # uniform logits: every ce = log 3, weighted mean = log 3
    assert L.weighted_classifier_ce(logits, labels, w).item() == pytest.approx(math.log(3), rel=1e-6)
    logits = torch.tensor([[2.0, 0.0, 0.0], [0.0, 0.0, 0.0]])
    ce0 = -math.log(1 / (math.exp(2) + 2))
    want = (5 * ce0 + 0.1 * math.log(3)) / 5.1
    assert L.weighted_classifier_ce(logits, labels, w).item() == pytest.approx(want, rel=1e-6)
