"""One training step's objective: the generator loss (PADing Eq. 7 / SC Eq. 8) and PADing's classifier loss.

The loss terms themselves are the pure functions of :mod:`zs.generate.losses`;
this module only decides which ones run (ablation switches) and with which
weights (PADing's released code).
"""

from __future__ import annotations

import dataclasses

import torch

from zs.generate import losses as L
from zs.generate.config import FitConfig
from zs.generate.models import Generator, VaeGenerator, randn, randperm, sample_features
from zs.generate.structure import Disentangler


@dataclasses.dataclass
class StepInputs:
    """What one generator step sees (all on the training device)."""

    real: torch.Tensor  # [N, D] matched real seen features
    labels: torch.Tensor  # [N] vocab indices (seen)
    unmatched: torch.Tensor  # [U, D] unmatched queries of the batch (may be empty)
    unseen_ids: torch.Tensor  # [Ku] vocab indices of the unseen classes
    seen_ids: torch.Tensor  # [Ks] vocab indices of the seen classes
    all_ids: torch.Tensor  # [K]


def _structure_loss(cfg: FitConfig, gen: Generator, dis: Disentangler | None, fake_seen, fake_unseen,
                    inp: StepInputs, generator=None):
    """w1 (L_A + L_U) + w2 L_R + w3 L_recon on synthetic seen + unseen features (PADing §3.3).

    fake_seen [N, D] (the step's synthetic seen features), fake_unseen [Ku, D] (one per unseen class).
    """
    terms: dict[str, torch.Tensor] = {}
    n = fake_seen.shape[0]
    feat_s, feat_u = fake_seen, fake_unseen
    sem_all = gen.semantic_vectors(inp.all_ids)  # [K, E]; rows of semantic_vectors are per class
    if cfg.disentangle and dis is not None:
        r, u, rec = dis(torch.cat([fake_seen, fake_unseen]))  # [N+Ku, D] each; rows are independent
        r_s, r_u, u_s, u_u = r[:n], r[n:], u[:n], u[n:]
        if cfg.relation_classes == "all":  # seen features scored against every class's vector
            ce_s = L.semantic_related_ce(dis.relation(r_s, sem_all), inp.labels)
        else:  # against the seen classes' only (PADing instance: its word2vec file holds them apart)
            scores = dis.relation(r_s, sem_all[inp.seen_ids])  # [N, Ks]
            ce_s = L.semantic_related_ce(scores, _positions(inp.seen_ids, inp.labels))
        local = torch.arange(inp.unseen_ids.numel(), device=fake_seen.device)
        ce_u = L.semantic_related_ce(dis.relation(r_u, sem_all[inp.unseen_ids]), local)
        terms["relation"] = 0.2 * (ce_s + ce_u) / 2.0
        terms["recon"] = (L.reconstruction_l1(rec[:n], fake_seen) + L.reconstruction_l1(rec[n:], fake_unseen)) / 2.0
        terms["unrelated"] = 0.5 * (_unrelated(cfg, u_s, generator) + _unrelated(cfg, u_u, generator)) / 2.0
        feat_s, feat_u = r_s, r_u
    if cfg.alignment:
        terms["align"] = L.relationship_alignment_loss(
            feat_s, sem_all[inp.labels], feat_u, sem_all[inp.unseen_ids], cfg.tau
        )
    zero = fake_seen.new_zeros(())
    total = (
        cfg.align_weight * (terms.get("align", zero) + terms.get("unrelated", zero))
        + cfg.relation_weight * terms.get("relation", zero)
        + cfg.recon_weight * terms.get("recon", zero)
    )
    return total, terms


def _fake_features(cfg: FitConfig, gen: Generator, inp: StepInputs, structure: bool, generator=None):
    """(fake [N, D] for the real batch, fake_unseen [Ku, D] or None, VAE KL or None).

    A generator whose rows are independent makes the seen and unseen features
    in one forward (the same maths as two forwards, half the fixed cost): its
    noise draws are the row-concatenation of the two forwards' draws.
    """
    if isinstance(gen, VaeGenerator):
        fake, mu, logvar = gen.reconstruct(inp.real, inp.labels, generator)  # [N, D]
        kl = cfg.vae_kl_weight * L.vae_kl(mu, logvar) if cfg.vae_kl_weight else None
        return fake, (gen.generate(inp.unseen_ids, generator) if structure else None), kl
    if structure and gen.rows_independent:
        both = gen.generate(torch.cat([inp.labels, inp.unseen_ids]), generator)  # [N+Ku, D]
        n = inp.labels.shape[0]
        return both[:n], both[n:], None
    fake = gen.generate(inp.labels, generator)  # [N, D]
    return fake, (gen.generate(inp.unseen_ids, generator) if structure else None), None


def _unrelated(cfg: FitConfig, u: torch.Tensor, generator=None) -> torch.Tensor:
    """L_U of E_U features u [M, D]. "released": softmax-KL (T = 0.1) towards a fresh float32
    N(0, I) draw of u's shape (PADing's ``torch.FloatTensor(M, D).normal_``); "gaussian": batch moments."""
    if cfg.unrelated_kl == "released":
        return L.softmax_kl(u, randn(u.shape, u, generator, dtype=torch.float32), cfg.tau)
    return L.gaussian_kl_to_standard(u)


def _positions(ids: torch.Tensor, labels: torch.Tensor) -> torch.Tensor:
    """Positions in ``ids`` [S] of ``labels`` [N] (all of which are in ``ids``)."""
    position = torch.full((int(max(ids.max(), labels.max())) + 1,), -1, dtype=torch.long, device=ids.device)
    position[ids] = torch.arange(ids.numel(), device=ids.device)
    return position[labels]


def _generator_ce(cfg: FitConfig, logits: torch.Tensor, inp: StepInputs) -> torch.Tensor:
    """CE of the classifier's logits [N, K+1] of fake seen features: over all K+1 logits, or ("seen")
    over the seen classes' logits only (PADing semantic: ``new_fc(fake)[:, :156]``, its 156 seen classes)."""
    if cfg.gen_ce_logits == "all":
        return torch.nn.functional.cross_entropy(logits, inp.labels)
    return torch.nn.functional.cross_entropy(logits[:, inp.seen_ids], _positions(inp.seen_ids, inp.labels))


def generator_loss(
    cfg: FitConfig,
    gen: Generator,
    inp: StepInputs,
    *,
    dis: Disentangler | None = None,
    classifier=None,
    projector=None,
    generator=None,
) -> tuple[torch.Tensor, dict[str, torch.Tensor]]:
    """Total generator-side loss of one step and its parts (detached 0-d tensors, for logging).

    PADing (Eq. 7, released weights): L_mmd + cls_weight * CE(classifier(fake seen))
    + structure_weight * structure. Semantic-centric VAE (Eq. 8):
    L_mmd + lambda_s (L_mmd + L_div) + lambda_v L_gv2s (+ optional VAE KL).
    ``generator``: where the step's random draws come from (None: torch's global RNG).
    """
    parts: dict[str, torch.Tensor] = {}
    structure = bool((cfg.alignment or cfg.disentangle) and inp.unseen_ids.numel())
    fake, fake_unseen, vae_kl = _fake_features(cfg, gen, inp, structure, generator)
    if vae_kl is not None:
        parts["vae_kl"] = vae_kl
    mmd = L.mmd_loss(fake, inp.real, cfg.mmd_sigmas)
    parts["mmd"] = mmd
    if cfg.diversity:
        div = L.diversity_contrastive_loss(fake, inp.real, inp.unmatched, cfg.div_tau)
        parts["div"] = div
        parts["g2v"] = cfg.lambda_s * (mmd + div)
    if cfg.gv2s and projector is not None:
        parts["gv2s"] = cfg.lambda_v * L.gv2s_loss(
            fake, inp.labels, projector, inp.seen_ids, cfg.focal_alpha, cfg.focal_gamma
        )
    if classifier is not None and cfg.cls_weight:
        parts["cls"] = cfg.cls_weight * _generator_ce(cfg, classifier.raw_logits(fake), inp)
    if structure:
        total_structure, terms = _structure_loss(cfg, gen, dis, fake, fake_unseen, inp, generator)
        parts["structure"] = cfg.structure_weight * total_structure
        parts.update({k: v.detach() for k, v in terms.items()})
    summed = ("mmd", "g2v", "gv2s", "cls", "structure", "vae_kl")
    total = sum(parts[k] for k in summed if k in parts)
    return total, {k: v.detach() for k, v in parts.items()}


def classifier_class_weights(num_classes: int, unseen_ids: torch.Tensor, cfg: FitConfig) -> torch.Tensor:
    """[K+1]: seen 1, unseen ``unseen_class_weight`` (5), no-object ``no_object_weight`` (0.1)."""
    w = torch.ones(num_classes + 1, device=unseen_ids.device)
    w[unseen_ids] = cfg.unseen_class_weight
    w[num_classes] = cfg.no_object_weight
    return w


def classifier_loss(
    cfg: FitConfig, gen: Generator, classifier, embed: torch.Tensor, labels: torch.Tensor,
    unseen_ids: torch.Tensor, class_weight: torch.Tensor, generator=None,
) -> torch.Tensor:
    """PADing's classifier step: all real queries (unmatched -> no-object) + ``num_choose`` unseen
    classes x 1 synthetic feature (detached), class-weighted CE.

    embed [B*Q, D], labels [B*Q] in [0, K] -> scalar.
    """
    pick = randperm(unseen_ids.numel(), unseen_ids.device, generator)[: cfg.num_choose]
    chosen = unseen_ids[pick]  # [c]
    if isinstance(gen, VaeGenerator):  # BatchNorm: sample with running statistics
        fake = sample_features(gen, chosen, generator=generator)  # [c, D]
    else:  # PADing samples in training mode (dropout on)
        with torch.no_grad():
            fake = gen.generate(chosen, generator)  # [c, D]
    x = torch.cat([embed, fake], 0)  # [B*Q + c, D]
    y = torch.cat([labels, chosen], 0)  # [B*Q + c]
    return L.weighted_classifier_ce(classifier.raw_logits(x), y, class_weight)
