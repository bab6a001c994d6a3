"""Generator losses as pure functions (tensors in, scalar tensor out).

Each docstring names the paper equation it implements:
PADing = He et al., CVPR 2023 ("Primitive generation and semantic-related
alignment"); SC = the semantic-centric alignment paper (both in
``shared/papers``).
"""

from __future__ import annotations

from typing import Sequence

import torch
import torch.nn.functional as F

PADING_SIGMAS = (2.0, 5.0, 10.0, 20.0, 40.0, 80.0)


def mmd_loss(fake: torch.Tensor, real: torch.Tensor, sigmas: Sequence[float] = PADING_SIGMAS) -> torch.Tensor:
    """Multi-bandwidth maximum mean discrepancy (PADing Eq. 2; SC Eq. 6; GMMN, Li et al. 2015).

    With k_s(a, b) = exp(-||a - b||^2 / (2 s)) for every variance s in ``sigmas``::

        MMD^2 = sum_s [ mean_{f,f' in fake} k_s + mean_{x,x' in real} k_s - 2 mean_{f, x} k_s ]
        loss  = sqrt(MMD^2)

    (the sums of Eq. 2 normalised by the set sizes, square root as in
    PADing's released ``GMMNLoss``). fake [M, D], real [N, D] -> scalar.
    """
    x = torch.cat([fake, real], 0)  # [M+N, D]
    sq = (x * x).sum(1, keepdim=True)  # [M+N, 1]
    half_neg_d2 = x @ x.t() - 0.5 * sq - 0.5 * sq.t()  # [M+N, M+N] = -||a-b||^2 / 2
    m, n = fake.shape[0], real.shape[0]
    s = torch.cat([x.new_full((m, 1), 1.0 / m), x.new_full((n, 1), -1.0 / n)])  # [M+N, 1]
    weights = s @ s.t()  # [M+N, M+N]
    total = x.new_zeros(())
    for sigma in sigmas:
        total = total + (weights * torch.exp(half_neg_d2 / sigma)).sum()
    return torch.sqrt(total.clamp_min(1e-12))


def softmax_kl(pred: torch.Tensor, target: torch.Tensor, tau: float = 0.1) -> torch.Tensor:
    """KL( softmax(target/tau) || softmax(pred/tau) ) row-wise, summed, divided by pred.numel().

    The building block of PADing Eq. 6 (and of its released ``kl_loss``).
    pred, target [R, C] -> scalar.
    """
    log_p = F.log_softmax(pred / tau, dim=1)  # [R, C]
    log_q = F.log_softmax(target / tau, dim=1)  # [R, C]
    return (log_q.exp() * (log_q - log_p)).sum() / pred.numel()


def cosine_matrix(a: torch.Tensor, b: torch.Tensor) -> torch.Tensor:
    """Cosine similarities [A, B] of the rows of a [A, d] and b [B, d]."""
    return F.normalize(a, dim=1) @ F.normalize(b, dim=1).t()


def relationship_alignment_loss(
    feat_seen: torch.Tensor,
    sem_seen: torch.Tensor,
    feat_unseen: torch.Tensor,
    sem_unseen: torch.Tensor,
    tau: float = 0.1,
) -> torch.Tensor:
    """Semantic-visual relationship alignment (PADing Eq. 6).

    KL between softmax(cos(x_i, x_j)/tau) of semantic-related features and
    softmax(cos(a_[i], a_[j])/tau) of their classes' (projected) semantic
    embeddings, averaged over the seen-seen, unseen-unseen and seen-unseen
    pair groups (intra- and inter-group alignment).
    feat_* [n, d], sem_* [n, e] (one semantic row per feature) -> scalar.
    """
    ss = softmax_kl(cosine_matrix(feat_seen, feat_seen), cosine_matrix(sem_seen, sem_seen), tau)
    uu = softmax_kl(cosine_matrix(feat_unseen, feat_unseen), cosine_matrix(sem_unseen, sem_unseen), tau)
    su = softmax_kl(cosine_matrix(feat_seen, feat_unseen), cosine_matrix(sem_seen, sem_unseen), tau)
    return (ss + uu + su) / 3.0


def semantic_related_ce(scores: torch.Tensor, labels: torch.Tensor) -> torch.Tensor:
    """Semantic-related classification L_R (PADing Eq. 3): mean cross-entropy of class scores.

    scores [N, C] (relation-network scores of a semantic-related feature with
    every class's semantic vector), labels [N] in [0, C) -> scalar.
    """
    return F.cross_entropy(scores, labels)


def gaussian_kl_to_standard(feat: torch.Tensor, eps: float = 1e-6) -> torch.Tensor:
    """Semantic-unrelated prior L_U (PADing Eq. 4): KL( N(mu, var) || N(0, 1) ).

    mu and var are the per-dimension batch moments of the semantic-unrelated
    features feat [N, d]; returns 0.5 * mean_d (var + mu^2 - 1 - log var).
    """
    mu = feat.mean(0)  # [d]
    var = feat.var(0, unbiased=False) + eps  # [d]
    return 0.5 * (var + mu * mu - 1.0 - torch.log(var)).mean()


def reconstruction_l1(recon: torch.Tensor, target: torch.Tensor) -> torch.Tensor:
    """Reconstruction L_recon (PADing Eq. 5): mean |x - D(r, u)|. [N, D], [N, D] -> scalar."""
    return (recon - target).abs().mean()


def diversity_contrastive_loss(
    fake: torch.Tensor, real: torch.Tensor, unmatched: torch.Tensor, tau: float = 0.1
) -> torch.Tensor:
    """Contrastive diversity L_div (SC Eq. 7), as an InfoNCE (-log of the ratio).

    For each synthetic f'_i (generated from the real matched f_i): positive
    exp(cos(f'_i, f_i)/tau); negatives the other synthetic features f'_j
    (j != i) of the batch and every unmatched query f^∅_k.
    fake, real [O, D], unmatched [U, D] (U may be 0) -> scalar (mean over i).
    """
    fake_n, real_n = F.normalize(fake, dim=1), F.normalize(real, dim=1)
    pos = (fake_n * real_n).sum(1, keepdim=True) / tau  # [O, 1]
    ff = fake_n @ fake_n.t() / tau  # [O, O]
    eye = torch.eye(fake.shape[0], dtype=torch.bool, device=fake.device)
    ff = ff.masked_fill(eye, float("-inf"))  # drop j == i
    parts = [pos, ff]
    if unmatched.numel():
        parts.append(fake_n @ F.normalize(unmatched, dim=1).t() / tau)  # [O, U]
    logits = torch.cat(parts, 1)  # [O, 1 + O + U]
    return -(pos.squeeze(1) - torch.logsumexp(logits, dim=1)).mean()


def sigmoid_focal_loss(
    logits: torch.Tensor, labels: torch.Tensor, alpha: float = 0.25, gamma: float = 2.0
) -> torch.Tensor:
    """Sigmoid focal loss (Lin et al. 2017), one-vs-all targets; used by GV2S (SC Eq. 8).

    logits [N, C], labels [N] in [0, C). Per element:
    -alpha_t (1 - p_t)^gamma log p_t; summed over classes, mean over N.
    """
    target = F.one_hot(labels, logits.shape[1]).to(logits.dtype)  # [N, C]
    p = torch.sigmoid(logits)
    ce = F.binary_cross_entropy_with_logits(logits, target, reduction="none")  # -log p_t
    p_t = p * target + (1 - p) * (1 - target)
    alpha_t = alpha * target + (1 - alpha) * (1 - target)
    return (alpha_t * (1 - p_t) ** gamma * ce).sum(1).mean()


def gv2s_loss(
    fake: torch.Tensor,
    labels: torch.Tensor,
    projector,
    seen_indices: torch.Tensor,
    alpha: float = 0.25,
    gamma: float = 2.0,
) -> torch.Tensor:
    """Generated-vision-to-semantic alignment L_gv2s (SC §3.2, Eq. 8).

    Synthetic seen features go through the frozen class projector (a zs
    ``ProjectorHead``: cosine with the class text embeddings / tau); sigmoid
    focal loss against the seen classes only. fake [N, D], labels [N] (vocab
    indices, all seen), seen_indices [S] -> scalar.
    """
    logits = projector.project(fake) @ projector.class_embed.t() / projector.cfg.tau  # [N, K]
    seen_logits = logits[:, seen_indices]  # [N, S]
    remap = torch.full((projector.cfg.num_classes,), -1, dtype=torch.long, device=fake.device)
    remap[seen_indices] = torch.arange(seen_indices.numel(), device=fake.device)
    return sigmoid_focal_loss(seen_logits, remap[labels], alpha, gamma)


def vae_kl(mu: torch.Tensor, logvar: torch.Tensor) -> torch.Tensor:
    """Standard VAE KL( N(mu, exp(logvar)) || N(0, I) ) (Kingma & Welling 2013), mean over N and dims."""
    return 0.5 * (mu * mu + logvar.exp() - 1.0 - logvar).mean()


def weighted_classifier_ce(logits: torch.Tensor, labels: torch.Tensor, class_weight: torch.Tensor) -> torch.Tensor:
    """PADing's classifier refit loss: class-weighted CE (seen 1, unseen 5, no-object 0.1).

    logits [N, K+1], labels [N] in [0, K], class_weight [K+1] -> scalar
    (torch's weighted mean: sum_i w_{y_i} ce_i / sum_i w_{y_i}).
    """
    return F.cross_entropy(logits, labels, weight=class_weight.to(logits.dtype))
