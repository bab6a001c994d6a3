"""Configs of the generators and of their training (dataclasses, no torch).

Defaults are PADing's released-code values (DESIGN §7) and, for the VAE, the
semantic-centric paper's; dimensions (query dim D, text dim Dt, K) are filled
in from the store, never hard-coded.
"""

from __future__ import annotations

import dataclasses
from typing import Optional

from zs.errors import ConfigError

KINDS = ("gmmn", "primitive", "vae")
SCHEDULES = ("pading", "two-stage")
UNRELATED_KL = ("released", "gaussian")
LR_SCHEDULES = ("multistep", "poly", "constant")
GEN_CE_LOGITS = ("all", "seen")
RELATION_CLASSES = ("all", "seen")

# PADing's three protocols, as its released configs set them (DESIGN §7; docs/generate.md has the
# source of each value). "gen_dropout" is the generator's TRANS_DROP_RATE (GeneratorConfig.dropout).
PRESETS: dict[str, dict] = {
    "pading-panoptic": dict(  # configs/panoptic-segmentation/PADing.yaml: COCO panoptic 119/14
        schedule="pading", iterations=20000, batch_images=12, structure_weight=1e-4, gen_dropout=0.1,
        disentangle_dropout=0.1, lr_schedule="multistep", lr_steps=(0.7, 0.925),  # x0.1 at 14,000 and 18,500
        unseen_class_weight=5.0, no_object_weight=0.1, num_choose=5, gen_ce_logits="all", relation_classes="all",
    ),
    "pading-semantic": dict(  # configs/semantic-segmentation/PADing.yaml: COCO-Stuff 156/15
        schedule="pading", iterations=2000, batch_images=12, structure_weight=1e-3, gen_dropout=0.3,
        disentangle_dropout=0.2, lr_schedule="poly", unseen_class_weight=5.0, no_object_weight=0.1,
        num_choose=17, gen_ce_logits="seen", relation_classes="all",  # NUM_CHOOSE 17 >= 15 unseen: all
    ),
    "pading-instance": dict(  # configs/instance-segmentation/PADing.yaml: COCO 48/17
        schedule="pading", iterations=4000, batch_images=12, structure_weight=1e-3, gen_dropout=0.1,
        disentangle_dropout=0.1, lr_schedule="constant", unseen_class_weight=2.0, no_object_weight=0.1,
        num_choose=5, gen_ce_logits="all", relation_classes="seen",  # VEC_PATH: seen vectors apart
    ),
}


@dataclasses.dataclass
class GeneratorConfig:
    """Architecture of one generator; saved as the artifact's ``config.json``."""

    kind: str = "primitive"  # "gmmn" | "primitive" | "vae"
    query_dim: int = 0  # D (from the store)
    text_dim: int = 0  # Dt (from the store's text embeddings)
    num_classes: int = 0  # K (from the vocabulary)
    # primitive generator (PADing Eq. 1; released code)
    num_primitives: int = 400
    num_layers: int = 3
    num_heads: int = 8
    ffn_dim: int = 1024
    dropout: float = 0.1
    noise: bool = True  # N(0, I) added to the residual after cross-attention
    # gmmn (ZS3 baseline): [noise ⊕ semantic] -> Linear -> LeakyReLU(0.2) -> Dropout -> Linear
    gmmn_noise_dim: int = 0  # 0 = text_dim (PADing's code: noise as wide as the semantic vector)
    gmmn_hidden: int = 256
    gmmn_dropout: float = 0.4
    # vae (semantic-centric): 4 x [Linear-BatchNorm1d-LeakyReLU] encoder and decoder
    vae_hidden: int = 512
    vae_latent: int = 0  # 0 = query_dim
    vae_layers: int = 4

    def validate(self) -> None:
        if self.kind not in KINDS:
            raise ConfigError(f"generator kind '{self.kind}' is not one of {list(KINDS)}")
        for name in ("query_dim", "text_dim", "num_classes"):
            if getattr(self, name) <= 0:
                raise ConfigError(f"generator config: {name}={getattr(self, name)} must be > 0")
        if self.kind == "primitive":
            if self.num_primitives <= 0 or self.num_layers <= 0:
                raise ConfigError(
                    f"primitive generator needs num_primitives > 0 and num_layers > 0 "
                    f"(got {self.num_primitives}, {self.num_layers})"
                )
            if self.query_dim % self.num_heads:
                raise ConfigError(f"query dim {self.query_dim} is not divisible by num_heads={self.num_heads}")


@dataclasses.dataclass
class FitConfig:
    """Everything ``zs fit-generator`` needs; the defaults reproduce PADing (panoptic)."""

    store: str = ""
    out: str = ""
    preset: Optional[str] = None  # the PRESETS entry the values came from (recorded; see fit_config)
    split: str = "train"
    allow_unseen_in_train: bool = False  # transductive experiments: train on a split with matched unseen queries
    text_name: Optional[str] = None  # None = the store's default text embeddings
    kind: str = "primitive"
    schedule: str = "pading"  # "pading" (generator + classifier alternate) | "two-stage"
    iterations: int = 20000
    batch_images: int = 12  # images per iteration (PADing: 12)
    batch_size: int = 128  # matched features per step when reading matched_batches (two-stage)
    seed: int = 0
    device: str = "auto"
    # query / text dims: 0 = take from the store; a non-zero value must match the store
    query_dim: int = 0
    text_dim: int = 0
    # generator side (Adam)
    lr: float = 5e-4
    cls_weight: Optional[float] = None  # 0.001 for gmmn/primitive, 0 for vae when None
    # PADing structure: L_D (disentanglement) and L_A (relationship alignment), Eq. 7
    alignment: Optional[bool] = None  # None: on for primitive, off for gmmn/vae
    disentangle: Optional[bool] = None  # None: on for primitive, off for gmmn/vae
    structure_weight: float = 1e-4  # w: 1e-4 panoptic, 1e-3 semantic/instance
    align_weight: float = 1.0  # released code weight_1 (alignment KL + unrelated KL)
    relation_weight: float = 1.0  # weight_2 (semantic-related CE, itself scaled by 0.2)
    recon_weight: float = 0.5  # weight_3 (L1 reconstruction)
    tau: float = 0.1  # relationship / relation temperature
    # L_U: "released" (PADing's code: softmax-KL at tau towards a fresh N(0, I) draw of E_U(fake)'s shape);
    # "gaussian" is a departure (KL of the batch moments of E_U(fake) to N(0, 1), the paper's Eq. 4 read literally)
    unrelated_kl: str = "released"
    disentangle_dropout: float = 0.1
    # semantic-centric G2S (Eq. 8): L_mmd + lambda_s * L_g2v + lambda_v * L_gv2s
    diversity: Optional[bool] = None  # G2V's contrastive term; None: on for vae
    gv2s: Optional[bool] = None  # None: on for vae when a projector is given
    lambda_s: float = 1.0
    lambda_v: float = 1.0
    div_tau: float = 0.1
    vae_kl_weight: float = 0.01  # standard VAE KL (not in the paper; 0 disables)
    projector: Optional[str] = None  # zs ProjectorHead directory (needed by GV2S)
    focal_alpha: float = 0.25
    focal_gamma: float = 2.0
    mmd_sigmas: tuple = (2.0, 5.0, 10.0, 20.0, 40.0, 80.0)  # kernel variances
    # classifier refit (PADing schedule; SGD)
    cls_lr: float = 1e-3
    cls_momentum: float = 0.9
    cls_weight_decay: float = 5e-4
    unseen_class_weight: float = 5.0
    no_object_weight: float = 0.1
    num_choose: int = 5  # unseen classes x 1 synthetic sample per classifier step
    # generator-side Adam LR schedule (the classifier's SGD stays at cls_lr): "multistep" x0.1 at the
    # fractions lr_steps of the iterations (PADing panoptic: 14000, 18500 of 20000), "poly", "constant"
    lr_schedule: str = "multistep"
    lr_steps: tuple = (0.7, 0.925)
    poly_power: float = 0.9
    gen_ce_logits: str = "all"  # logits of the generator's CE term: "all" K+1, or "seen" classes only
    relation_classes: str = "all"  # L_R of fake seen features: relation scores vs "all" K classes or "seen" only
    # bookkeeping
    checkpoint_every: int = 1000
    resume: bool = False
    progress: bool = False
    # architecture
    generator: GeneratorConfig = dataclasses.field(default_factory=GeneratorConfig)

    def resolved(self) -> "FitConfig":
        """A copy with the per-kind defaults (None fields) filled in and checked."""
        c = dataclasses.replace(self, generator=dataclasses.replace(self.generator, kind=self.kind))
        pading_like = self.kind in ("gmmn", "primitive")
        if c.cls_weight is None:
            c.cls_weight = 0.001 if pading_like else 0.0
        if c.alignment is None:
            c.alignment = self.kind == "primitive"
        if c.disentangle is None:
            c.disentangle = self.kind == "primitive"
        if c.diversity is None:
            c.diversity = self.kind == "vae"
        if c.gv2s is None:
            c.gv2s = self.kind == "vae" and bool(self.projector)
        c.mmd_sigmas = tuple(float(s) for s in c.mmd_sigmas)
        c.lr_steps = tuple(float(s) for s in c.lr_steps)
        c.validate()
        return c

    def validate(self) -> None:
        if self.kind not in KINDS:
            raise ConfigError(f"--kind '{self.kind}' is not one of {list(KINDS)}")
        if self.preset is not None and self.preset not in PRESETS:
            raise ConfigError(f"--preset '{self.preset}' is not one of {sorted(PRESETS)}")
        if self.schedule not in SCHEDULES:
            raise ConfigError(f"--schedule '{self.schedule}' is not one of {list(SCHEDULES)}")
        if self.unrelated_kl not in UNRELATED_KL:
            raise ConfigError(f"unrelated_kl '{self.unrelated_kl}' is not one of {list(UNRELATED_KL)}")
        if self.lr_schedule not in LR_SCHEDULES:
            raise ConfigError(f"lr_schedule '{self.lr_schedule}' is not one of {list(LR_SCHEDULES)}")
        if self.gen_ce_logits not in GEN_CE_LOGITS:
            raise ConfigError(f"gen_ce_logits '{self.gen_ce_logits}' is not one of {list(GEN_CE_LOGITS)}")
        if self.relation_classes not in RELATION_CLASSES:
            raise ConfigError(f"relation_classes '{self.relation_classes}' is not one of {list(RELATION_CLASSES)}")
        if self.iterations <= 0 or self.batch_images <= 0 or self.batch_size <= 0:
            raise ConfigError("iterations, batch_images and batch_size must be > 0")
        if self.gv2s and not self.projector:
            raise ConfigError("GV2S needs a frozen class projector: pass --projector HEAD (from zs adapt --method v2c)")
        if (self.diversity or self.gv2s) and self.kind != "vae":
            raise ConfigError(f"diversity / GV2S are semantic-centric VAE losses; --kind is '{self.kind}'")
        if not self.mmd_sigmas or any(s <= 0 for s in self.mmd_sigmas):
            raise ConfigError(f"mmd_sigmas must be positive, got {self.mmd_sigmas}")
        if self.checkpoint_every <= 0:
            raise ConfigError(f"checkpoint_every must be > 0, got {self.checkpoint_every}")


def fit_config(preset: Optional[str] = None, *, generator: Optional[GeneratorConfig] = None,
               gen_dropout: Optional[float] = None, **fields) -> FitConfig:
    """A FitConfig from a preset's values (``PRESETS``), then ``fields``: explicit values win.

    ``gen_dropout`` (the generator's dropout) likewise overrides the preset's.
    """
    if preset is not None and preset not in PRESETS:
        raise ConfigError(f"--preset '{preset}' is not one of {sorted(PRESETS)}")
    values = dict(PRESETS[preset]) if preset else {}
    preset_dropout = values.pop("gen_dropout", None)
    values.update(fields)
    gen = generator or GeneratorConfig()
    dropout = gen_dropout if gen_dropout is not None else preset_dropout
    if dropout is not None:
        gen = dataclasses.replace(gen, dropout=dropout)
    return FitConfig(preset=preset, generator=gen, **values)
