"""The linear transfer probe: text-predictable centres are found, unpredictable ones are not."""

import numpy as np

import pytest

from zs.evaluate.diagnose.transfer import affine_ridge_predict, ridge_predict, transfer_probe

K, DT, D, SEEN, UNSEEN = 12, 16, 8, list(range(9)), [9, 10, 11]


def _features(centres: np.ndarray, per_class: int = 40, noise: float = 0.05, seed: int = 0):
    rng = np.random.default_rng(seed)
    labels = np.repeat(np.arange(K), per_class)
    feats = centres[labels] + noise * rng.standard_normal((len(labels), D))
    return feats.astype(np.float32), labels


def _text(seed: int = 1) -> np.ndarray:
    return np.random.default_rng(seed).standard_normal((K, DT))


def test_ridge_recovers_a_linear_map_by_hand():
    # 2 seen classes, 1-d text, lam 0: alpha = K^-1 C; predict a_test K_test alpha (hand computation)
    a = np.array([[1.0, 0.0], [0.0, 1.0]])
    c = np.array([[2.0], [3.0]])
    pred = ridge_predict(a, c, np.array([[1.0, 1.0]]), lam=0.0)
    np.testing.assert_allclose(pred, [[5.0]])
    pred = ridge_predict(a, c, np.array([[1.0, 1.0]]), lam=1.0)  # (K + I)^-1 = I / 2
    np.testing.assert_allclose(pred, [[2.5]])
    # affine: centred on the means (a_mu = [.5, .5], c_mu = 2.5), so a constant offset is free
    pred = affine_ridge_predict(a, c + 100.0, np.array([[0.5, 0.5], [2.0, 0.0]]), lam=1.0)
    # centred: a' = [[.5, -.5], [-.5, .5]], c' = [[-.5], [.5]]; (K' + I)^-1 = [[.75, .25], [.25, .75]],
    # alpha = [[-.25], [.25]]; test rows centred: [0, 0] -> 0, [1.5, -.5] -> k = [1, -1] -> -.5
    np.testing.assert_allclose(pred, [[102.5], [102.0]])


@pytest.mark.parametrize("offset", [0.0, 5.0, 20.0])
def test_linear_world_is_transferable_and_scores_like_the_oracle(offset):
    text = _text()
    a = text / np.linalg.norm(text, axis=1, keepdims=True)
    # centres affine in the text (real query features share a large common mean)
    centres = a @ np.random.default_rng(2).standard_normal((DT, D)) * 3 + offset
    feats, labels = _features(centres)
    out = transfer_probe(feats, labels, text, UNSEEN, SEEN)
    ridge, oracle = out["per_class"]["text_ridge_acc_with_seen"][0], out["per_class"]["oracle_acc_with_seen"][0]
    assert oracle > 0.95 and ridge > 0.9, (ridge, oracle)
    assert out["ridge_lambda"] <= 0.1  # leave-one-seen-class-out picks a weak ridge for exact data


def test_unpredictable_unseen_centres_score_low_while_the_oracle_does_not():
    text = _text()
    a = text / np.linalg.norm(text, axis=1, keepdims=True)
    centres = a @ np.random.default_rng(2).standard_normal((DT, D)) * 3
    # unseen classes placed on top of seen ones' neighbourhoods, unrelated to their text
    centres[UNSEEN] = centres[[0, 1, 2]] + np.random.default_rng(3).standard_normal((3, D)) * 0.6
    feats, labels = _features(centres)
    out = transfer_probe(feats, labels, text, UNSEEN, SEEN)
    ridge, oracle = out["per_class"]["text_ridge_acc_with_seen"][0], out["per_class"]["oracle_acc_with_seen"][0]
    assert oracle > 0.9 and ridge < 0.4, (ridge, oracle)
    shift = out["per_class"]["text_ridge_centre_shift"][1]
    assert shift.shape == (3,) and (shift > 0.5).all()


def test_fit_uses_seen_classes_only():
    text = _text()
    centres = np.random.default_rng(4).standard_normal((K, D))
    feats, labels = _features(centres)
    before = transfer_probe(feats, labels, text, UNSEEN, SEEN)
    moved = feats.copy()
    moved[np.isin(labels, UNSEEN)] += 100.0  # the real unseen features move far away
    after = transfer_probe(moved, labels, text, UNSEEN, SEEN)
    assert after["ridge_lambda"] == before["ridge_lambda"]  # chosen on seen classes only
    shift = after["per_class"]["text_ridge_centre_shift"][1] - before["per_class"]["text_ridge_centre_shift"][1]
    assert (shift > 50).all()  # same predicted centres, real ones moved
