"""One training iteration of zs equals one of PADing's released code (fixture ``pading-step/A``).

The fixture (README beside it) holds PADing's initial parameters under PADing's
names, the inputs of one iteration, every random draw in PADing's order and the
float64 results: loss terms, gradients, parameters after one Adam step, then the
classifier step. This test loads the parameters into zs's own modules, replays the
draws and runs zs's own ``train_step`` (fused Adam, hand-written relation backward,
one generator forward for seen + unseen) in float64, and checks every key within
the tolerance ``expected.json`` states for it.
"""

import json

import numpy as np
import pytest
import torch

from zs.generate import losses as L
from zs.generate.config import FitConfig, GeneratorConfig
from zs.generate.models import PrimitiveGenerator, RecordedDraws
from zs.generate.objectives import classifier_class_weights
from zs.generate.structure import Disentangler
from zs.generate.train import TrainState, make_optimizers, train_step
from zs.heads import HeadConfig, LinearHead

D = torch.float64


def zs_name(name: str) -> str:
    """PADing state-dict name -> zs name (prefix "gen." / "dis." / "head.")."""
    rules = [("fc_projection.", "gen.project."), ("dict_feature.", "gen.primitives."),
             ("generator.norm.", "gen.norm."), ("projection_related.encoder.", "dis.related."),
             ("projection_unrelated.encoder.", "dis.unrelated."), ("relation.", "dis.relation."),
             ("decoder.decoder.", "dis.decoder."), ("new_fc.", "head.fc.")]
    for a, b in rules:
        if name.startswith(a):
            return b + name[len(a):]
    assert name.startswith("generator.layers."), name
    name = "gen." + name[len("generator."):]
    for a, b in ((".multihead_attn.", ".cross_attn."), (".linear1.", ".ffn.0."), (".linear2.", ".ffn.3.")):
        name = name.replace(a, b)
    return name


@pytest.fixture(scope="module")
def fixture(reference_dir):
    root = reference_dir / "pading-step" / "A"
    inp, exp = np.load(root / "inputs.npz"), np.load(root / "expected.npz")
    meta = json.loads((root / "expected.json").read_text())
    return {k: inp[k] for k in inp.files}, {k: exp[k] for k in exp.files}, meta


def _t(a, dtype=D):
    return torch.from_numpy(np.asarray(a)).to(dtype)


class Checker:
    def __init__(self, expected, meta):
        self.exp, self.arrays, self.seen, self.bad = expected, meta["arrays"], set(), []

    def __call__(self, key, got):
        got = got.detach().double().numpy() if torch.is_tensor(got) else np.asarray(got, np.float64)
        want, atol = self.exp[key], self.arrays[key]["atol"]
        if want.size == 1 and got.size == 1:  # scalars are stored as [1]
            got = got.reshape(want.shape)
        assert got.shape == want.shape, (key, got.shape, want.shape)
        err = float(np.max(np.abs(got - want))) if want.size else 0.0
        if not err <= atol:
            self.bad.append(f"{key}: max|err| {err:.3g} > atol {atol:.3g}")
        self.seen.add(key)


def _build(inp):
    k, u = int(inp["num_classes"].item()), inp["unseen_ids"]
    gcfg = GeneratorConfig(kind="primitive", query_dim=256, text_dim=512, num_classes=k,
                           num_primitives=int(inp["num_primitives"].item()), num_layers=int(inp["num_layers"].item()),
                           dropout=0.0, noise=True)
    cfg = FitConfig(kind="primitive", schedule="pading", generator=gcfg, structure_weight=1e-4,
                    disentangle_dropout=0.0, num_choose=int(inp["num_choose"].item()), iterations=20000).resolved()
    assert cfg.unrelated_kl == "released" and cfg.lr == 5e-4 and cfg.cls_lr == 1e-3  # zs defaults = PADing's
    gen = PrimitiveGenerator(gcfg, _t(inp["semantic"], torch.float32))
    dis = Disentangler(256, 256, cfg.disentangle_dropout)
    seen = np.ones(k, bool)
    seen[u] = False
    head = LinearHead(HeadConfig(kind="linear", query_dim=256, num_classes=k, seen=seen.tolist()))
    mods = {"gen": gen, "dis": dis, "head": head}
    for m in mods.values():
        m.to(D).train()
    params = {f"{p}.{n}": t for p, m in mods.items() for n, t in m.named_parameters()}
    names = [str(n) for n in inp["param_names"]]
    assert sorted(zs_name(n) for n in names) == sorted(params), "parameter sets differ"
    with torch.no_grad():
        for n in names:
            params[zs_name(n)].copy_(_t(inp[n]))
    return cfg, gen, dis, head, names, params


def _rows(*draws):
    """Recorded draws [1, M, 256] of several PADing calls -> one [sum M, 256] draw (zs fuses the calls)."""
    return torch.from_numpy(np.concatenate([d.reshape(-1, d.shape[-1]) for d in draws]))


def test_one_iteration_equals_pading(fixture):
    inp, exp, meta = fixture
    check = Checker(exp, meta)
    cfg, gen, dis, head, names, params = _build(inp)
    k = int(inp["num_classes"].item())
    unseen = torch.from_numpy(inp["unseen_ids"]).long()
    seen = torch.from_numpy(inp["seen_ids"]).long()
    queries = _t(inp["queries_all"]).reshape(-1, 256)  # [B*Q, D]
    labels_all = torch.from_numpy(inp["labels_all"]).long().reshape(-1)  # [B*Q]
    matched = labels_all < k
    # zs's batch (zs.generate.data.batch_stream): matched queries in image-major order = PADing's matcher idx
    batch = {"real": queries[matched], "labels": labels_all[matched], "unmatched": queries[~matched],
             "all_embed": queries, "all_labels": labels_all}
    assert torch.equal(batch["real"], _t(inp["real_seen"]))
    assert torch.equal(batch["labels"], torch.from_numpy(inp["labels_seen"]).long())

    # PADing draws in this order: gen seen l0-2, L_U seen, gen unseen l0-2, L_U unseen, randperm, gen cls l0-2.
    # zs generates seen + unseen in one forward, so layer l gets the row-concatenation of both draws.
    rng = [np.asarray(inp[str(n)]) for n in inp["rng_names"]]  # the 12 draws, PADing's order
    gen_step = [_rows(rng[i], rng[i + 4]) for i in range(3)]
    lu = [torch.from_numpy(rng[3]), torch.from_numpy(rng[7])]  # float32, as PADing's FloatTensor draws
    perm = torch.from_numpy(rng[8]).long()
    cls_step = [_rows(rng[i]) for i in (9, 10, 11)]

    # --- forward values through zs's modules (same draws), before any step
    with torch.no_grad():
        vec = gen.semantic_vectors(torch.arange(k))
        check("gen/vec", vec)
        check("gen/vector_choose_unseen", vec[unseen])
        both = gen.generate(torch.cat([batch["labels"], unseen]), RecordedDraws(gen_step))
        n = batch["labels"].numel()
        fake_s, fake_u = both[:n], both[n:]
        check("gen/fake_seen", fake_s)
        check("gen/fake_unseen", fake_u)
        r, u_, rec = dis(both)
        check("gen/fake_seen_related", r[:n])
        check("gen/fake_seen_unrelated", u_[:n])
        check("gen/rec_fake_seen", rec[:n])
        check("gen/fake_unseen_related", r[n:])
        check("gen/fake_unseen_unrelated", u_[n:])
        check("gen/rec_fake_unseen", rec[n:])
        rel_s, rel_u = dis.relation(r[:n], vec), dis.relation(r[n:], vec[unseen])
        check("gen/relations_seen", rel_s)
        check("gen/relations_unseen", rel_u)
        check("loss/mmd", L.mmd_loss(fake_s, batch["real"], cfg.mmd_sigmas))
        check("loss/cls_x0.001", cfg.cls_weight * torch.nn.functional.cross_entropy(head.raw_logits(fake_s),
                                                                                      batch["labels"]))
        cos = L.cosine_matrix
        vs, vu = vec[batch["labels"]], vec[unseen]
        check("loss/kl_a_seen_seen", L.softmax_kl(cos(r[:n], r[:n]), cos(vs, vs), cfg.tau))
        check("loss/kl_b_unseen_unseen", L.softmax_kl(cos(r[n:], r[n:]), cos(vu, vu), cfg.tau))
        check("loss/kl_c_seen_unseen", L.softmax_kl(cos(r[:n], r[n:]), cos(vs, vu), cfg.tau))
        check("loss/kl_unrelated_seen", L.softmax_kl(u_[:n], lu[0], cfg.tau))
        check("loss/kl_unrelated_unseen", L.softmax_kl(u_[n:], lu[1], cfg.tau))
        check("loss/relation_seen", L.semantic_related_ce(rel_s, batch["labels"]))
        check("loss/relation_unseen", L.semantic_related_ce(rel_u, torch.arange(unseen.numel())))
        check("loss/rec_seen", L.reconstruction_l1(rec[:n], fake_s))
        check("loss/rec_unseen", L.reconstruction_l1(rec[n:], fake_u))

    # --- the iteration itself: zs's optimizers and train_step, draws replayed in zs's order
    p0 = {n: params[zs_name(n)].detach().clone() for n in names}
    opt_g, opt_c, scheds = make_optimizers(cfg, gen, dis, head, "cpu")
    assert opt_g.defaults["fused"]  # the fast path training uses is the one checked here
    ids = {"seen": seen, "unseen": unseen, "all": torch.arange(k)}
    cw = classifier_class_weights(k, unseen, cfg)
    check("cls/class_weight", cw)
    st = TrainState(gen, dis, head, None, opt_g, opt_c, scheds, ids, cw)
    draws = RecordedDraws(gen_step + lu + [perm] + cls_step)
    grads = {}  # the first gradient each parameter receives: the generator step's backward

    def keep_first(n):
        def hook(g):
            grads.setdefault(n, g.detach().clone())  # returns None: the gradient itself is unchanged
        return hook

    hook = [params[zs_name(n)].register_hook(keep_first(n)) for n in names]
    parts = train_step(cfg, st, batch, generator=draws)
    for h in hook:
        h.remove()
    assert len(draws) == 0, "zs drew fewer random tensors than PADing"
    for key, part in (("loss/mmd", "mmd"), ("loss/cls_x0.001", "cls"), ("loss/kl_all", "align"),
                      ("loss/unrelated", "unrelated"), ("loss/relation", "relation"), ("loss/rec", "recon"),
                      ("loss/structure_weighted", "structure"), ("loss/generator_total", "gen"),
                      ("loss/classifier", "clf")):
        check(key, parts[part])
    check("loss/structure", parts["structure"] / cfg.structure_weight)

    for n in (str(x) for x in inp["gen_param_names"]):
        g, p1 = grads[n], params[zs_name(n)].detach()
        if f"grad/{n}" in exp:  # stored whole
            check(f"grad/{n}", g)
            keep = np.ones(g.numel(), bool)
            keep[exp[f"adam_unstable/{n}"]] = False
            want = exp[f"adam/{n}"].reshape(-1)[keep]
            err = np.max(np.abs(p1.reshape(-1).numpy()[keep] - want)) if keep.any() else 0.0
            atol = meta["arrays"][f"adam/{n}"]["atol"]
            if not err <= atol:
                check.bad.append(f"adam/{n}: max|err| {err:.3g} > atol {atol:.3g}")
            check.seen.add(f"adam/{n}")
        else:  # sampled entries, row / column sums, norms
            idx = torch.from_numpy(exp[f"idx/{n}"]).long()
            check(f"grad_at/{n}", g.reshape(-1)[idx])
            check(f"grad_rowsum/{n}", g.sum(1))
            check(f"grad_colsum/{n}", g.sum(0))
            check(f"grad_l2/{n}", g.norm())
            check(f"adam_at/{n}", p1.reshape(-1)[idx])
            check(f"adam_delta_l2/{n}", (p1 - p0[n]).norm())

    # --- the classifier step saw the updated generator: recompute its inputs from zs's modules
    with torch.no_grad():
        chosen = unseen[perm[: cfg.num_choose]]
        fake_c = gen.generate(chosen, RecordedDraws(cls_step))
    check("cls/fake_unseen", fake_c)
    assert torch.equal(perm[: cfg.num_choose], torch.from_numpy(exp["cls/index_choose"]).long())
    assert torch.equal(chosen, torch.from_numpy(exp["cls/labels_unseen"]).long())
    assert torch.equal(torch.cat([labels_all, chosen]), torch.from_numpy(exp["cls/labels"]).long())
    for n in ("new_fc.weight", "new_fc.bias"):
        check(f"cls_grad/{n}", params[zs_name(n)].grad)
        check(f"sgd/{n}", params[zs_name(n)])
    with torch.no_grad():
        check("cls/logits", torch.nn.functional.linear(torch.cat([queries, fake_c]), _t(inp["new_fc.weight"]),
                                                      _t(inp["new_fc.bias"])))
    # the classifier SGD keeps lr 1e-3 (no schedule on it); the generator Adam is the scheduled one
    assert [g["lr"] for g in opt_c.param_groups] == [1e-3]
    assert scheds and all(s.optimizer is opt_g for s in scheds)

    for n in ("new_fc.weight", "new_fc.bias"):  # the generator step's CE reaches new_fc; its SGD step ignores it
        check(f"grad_gen_step_unused/{n}", grads[n])
    missing = sorted(k for k in exp if k not in check.seen
                     and not k.startswith(("idx/", "adam_unstable/", "cls/index_choose", "cls/labels")))
    assert not missing, f"expected keys not compared: {missing[:10]}"
    assert not check.bad, "zs differs from PADing's iteration:\n" + "\n".join(check.bad)
