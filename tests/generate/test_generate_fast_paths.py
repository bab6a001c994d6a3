"""The training fast paths compute the same maths as the plain PyTorch forms they replace."""

import pytest
import torch
from torch import nn

from zs.generate.config import FitConfig, GeneratorConfig
from zs.generate.models import build_generator, cross_attention, single_token_self_attention
from zs.generate.objectives import StepInputs, _fake_features
from zs.generate.structure import PairwiseReluScore, RelationNet

D, H = 16, 4


def _mha(dropout=0.0):
    torch.manual_seed(0)
    mha = nn.MultiheadAttention(D, H, dropout=dropout, batch_first=True)
    with torch.no_grad():  # non-zero biases so that every term is exercised
        mha.in_proj_bias.normal_()
        mha.out_proj.bias.normal_()
    return mha


def _grads(mha, *xs):
    return [p.grad.clone() for p in mha.parameters()] + [x.grad.clone() for x in xs]


@pytest.mark.parametrize("training", [False, True])
def test_single_token_self_attention_equals_mha(training):
    mha = _mha().train(training)
    x = torch.randn(7, D, requires_grad=True)
    seq = x.unsqueeze(1)  # [M, 1, D]: M length-1 sequences
    want = mha(seq, seq, seq, need_weights=False)[0].squeeze(1)
    want.pow(2).sum().backward()
    g_want = _grads(mha, x)
    mha.zero_grad()
    x.grad = None
    got = single_token_self_attention(mha, x)
    got.pow(2).sum().backward()
    assert torch.allclose(got, want, atol=1e-5)
    for a, b in zip(_grads(mha, x), g_want):
        assert torch.allclose(a, b, atol=1e-4)
    # the query/key rows of in_proj_weight get exactly zero gradient in both forms
    assert torch.count_nonzero(mha.in_proj_weight.grad[: 2 * D]) == 0


@pytest.mark.parametrize("training", [False, True])
def test_cross_attention_equals_mha(training):
    mha = _mha().train(training)
    q = torch.randn(5, D, requires_grad=True)
    mem = torch.randn(11, D, requires_grad=True)
    want = mha(q.unsqueeze(0), mem.unsqueeze(0), mem.unsqueeze(0), need_weights=False)[0].squeeze(0)
    want.pow(2).sum().backward()
    g_want = _grads(mha, q, mem)
    mha.zero_grad()
    q.grad = mem.grad = None
    got = cross_attention(mha, q, mem)
    got.pow(2).sum().backward()
    assert torch.allclose(got, want, atol=1e-5)
    for a, b in zip(_grads(mha, q, mem), g_want):
        assert torch.allclose(a, b, atol=1e-4)


def test_attention_dropout_drops_whole_weights():
    """Self-attention dropout zeroes (token, head) blocks or scales them by 1/(1-p), like mha's weights."""
    mha = _mha(dropout=0.5).train()
    x = torch.randn(200, D)
    torch.manual_seed(1)
    out = single_token_self_attention(mha, x) - mha.out_proj.bias  # [M, D] = W_o (keep ⊙ V)
    v = torch.nn.functional.linear(x, mha.in_proj_weight[2 * D:], mha.in_proj_bias[2 * D:])
    keep = torch.linalg.lstsq(mha.out_proj.weight, out.t().detach()).solution.t()  # [M, D] = keep ⊙ V
    ratio = (keep / v).view(200, H, D // H)
    per_head = ratio[..., 0]  # [M, H]
    assert torch.allclose(ratio, per_head.unsqueeze(2).expand_as(ratio), atol=1e-2)
    assert set(per_head.round().unique().tolist()) == {0.0, 2.0}


def test_pairwise_relu_score_gradcheck():
    torch.manual_seed(0)
    args = tuple(torch.randn(*s, dtype=torch.double, requires_grad=True) for s in ((5, 7), (4, 7), (7,), (1,)))
    assert torch.autograd.gradcheck(PairwiseReluScore.apply, args)


def test_relation_net_gradients_equal_concatenation_form():
    torch.manual_seed(0)
    net = RelationNet(6, 4)
    feat, sem = torch.randn(9, 6, requires_grad=True), torch.randn(5, 4, requires_grad=True)
    pairs = torch.cat([feat.unsqueeze(1).expand(9, 5, 6), sem.unsqueeze(0).expand(9, 5, 4)], 2)  # [9, 5, 10]
    want = torch.sigmoid(net.fc2(torch.relu(net.fc1(pairs)))).squeeze(2)
    g = torch.randn(9, 5)
    want.backward(g)
    ref = [p.grad.clone() for p in (feat, sem, *net.parameters())]
    for p in (feat, sem, *net.parameters()):
        p.grad = None
    got = net(feat, sem)
    got.backward(g)
    assert torch.allclose(got, want, atol=1e-6)
    for a, b in zip([p.grad for p in (feat, sem, *net.parameters())], ref):
        assert torch.allclose(a, b, atol=1e-5)


def _inputs():
    return StepInputs(real=torch.randn(6, D), labels=torch.tensor([0, 1, 1, 2, 0, 3]), unmatched=torch.zeros(0, D),
                      unseen_ids=torch.tensor([4, 5]), seen_ids=torch.arange(4), all_ids=torch.arange(6))


@pytest.mark.parametrize("kind", ["gmmn", "primitive"])
def test_one_forward_for_seen_and_unseen_equals_two(kind):
    cfg = GeneratorConfig(kind=kind, query_dim=D, text_dim=8, num_classes=6, num_primitives=10, num_heads=H,
                          ffn_dim=32, dropout=0.0, noise=False, gmmn_dropout=0.0)
    torch.manual_seed(0)
    gen = build_generator(cfg, torch.randn(6, 8)).train()
    assert gen.rows_independent
    inp = _inputs()
    fake, fake_u, kl = _fake_features(FitConfig(kind=kind).resolved(), gen, inp, structure=True)
    assert kl is None and fake.shape == (6, D) and fake_u.shape == (2, D)
    if kind == "gmmn":  # noise input: compare with the same draws
        torch.manual_seed(3)
        fake, fake_u, _ = _fake_features(FitConfig(kind=kind).resolved(), gen, inp, structure=True)
        torch.manual_seed(3)
        both = gen.generate(torch.cat([inp.labels, inp.unseen_ids]))
        assert torch.allclose(torch.cat([fake, fake_u]), both)
    else:
        assert torch.allclose(fake, gen.generate(inp.labels), atol=1e-5)
        assert torch.allclose(fake_u, gen.generate(inp.unseen_ids), atol=1e-5)


def test_vae_keeps_separate_forwards():
    cfg = GeneratorConfig(kind="vae", query_dim=D, text_dim=8, num_classes=6, vae_hidden=12)
    gen = build_generator(cfg, torch.randn(6, 8)).train()
    assert not gen.rows_independent  # BatchNorm: one batch of seen + unseen would change the statistics
    fake, fake_u, kl = _fake_features(FitConfig(kind="vae", schedule="two-stage").resolved(), gen, _inputs(), True)
    assert fake.shape == (6, D) and fake_u.shape == (2, D) and kl is not None
