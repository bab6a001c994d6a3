"""Generators: shapes, sampling order, seeded sampling, ablation switches, artifact round trip."""

import dataclasses

import pytest
import torch

from zs.errors import ConfigError, ZsError
from zs.generate.artifact import load_generator, save_generator
from zs.generate.config import FitConfig, GeneratorConfig
from zs.generate.models import build_generator
from zs.generate.structure import Disentangler

K, D, DT = 5, 16, 12


def _gen(kind, **kw):
    torch.manual_seed(0)
    cfg = GeneratorConfig(kind=kind, query_dim=D, text_dim=DT, num_classes=K, num_primitives=20,
                          num_heads=4, ffn_dim=32, vae_hidden=24, **kw)
    return build_generator(cfg, torch.randn(K, DT))


@pytest.mark.parametrize("kind", ["gmmn", "primitive", "vae"])
def test_sample_shape_order_and_seed(kind):
    gen = _gen(kind).eval()
    ids = torch.tensor([3, 0])
    a = gen.sample(ids, n=4, generator=torch.Generator().manual_seed(7))
    b = gen.sample(ids, n=4, generator=torch.Generator().manual_seed(7))
    c = gen.sample(ids, n=4, generator=torch.Generator().manual_seed(8))
    assert a.shape == (8, D)
    assert torch.equal(a, b) and not torch.equal(a, c)
    assert gen.semantic.shape == (K, DT)
    # repeat_interleave order: the first 4 rows come from class 3
    one = gen.sample(torch.tensor([3]), n=4, generator=torch.Generator().manual_seed(7))
    assert one.shape == (4, D)


def test_sample_rejects_bad_class_ids():
    gen = _gen("primitive").eval()
    with pytest.raises(ZsError, match="class ids"):
        gen.sample(torch.tensor([K]))


def test_primitive_noise_switch():
    gen = _gen("primitive", noise=False).eval()
    a = gen.sample(torch.tensor([1, 2]), generator=torch.Generator().manual_seed(0))
    b = gen.sample(torch.tensor([1, 2]), generator=torch.Generator().manual_seed(1))
    assert torch.equal(a, b)  # no noise, eval: deterministic per class
    noisy = _gen("primitive").eval()
    assert not torch.equal(noisy.sample(torch.tensor([1]), generator=torch.Generator().manual_seed(0)),
                           noisy.sample(torch.tensor([1]), generator=torch.Generator().manual_seed(1)))


def test_primitive_layout_matches_pading():
    gen = _gen("primitive", num_layers=3)
    assert gen.primitives.weight.shape == (20, D)
    assert len(gen.layers) == 3
    assert gen.project.in_features == DT and gen.project.out_features == D
    # the features of different classes differ (query = projected semantic vector)
    out = gen.eval().sample(torch.tensor([0, 1]), generator=torch.Generator().manual_seed(0))
    assert not torch.allclose(out[0], out[1])


def test_gradients_reach_primitives_and_projection():
    gen = _gen("primitive").train()
    gen.generate(torch.tensor([0, 1, 2])).pow(2).sum().backward()
    assert gen.primitives.weight.grad.abs().sum() > 0
    assert gen.project.weight.grad.abs().sum() > 0


def test_disentangler_shapes():
    dis = Disentangler(D, 7)
    r, u, rec = dis(torch.randn(3, D))
    assert r.shape == u.shape == rec.shape == (3, D)
    assert dis.relation(r, torch.randn(4, 7)).shape == (3, 4)


@pytest.mark.parametrize("kind", ["gmmn", "primitive", "vae"])
def test_artifact_round_trip(tmp_path, kind):
    gen = _gen(kind).eval()
    save_generator(gen, tmp_path / "g", {"kind": "zs-generator"})
    back = load_generator(tmp_path / "g")
    assert back.cfg == gen.cfg
    ids = torch.tensor([0, 4])
    assert torch.equal(gen.sample(ids, 2, torch.Generator().manual_seed(3)),
                       back.sample(ids, 2, torch.Generator().manual_seed(3)))


def test_load_generator_refuses_non_artifact(tmp_path):
    with pytest.raises(ZsError, match="not a zs generator"):
        load_generator(tmp_path)


def test_config_defaults_and_switches():
    c = FitConfig(store="s", out="o").resolved()
    assert (c.kind, c.alignment, c.disentangle, c.cls_weight) == ("primitive", True, True, 0.001)
    assert c.generator.num_primitives == 400 and c.generator.num_layers == 3
    g = FitConfig(store="s", out="o", kind="gmmn").resolved()
    assert not g.alignment and not g.disentangle
    v = FitConfig(store="s", out="o", kind="vae", schedule="two-stage").resolved()
    assert v.diversity and not v.gv2s and v.cls_weight == 0.0
    with pytest.raises(ConfigError, match="--projector"):
        FitConfig(store="s", out="o", kind="vae", gv2s=True).resolved()
    with pytest.raises(ConfigError, match="kind"):
        FitConfig(kind="gan").resolved()
    with pytest.raises(ConfigError, match="VAE"):
        FitConfig(kind="primitive", diversity=True).resolved()
    assert dataclasses.asdict(c)["mmd_sigmas"] == (2.0, 5.0, 10.0, 20.0, 40.0, 80.0)


def test_relation_net_equals_concatenation_form():
    from zs.generate.structure import RelationNet

    torch.manual_seed(0)
    net = RelationNet(6, 4)
    feat, sem = torch.randn(3, 6), torch.randn(5, 4)
    pairs = torch.cat([feat.unsqueeze(1).expand(3, 5, 6), sem.unsqueeze(0).expand(3, 5, 4)], 2)  # [3, 5, 10]
    want = torch.sigmoid(net.fc2(torch.relu(net.fc1(pairs)))).squeeze(2)
    assert torch.allclose(net(feat, sem), want, atol=1e-6)
