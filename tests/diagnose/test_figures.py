"""Figures on a toy store: a perfect generator scores ~1 / MMD at the floor; swapped classes collapse."""

import numpy as np
import pytest
import torch
from conftest import GaussianGenerator

from zs.errors import ZsError
from zs.evaluate.diagnose import figures as F
from zs.evaluate.diagnose.compute import FeatureSets, compute_diagnostics
from zs.evaluate.diagnose.data import sample_synthetic


def _diagnose(store, real_features, swap=None, per_class=200):
    real, labels = real_features
    gen = GaussianGenerator(real, labels, swap)
    syn, syn_labels = sample_synthetic(gen, store.vocab.unseen_indices, per_class, seed=0, device="cpu")
    return compute_diagnostics(FeatureSets(real, labels, syn, syn_labels), store.vocab, k=10)


def test_real_features_are_the_matched_queries(toy_store, real_features):
    real, labels = real_features
    split = toy_store.split("val")
    q = split.queries(columns=["row", "query", "label"])
    matched = q[q.label < toy_store.vocab.num_classes].sort_values(["row", "query"])
    assert len(real) == len(matched) and (labels == matched.label.to_numpy()).all()
    r, qq = int(matched.row.iloc[-1]), int(matched["query"].iloc[-1])
    np.testing.assert_array_equal(real[-1], split.query_embed([r])[0, qq])
    assert set(toy_store.vocab.unseen_indices) <= set(labels.tolist())


def test_perfect_generator_scores_near_one(toy_store, real_features):
    d = _diagnose(toy_store, real_features)
    s = d["summary"]
    for key in ("agreement@1", "agreement@10", "prototype_acc_unseen", "prototype_acc_with_seen"):
        assert s[key] > 0.95, (key, s[key])
    assert s["classified_seen"] < 0.05
    for name in ("star", "water"):
        pc = d["per_class"][name]
        assert pc["agreement@10"] > 0.95 and pc["nearest_real_centre"] == name
        # MMD at the level of two halves of the real class itself (the estimator's floor)
        assert pc["mmd"] <= 1.5 * pc["mmd_floor"], pc
        assert pc["centre_shift"] < 0.1 * d["summary"]["mean_centre_distance_real"]
        assert abs(pc["spread_synthetic"] - pc["spread_real"]) < 0.1 * pc["spread_real"]
        assert pc["n_synthetic"] == 200 and pc["n_real"] > 20
    assert s["mean_centre_distance_synthetic"] == pytest.approx(s["mean_centre_distance_real"], rel=0.05)
    assert d["centres"]["synthetic_labels"] == ["star", "water"]
    assert len(d["centres"]["synthetic_vs_real"]) == 2


def test_swapped_classes_collapse(toy_store, real_features):
    good = _diagnose(toy_store, real_features)
    star, water = (toy_store.vocab.names.index(n) for n in ("star", "water"))
    bad = _diagnose(toy_store, real_features, swap={star: water, water: star})
    for name, other in (("star", "water"), ("water", "star")):
        pc = bad["per_class"][name]
        assert pc["agreement@1"] < 0.05 and pc["agreement@10"] < 0.05
        assert pc["prototype_acc_unseen"] < 0.05
        assert pc["nearest_real_centre"] == other
        assert pc["mmd"] > 5 * good["per_class"][name]["mmd"]
        assert pc["centre_shift"] > 10 * good["per_class"][name]["centre_shift"]


def test_one_swapped_class_leaves_the_other_intact(toy_store, real_features):
    star, circle = (toy_store.vocab.names.index(n) for n in ("star", "circle"))
    d = _diagnose(toy_store, real_features, swap={star: circle})  # star samples look like real circles
    assert d["per_class"]["star"]["agreement@10"] < 0.05
    assert d["per_class"]["star"]["nearest_real_centre"] == "circle"
    assert d["per_class"]["water"]["agreement@10"] > 0.95


def test_mmd_is_the_generator_loss():
    from zs.generate.losses import mmd_loss

    rng = np.random.default_rng(0)
    a, b = rng.normal(size=(30, 8)), rng.normal(1.0, 1.0, size=(40, 8))
    expected = float(mmd_loss(torch.from_numpy(a), torch.from_numpy(b)))
    assert F.mmd(a.astype(np.float32), b.astype(np.float32)) == pytest.approx(expected, rel=1e-5)
    assert np.isnan(F.mmd(a[:0], b))


def test_small_figure_functions():
    assert F.skewness(np.array([0, 0, 0, 0, 10])) > 1.0
    assert np.isnan(F.skewness(np.ones(5)))
    np.testing.assert_array_equal(F.k_occurrence(np.array([[0, 1], [0, 2]]), 4), [2, 1, 1, 0])
    d = F.pairwise_distances(np.array([[0.0, 0.0], [3.0, 4.0]]), np.array([[0.0, 0.0]]))
    np.testing.assert_allclose(d[:, 0], [0.0, 5.0])
    assert F.mean_pairwise_distance(F.pairwise_distances(np.eye(3), np.eye(3))) == pytest.approx(np.sqrt(2))
    np.testing.assert_allclose(F.mean_by_class(np.array([1.0, 0.0, 1.0]), np.array([0, 0, 1]), [0, 1, 2]),
                               [0.5, 1.0, np.nan])
    agree = F.knn_label_agreement(np.array([[1, 1, 2], [2, 1, 1]]), np.array([1, 1]), 2)
    np.testing.assert_allclose(agree, [1.0, 0.5])


def test_bad_features_are_refused(toy_store, real_features):
    real, labels = real_features
    with pytest.raises(ZsError, match="shapes do not fit"):
        compute_diagnostics(FeatureSets(real, labels, real[:4, :8], labels[:4]), toy_store.vocab)
    bad = real[:4].copy()
    bad[0, 0] = np.nan
    with pytest.raises(ZsError, match="non-finite"):
        compute_diagnostics(FeatureSets(real, labels, bad, labels[:4]), toy_store.vocab)
