"""The three generators: GMMN baseline, PADing's primitive generator, semantic-centric VAE.

All share one interface (:class:`Generator`): the class semantic matrix
[K, Dt] is a buffer, ``sample(class_ids, n)`` returns ``[M*n, D]`` features in
``repeat_interleave`` order, ``semantic_vectors(class_ids)`` returns the
semantic vectors the structure losses compare (projected where the generator
projects them).
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn

from zs.errors import ZsError
from zs.generate.config import GeneratorConfig


class RecordedDraws:
    """Random tensors replayed in order instead of drawn (to reproduce a recorded run, e.g. PADing's own).

    Accepted wherever a ``generator`` is: each draw takes the next tensor, which
    must have the shape zs asks for.
    """

    def __init__(self, tensors):
        self._todo = list(tensors)

    def take(self, shape, dtype: torch.dtype, device) -> torch.Tensor:
        if not self._todo:
            raise RuntimeError(f"no recorded draw left for a draw of shape {tuple(shape)}")
        t = torch.as_tensor(self._todo.pop(0))
        if tuple(t.shape) != tuple(shape):
            raise RuntimeError(f"recorded draw has shape {tuple(t.shape)}, this draw needs {tuple(shape)}")
        return t.to(device=device, dtype=dtype)

    def __len__(self) -> int:
        return len(self._todo)


def randn(shape, like: torch.Tensor, generator, dtype: torch.dtype | None = None) -> torch.Tensor:
    """N(0, I) on ``like``'s device (dtype: ``like``'s unless given), from ``generator`` (a
    torch.Generator on the CPU or the same device, or :class:`RecordedDraws`) or the global RNG."""
    dtype = dtype or like.dtype
    if isinstance(generator, RecordedDraws):
        return generator.take(shape, dtype, like.device)
    if generator is None:
        return torch.randn(shape, device=like.device, dtype=dtype)
    out = torch.randn(shape, generator=generator, device=generator.device, dtype=dtype)
    return out.to(like.device)


def randperm(n: int, device, generator=None) -> torch.Tensor:
    """A random permutation of range(n) on ``device`` (same sources as :func:`randn`)."""
    if isinstance(generator, RecordedDraws):
        return generator.take((n,), torch.long, device)
    if generator is None:
        return torch.randperm(n, device=device)
    return torch.randperm(n, generator=generator, device=generator.device).to(device)


class Generator(nn.Module):
    """Base: semantic buffer, class-id checks, sampling."""

    # True when each generated row depends only on its own class id and noise (no BatchNorm),
    # so one forward over the concatenated ids equals separate forwards (training fuses them)
    rows_independent = True

    def __init__(self, cfg: GeneratorConfig, semantic: torch.Tensor | None = None):
        super().__init__()
        cfg.validate()
        self.cfg = cfg
        if semantic is None:
            semantic = torch.zeros(cfg.num_classes, cfg.text_dim)
        if tuple(semantic.shape) != (cfg.num_classes, cfg.text_dim):
            raise ZsError(
                f"semantic matrix {tuple(semantic.shape)} does not fit the generator "
                f"(K={cfg.num_classes}, Dt={cfg.text_dim})"
            )
        self.register_buffer("semantic", semantic.detach().float().clone())  # [K, Dt]

    def _check_ids(self, class_ids: torch.Tensor) -> torch.Tensor:
        class_ids = torch.as_tensor(class_ids, dtype=torch.long, device=self.semantic.device)
        if class_ids.numel() and (class_ids.min() < 0 or class_ids.max() >= self.cfg.num_classes):
            raise ZsError(f"class ids must be in [0, {self.cfg.num_classes}), got {class_ids.tolist()[:10]}")
        return class_ids

    def semantic_vectors(self, class_ids: torch.Tensor) -> torch.Tensor:
        """[M] -> [M, E] semantic vectors used by the alignment / relation losses."""
        return self.semantic[class_ids]

    def generate(self, class_ids: torch.Tensor, generator=None) -> torch.Tensor:
        """[M] class ids -> [M, D] synthetic features (one per id; training mode keeps dropout).

        ``generator``: a torch.Generator, :class:`RecordedDraws`, or None (torch's global RNG).
        """
        raise NotImplementedError

    @torch.no_grad()
    def sample(self, class_ids, n: int = 1, generator=None) -> torch.Tensor:
        """[M] class ids -> [M*n, D]: n samples per id, in repeat_interleave order."""
        ids = self._check_ids(class_ids).repeat_interleave(n)  # [M*n]
        if ids.numel() == 0:
            return self.semantic.new_zeros(0, self.cfg.query_dim)
        return self.generate(ids, generator)


class GmmnGenerator(Generator):
    """ZS3-style GMMN: [noise ⊕ semantic] -> Linear -> LeakyReLU(0.2) -> Dropout -> Linear."""

    def __init__(self, cfg: GeneratorConfig, semantic: torch.Tensor | None = None):
        super().__init__(cfg, semantic)
        self.noise_dim = cfg.gmmn_noise_dim or cfg.text_dim
        self.net = nn.Sequential(
            nn.Linear(self.noise_dim + cfg.text_dim, cfg.gmmn_hidden),
            nn.LeakyReLU(0.2),
            nn.Dropout(cfg.gmmn_dropout),
            nn.Linear(cfg.gmmn_hidden, cfg.query_dim),
        )
        for m in self.net:
            if isinstance(m, nn.Linear):
                nn.init.xavier_uniform_(m.weight)
                nn.init.constant_(m.bias, 0.01)

    def generate(self, class_ids, generator=None):
        sem = self.semantic[class_ids]  # [M, Dt]
        noise = randn((sem.shape[0], self.noise_dim), sem, generator)  # [M, Dn]
        return self.net(torch.cat([sem, noise], 1))  # [M, D]


def single_token_self_attention(mha: nn.MultiheadAttention, x: torch.Tensor) -> torch.Tensor:
    """``mha`` over M independent length-1 sequences x [M, D] -> [M, D], computed directly.

    With a single key the softmax weight is exactly 1, so the output is
    out_proj(dropout(1) * V): the query/key projections cannot change it (in
    the module's own forward their gradients are exactly 0 too), so they are
    skipped. Attention dropout drops the weight per (token, head), as in ``mha``.
    """
    m, d = x.shape
    h = mha.num_heads
    v = F.linear(x, mha.in_proj_weight[2 * d:], mha.in_proj_bias[2 * d:])  # [M, D]
    if mha.training and mha.dropout > 0:
        weight = F.dropout(v.new_ones(m, h, 1), mha.dropout, True)  # [M, H, 1] dropped attention weight
        v = (v.view(m, h, d // h) * weight).view(m, d)  # [M, D]
    return mha.out_proj(v)  # [M, D]


def cross_attention(mha: nn.MultiheadAttention, query: torch.Tensor, memory: torch.Tensor) -> torch.Tensor:
    """``mha(query, memory, memory)`` for one sequence of M queries over P memory rows -> [M, D].

    The same scaled dot-product attention with dropout on the weights, written
    out so the packed key/value projection of the memory runs once per call.
    """
    (m, d), p, h = query.shape, memory.shape[0], mha.num_heads
    hd = d // h
    w, b = mha.in_proj_weight, mha.in_proj_bias
    q = F.linear(query, w[:d], b[:d]).view(m, h, hd).transpose(0, 1)  # [H, M, hd]
    k, v = F.linear(memory, w[d:], b[d:]).view(p, 2, h, hd).permute(1, 2, 0, 3)  # [H, P, hd] each
    attn = torch.softmax((q * hd ** -0.5) @ k.transpose(1, 2), dim=-1)  # [H, M, P]
    attn = F.dropout(attn, mha.dropout, mha.training)
    out = (attn @ v).transpose(0, 1).reshape(m, d)  # [M, D]
    return mha.out_proj(out)


class PrimitiveLayer(nn.Module):
    """Post-norm transformer decoder layer with N(0, I) noise after cross-attention (PADing Eq. 1).

    The query is one token per class (its projected semantic vector); the
    memory is the shared set of learned primitives. The attention modules are
    ``nn.MultiheadAttention`` (their parameters and state-dict keys); the
    forward computes the same attention directly (see the two functions above).
    """

    def __init__(self, d: int, heads: int, ffn: int, dropout: float, noise: bool):
        super().__init__()
        self.self_attn = nn.MultiheadAttention(d, heads, dropout=dropout, batch_first=True)
        self.cross_attn = nn.MultiheadAttention(d, heads, dropout=dropout, batch_first=True)
        self.ffn = nn.Sequential(nn.Linear(d, ffn), nn.ReLU(), nn.Dropout(dropout), nn.Linear(ffn, d))
        self.norm1, self.norm2, self.norm3 = nn.LayerNorm(d), nn.LayerNorm(d), nn.LayerNorm(d)
        self.drop1, self.drop2, self.drop3 = nn.Dropout(dropout), nn.Dropout(dropout), nn.Dropout(dropout)
        self.noise = noise

    def forward(self, tgt: torch.Tensor, memory: torch.Tensor, generator=None) -> torch.Tensor:
        # tgt [M, D] (M independent length-1 sequences), memory [P, D] (shared primitives)
        tgt = self.norm1(tgt + self.drop1(single_token_self_attention(self.self_attn, tgt)))
        tgt = tgt + self.drop2(cross_attention(self.cross_attn, tgt, memory))  # [M, D]
        if self.noise:
            tgt = tgt + randn(tgt.shape, tgt, generator)  # Z in Eq. 1
        tgt = self.norm2(tgt)
        tgt = self.norm3(tgt + self.drop3(self.ffn(tgt)))
        return tgt  # [M, D]


class PrimitiveGenerator(Generator):
    """PADing's primitive cross-modal generator (Eq. 1; released-code layout)."""

    def __init__(self, cfg: GeneratorConfig, semantic: torch.Tensor | None = None):
        super().__init__(cfg, semantic)
        d = cfg.query_dim
        self.project = nn.Linear(cfg.text_dim, d)  # semantic 512 -> 256
        self.primitives = nn.Embedding(cfg.num_primitives, d)  # [P, D] learned primitives
        self.layers = nn.ModuleList(
            PrimitiveLayer(d, cfg.num_heads, cfg.ffn_dim, cfg.dropout, cfg.noise) for _ in range(cfg.num_layers)
        )
        self.norm = nn.LayerNorm(d)

    def semantic_vectors(self, class_ids):
        return self.project(self.semantic[class_ids])  # [M, D]

    def generate(self, class_ids, generator=None):
        x = self.project(self.semantic[class_ids])  # [M, D]
        for layer in self.layers:
            x = layer(x, self.primitives.weight, generator)
        return self.norm(x)  # [M, D]


def _mlp_blocks(dims: list[int]) -> nn.Sequential:
    """[Linear-BatchNorm1d-LeakyReLU] for each consecutive pair of dims."""
    layers: list[nn.Module] = []
    for a, b in zip(dims[:-1], dims[1:]):
        layers += [nn.Linear(a, b), nn.BatchNorm1d(b), nn.LeakyReLU(0.2)]
    return nn.Sequential(*layers)


class VaeGenerator(Generator):
    """Semantic-centric VAE (SC §3.2, Fig. 3b): encoder on features, decoder on z + projected semantics.

    Training encodes the real seen features; sampling (class projector
    adaptation, SC §3.3) feeds N(0, I) noise through the encoder instead.
    """

    rows_independent = False  # BatchNorm couples the rows of a batch

    def __init__(self, cfg: GeneratorConfig, semantic: torch.Tensor | None = None):
        super().__init__(cfg, semantic)
        d, h = cfg.query_dim, cfg.vae_hidden
        self.latent = cfg.vae_latent or d
        self.encoder = _mlp_blocks([d] + [h] * cfg.vae_layers)
        self.to_mu = nn.Linear(h, self.latent)
        self.to_logvar = nn.Linear(h, self.latent)
        self.condition = nn.Linear(cfg.text_dim, self.latent)  # A'_s: projected semantic condition
        self.decoder = _mlp_blocks([self.latent] + [h] * cfg.vae_layers)
        self.out = nn.Linear(h, d)

    def semantic_vectors(self, class_ids):
        return self.condition(self.semantic[class_ids])  # [M, latent]

    def encode(self, feat: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        h = self.encoder(feat)  # [M, H]
        return self.to_mu(h), self.to_logvar(h).clamp(-10, 10)  # [M, L] each

    def decode(self, z: torch.Tensor, class_ids: torch.Tensor) -> torch.Tensor:
        return self.out(self.decoder(z + self.condition(self.semantic[class_ids])))  # [M, D]

    def reconstruct(self, real: torch.Tensor, class_ids: torch.Tensor, generator=None):
        """Training path: real [M, D] -> (fake [M, D], mu, logvar)."""
        mu, logvar = self.encode(real)
        z = mu + randn(mu.shape, mu, generator) * torch.exp(0.5 * logvar)  # reparameterisation
        return self.decode(z, class_ids), mu, logvar

    def generate(self, class_ids, generator=None):
        noise = randn((class_ids.numel(), self.cfg.query_dim), self.semantic, generator)  # [M, D]
        return self.reconstruct(noise, class_ids, generator)[0]


_KINDS = {"gmmn": GmmnGenerator, "primitive": PrimitiveGenerator, "vae": VaeGenerator}


def build_generator(cfg: GeneratorConfig, semantic: torch.Tensor | None = None) -> Generator:
    """GeneratorConfig (+ class semantic matrix [K, Dt]) -> a Generator."""
    cfg.validate()
    return _KINDS[cfg.kind](cfg, semantic)


def sample_features(gen: Generator, class_ids, n: int = 1, generator=None) -> torch.Tensor:
    """Eval-mode sampling that restores the module's previous mode."""
    was_training = gen.training
    gen.eval()
    try:
        return gen.sample(class_ids, n, generator)
    finally:
        gen.train(was_training)
