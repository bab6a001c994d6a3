"""PADing's feature disentanglement modules (§3.3): E_R, E_U, decoder D, relation network.

Layouts follow the released code: each encoder is Linear-Linear-LeakyReLU-
Dropout, the decoder maps [r ⊕ u] back to D with two Linear-LeakyReLU-Dropout
blocks, the relation network scores (feature, semantic vector) pairs with an
MLP and a sigmoid.
"""

from __future__ import annotations

import torch
from torch import nn


def _encoder(d: int, dropout: float) -> nn.Sequential:
    return nn.Sequential(nn.Linear(d, d), nn.Linear(d, d), nn.LeakyReLU(0.2), nn.Dropout(dropout))


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
        hidden = (feat @ w_x.t()).unsqueeze(1) + (sem @ w_a.t() + self.fc1.bias).unsqueeze(0)  # [N, C, d]
        return torch.sigmoid(self.fc2(torch.relu(hidden))).squeeze(2)  # [N, C]


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
