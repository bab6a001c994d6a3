"""Segmenter training configurations (``zs train-segmenter --config tiny|r50|FILE``).

A config holds the Mask2Former architecture and the training schedule. ``tiny``
is the CPU-sized model shipped for the synthetic world; ``r50`` is the
Mask2Former R50 panoptic architecture (randomly initialised: no weights are
downloaded). A FILE (JSON or YAML) overrides fields of ``tiny`` (or of the
preset named by its ``base`` key).
"""

from __future__ import annotations

import dataclasses
import json
from pathlib import Path

from zs.errors import ConfigError


@dataclasses.dataclass(frozen=True)
class SegmenterConfig:
    # architecture (transformers Mask2Former with a ResNet backbone)
    backbone_depths: tuple[int, ...] = (1, 1, 1, 1)
    backbone_hidden_sizes: tuple[int, ...] = (32, 64, 128, 192)
    backbone_embedding_size: int = 32
    backbone_layer_type: str = "basic"
    feature_size: int = 64  # pixel decoder width (GroupNorm(32, .) needs multiples of 32)
    mask_feature_size: int = 64
    hidden_dim: int = 64  # query dim D
    encoder_layers: int = 2
    encoder_feedforward_dim: int = 128
    decoder_layers: int = 4  # transformers counts the initial one: 3 masked-attention layers
    num_attention_heads: int = 4
    dim_feedforward: int = 128
    num_queries: int = 20
    train_num_points: int = 1024
    no_object_weight: float = 0.1
    class_weight: float = 2.0
    mask_weight: float = 5.0
    dice_weight: float = 5.0
    # input
    image_size: int = 64  # shortest edge after resizing (the synthetic images are 64 px)
    max_size: int = 64
    size_divisor: int = 32
    # schedule
    steps: int = 4000
    batch_size: int = 8
    lr: float = 1e-3
    weight_decay: float = 0.05
    warmup_steps: int = 100
    backbone_lr_multiplier: float = 0.1  # Mask2Former's, on a pre-trained backbone (--init-backbone); else 1
    grad_clip: float = 1.0  # full-model grad-norm clip (Mask2Former uses 0.01 with its own schedule)
    hflip: bool = True
    checkpoint_every: int = 200


PRESETS: dict[str, SegmenterConfig] = {
    "tiny": SegmenterConfig(),
    "r50": SegmenterConfig(
        backbone_depths=(3, 4, 6, 3),
        backbone_hidden_sizes=(256, 512, 1024, 2048),
        backbone_embedding_size=64,
        backbone_layer_type="bottleneck",
        feature_size=256,
        mask_feature_size=256,
        hidden_dim=256,
        encoder_layers=6,
        encoder_feedforward_dim=1024,
        decoder_layers=10,
        num_attention_heads=8,
        dim_feedforward=2048,
        num_queries=100,
        train_num_points=12544,
        image_size=800,
        max_size=1333,
        steps=50000,
        batch_size=16,
        lr=1e-4,
        warmup_steps=0,
        checkpoint_every=1000,
    ),
}


def load_segmenter_config(name_or_file: str) -> SegmenterConfig:
    """'tiny' | 'r50' | a JSON/YAML file of overrides (optional key ``base``: a preset name)."""
    if name_or_file in PRESETS:
        return PRESETS[name_or_file]
    path = Path(name_or_file)
    if not path.is_file():
        raise ConfigError(f"--config {name_or_file}: not a preset ({', '.join(PRESETS)}) and not a file")
    text = path.read_text()
    try:
        if path.suffix in (".yaml", ".yml"):
            import yaml

            doc = yaml.safe_load(text) or {}
        else:
            doc = json.loads(text)
    except Exception as e:  # noqa: BLE001 - any parse error is bad input
        raise ConfigError(f"{path}: cannot parse ({e})") from None
    if not isinstance(doc, dict):
        raise ConfigError(f"{path}: expected a mapping of config fields")
    return config_from_dict(doc, source=str(path))


def config_from_dict(doc: dict, source: str = "config") -> SegmenterConfig:
    doc = dict(doc)
    base_name = doc.pop("base", "tiny")
    if base_name not in PRESETS:
        raise ConfigError(f"{source}: base={base_name!r} is not one of {', '.join(PRESETS)}")
    fields = {f.name: f for f in dataclasses.fields(SegmenterConfig)}
    unknown = sorted(set(doc) - set(fields))
    if unknown:
        raise ConfigError(f"{source}: unknown field(s) {', '.join(unknown)}; valid: {', '.join(fields)}")
    doc = {k: tuple(v) if isinstance(v, list) else v for k, v in doc.items()}
    return dataclasses.replace(PRESETS[base_name], **doc)


def build_mask2former_config(cfg: SegmenterConfig, names: list[str]):
    """transformers Mask2FormerConfig for ``cfg`` with ``num_labels = len(names)``."""
    from transformers import Mask2FormerConfig, ResNetConfig

    backbone = ResNetConfig(
        embedding_size=cfg.backbone_embedding_size,
        hidden_sizes=list(cfg.backbone_hidden_sizes),
        depths=list(cfg.backbone_depths),
        layer_type=cfg.backbone_layer_type,
        out_features=["stage1", "stage2", "stage3", "stage4"],
    )
    return Mask2FormerConfig(
        backbone_config=backbone,
        feature_size=cfg.feature_size,
        mask_feature_size=cfg.mask_feature_size,
        hidden_dim=cfg.hidden_dim,
        encoder_layers=cfg.encoder_layers,
        encoder_feedforward_dim=cfg.encoder_feedforward_dim,
        decoder_layers=cfg.decoder_layers,
        num_attention_heads=cfg.num_attention_heads,
        dim_feedforward=cfg.dim_feedforward,
        num_queries=cfg.num_queries,
        train_num_points=cfg.train_num_points,
        no_object_weight=cfg.no_object_weight,
        class_weight=cfg.class_weight,
        mask_weight=cfg.mask_weight,
        dice_weight=cfg.dice_weight,
        id2label={i: n for i, n in enumerate(names)},
        label2id={n: i for i, n in enumerate(names)},
    )
