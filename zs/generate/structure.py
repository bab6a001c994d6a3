"""PADing's feature disentanglement modules (§3.3): E_R, E_U, decoder D, relation network.

Layouts follow the released code: each encoder is Linear-Linear-LeakyReLU-
Dropout, the decoder maps [r ⊕ u] back to D with two Linear-LeakyReLU-Dropout
blocks, the relation network scores (feature, semantic vector) pairs with an
MLP and a sigmoid.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn


def _encoder(d: int, dropout: float) -> nn.Sequential:
    return nn.Sequential(nn.Linear(d, d), nn.Linear(d, d), nn.LeakyReLU(0.2), nn.Dropout(dropout))


class PairwiseReluScore(torch.autograd.Function):
    """z[n, c] = w · relu(a_n + b_c) + bias for every pair, with a hand-written backward.

    a [N, d], b [C, d], w [d], bias [1] -> z [N, C]. Autograd would keep and
    walk several [N, C, d] tensors (pre-activation, ReLU output, the outer
    product g ⊗ w and its masked copy); here the backward reads one mask
    s = 1[a_n + b_c > 0] twice. With G_a[n] = sum_c g[n, c] s[n, c] and
    G_b[c] = sum_n g[n, c] s[n, c] ([N, d], [C, d]), since relu(x) = 1[x > 0] x:
    dz/da = w ⊙ G_a, dz/db = w ⊙ G_b, dz/dw = sum_n a_n ⊙ G_a[n] + sum_c b_c ⊙ G_b[c].
    """

    @staticmethod
    def forward(ctx, a, b, w, bias):
        h = (a.unsqueeze(1) + b.unsqueeze(0)).relu_()  # [N, C, d]
        z = (h.view(-1, h.shape[2]) @ w).view(h.shape[0], h.shape[1]) + bias  # [N, C]
        ctx.save_for_backward(h.sign_(), a, b, w)  # h becomes the mask s in {0, 1}
        return z

    @staticmethod
    def backward(ctx, grad):
        s, a, b, w = ctx.saved_tensors  # [N, C, d], [N, d], [C, d], [d]
        ga = torch.bmm(grad.unsqueeze(1), s).squeeze(1)  # [N, d] = sum_c g[n, c] s[n, c]
        gb = torch.bmm(grad.t().unsqueeze(1), s.transpose(0, 1)).squeeze(1)  # [C, d] = sum_n g[n, c] s[n, c]
        gw = (a * ga).sum(0) + (b * gb).sum(0)  # [d]
        return ga * w, gb * w, gw, grad.sum().reshape(1)


class RelationNet(nn.Module):
    """score(x, a) = sigmoid(fc2(relu(fc1([x ⊕ a])))) for every feature x and class vector a."""

    def __init__(self, feat_dim: int, sem_dim: int):
        super().__init__()
        self.fc1 = nn.Linear(feat_dim + sem_dim, feat_dim)
        self.fc2 = nn.Linear(feat_dim, 1)

    def forward(self, feat: torch.Tensor, sem: torch.Tensor) -> torch.Tensor:
        # feat [N, d], sem [C, e] -> scores [N, C]. fc1 on the concatenation [x ⊕ a] equals
        # W_x x + W_a a + b; computing the two halves apart avoids an [N, C, d+e] tensor.
        d = feat.shape[1]
        w_x, w_a = self.fc1.weight[:, :d], self.fc1.weight[:, d:]  # [d, d], [d, e]
        a = F.linear(feat, w_x, self.fc1.bias)  # [N, d]
        b = sem @ w_a.t()  # [C, d]
        return torch.sigmoid(PairwiseReluScore.apply(a, b, self.fc2.weight[0], self.fc2.bias))  # [N, C]


class Disentangler(nn.Module):
    """x -> (semantic-related r = E_R(x), semantic-unrelated u = E_U(x)); D([r ⊕ u]) ~ x."""

    def __init__(self, feat_dim: int, sem_dim: int, dropout: float = 0.1):
        super().__init__()
        self.related = _encoder(feat_dim, dropout)
        self.unrelated = _encoder(feat_dim, dropout)
        self.decoder = nn.Sequential(
            nn.Linear(2 * feat_dim, feat_dim), nn.LeakyReLU(0.2), nn.Dropout(dropout),
            nn.Linear(feat_dim, feat_dim), nn.LeakyReLU(0.2), nn.Dropout(dropout),
        )
        self.relation = RelationNet(feat_dim, sem_dim)

    def forward(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        """x [N, D] -> (r [N, D], u [N, D], reconstruction [N, D])."""
        r, u = self.related(x), self.unrelated(x)
        return r, u, self.decoder(torch.cat([r, u], 1))
