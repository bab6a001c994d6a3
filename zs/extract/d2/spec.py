"""The converted model's architecture: read from a detectron2 config, checked, and
expressed as a transformers ``Mask2FormerConfig`` (ResNet backbone)."""

from __future__ import annotations

import dataclasses

from zs.extract.d2.config import RESNET_DEPTHS, SUPPORTED_META_ARCHS, D2Config
from zs.extract.d2.errors import UnsupportedModelError


@dataclasses.dataclass
class Mask2FormerSpec:
    """What a detectron2 Mask2Former (ResNet, MSDeformAttn pixel decoder) is made of."""

    meta_architecture: str = "MaskFormer"
    # backbone (detectron2 ResNet)
    resnet_depth: int = 50
    stem_channels: int = 64
    res2_channels: int = 256
    stride_in_1x1: bool = False
    # pixel decoder (MSDeformAttnPixelDecoder; its encoder FFN is fixed at 1024, 4 points)
    conv_dim: int = 256
    mask_dim: int = 256
    encoder_layers: int = 6
    common_stride: int = 4
    # transformer decoder (MultiScaleMaskedTransformerDecoder)
    hidden_dim: int = 256
    num_queries: int = 100
    num_heads: int = 8  # MASK_FORMER.NHEADS, also used by the pixel decoder's deformable attention
    dim_feedforward: int = 2048
    dec_layers: int = 10  # MASK_FORMER.DEC_LAYERS = decoder layers + 1 (learnable-query prediction)
    pre_norm: bool = False
    enforce_input_proj: bool = False
    num_classes: int = 133
    # preprocessing / inference
    input_format: str = "RGB"
    pixel_mean: tuple = (123.675, 116.28, 103.53)  # 0-255, in input_format order
    pixel_std: tuple = (58.395, 57.12, 57.375)
    size_divisibility: int = 32
    min_size_test: int = 800
    max_size_test: int = 1333
    object_mask_threshold: float = 0.8
    overlap_threshold: float = 0.8
    train_datasets: tuple = ()

    @property
    def depths(self) -> list[int]:
        return RESNET_DEPTHS[self.resnet_depth]

    @property
    def hidden_sizes(self) -> list[int]:
        return [self.res2_channels * m for m in (1, 2, 4, 8)]


def _require(cfg: D2Config, key: str, allowed, what: str) -> None:
    value = cfg.get(key)
    ok = value in allowed if isinstance(allowed, (tuple, list, set)) else value == allowed
    if not ok:
        raise UnsupportedModelError(f"{cfg.path}: {key} = {value!r}: unsupported {what} (zs converts {allowed!r})")


def _check_backbone(cfg: D2Config) -> None:
    _require(cfg, "MODEL.BACKBONE.NAME", "build_resnet_backbone", "backbone")
    _require(cfg, "MODEL.RESNETS.DEPTH", tuple(RESNET_DEPTHS), "ResNet depth (bottleneck ResNets only)")
    _require(cfg, "MODEL.RESNETS.STEM_TYPE", "basic", "ResNet stem")
    _require(cfg, "MODEL.RESNETS.NUM_GROUPS", 1, "ResNet grouping (ResNeXt)")
    _require(cfg, "MODEL.RESNETS.RES5_DILATION", 1, "res5 dilation")
    _require(cfg, "MODEL.RESNETS.NORM", ("FrozenBN", "BN", "SyncBN", "nnSyncBN"), "backbone norm")
    deform = [bool(v) for v in cfg.get("MODEL.RESNETS.DEFORM_ON_PER_STAGE")]
    if any(deform):
        raise UnsupportedModelError(f"{cfg.path}: MODEL.RESNETS.DEFORM_ON_PER_STAGE = {deform}: deformable convs unsupported")
    out = list(cfg.get("MODEL.RESNETS.OUT_FEATURES"))
    if out != ["res2", "res3", "res4", "res5"]:
        raise UnsupportedModelError(f"{cfg.path}: MODEL.RESNETS.OUT_FEATURES = {out}: expected [res2, res3, res4, res5]")
    width = int(cfg.get("MODEL.RESNETS.WIDTH_PER_GROUP"))
    res2 = int(cfg.get("MODEL.RESNETS.RES2_OUT_CHANNELS"))
    if width * 4 != res2:
        raise UnsupportedModelError(
            f"{cfg.path}: MODEL.RESNETS.WIDTH_PER_GROUP = {width} with RES2_OUT_CHANNELS = {res2}: "
            "transformers' ResNet fixes the bottleneck width at out/4"
        )


def _check_heads(cfg: D2Config) -> None:
    _require(cfg, "MODEL.META_ARCHITECTURE", SUPPORTED_META_ARCHS, "meta architecture")
    _require(cfg, "MODEL.SEM_SEG_HEAD.NAME", "MaskFormerHead", "segmentation head")
    _require(cfg, "MODEL.SEM_SEG_HEAD.PIXEL_DECODER_NAME", "MSDeformAttnPixelDecoder", "pixel decoder")
    _require(cfg, "MODEL.SEM_SEG_HEAD.NORM", "GN", "pixel decoder norm")
    _require(cfg, "MODEL.MASK_FORMER.TRANSFORMER_DECODER_NAME", "MultiScaleMaskedTransformerDecoder",
             "transformer decoder")
    _require(cfg, "MODEL.MASK_FORMER.TRANSFORMER_IN_FEATURE", "multi_scale_pixel_decoder", "decoder input")
    _require(cfg, "MODEL.SEM_SEG_HEAD.COMMON_STRIDE", 4, "pixel decoder common stride")
    for key, want in (("MODEL.SEM_SEG_HEAD.IN_FEATURES", ["res2", "res3", "res4", "res5"]),
                      ("MODEL.SEM_SEG_HEAD.DEFORMABLE_TRANSFORMER_ENCODER_IN_FEATURES", ["res3", "res4", "res5"])):
        if list(cfg.get(key)) != want:
            raise UnsupportedModelError(f"{cfg.path}: {key} = {list(cfg.get(key))}: zs converts {want}")
    conv_dim = int(cfg.get("MODEL.SEM_SEG_HEAD.CONVS_DIM"))
    if conv_dim % 32:
        raise UnsupportedModelError(f"{cfg.path}: MODEL.SEM_SEG_HEAD.CONVS_DIM = {conv_dim}: GroupNorm(32) needs a multiple of 32")
    _require(cfg, "INPUT.FORMAT", ("RGB", "BGR"), "input format")


def spec_from_config(cfg: D2Config) -> Mask2FormerSpec:
    """Check the architecture is one zs can convert and read its sizes."""
    _check_heads(cfg)
    _check_backbone(cfg)
    g = cfg.get
    return Mask2FormerSpec(
        meta_architecture=g("MODEL.META_ARCHITECTURE"),
        resnet_depth=int(g("MODEL.RESNETS.DEPTH")), stem_channels=int(g("MODEL.RESNETS.STEM_OUT_CHANNELS")),
        res2_channels=int(g("MODEL.RESNETS.RES2_OUT_CHANNELS")), stride_in_1x1=bool(g("MODEL.RESNETS.STRIDE_IN_1X1")),
        conv_dim=int(g("MODEL.SEM_SEG_HEAD.CONVS_DIM")), mask_dim=int(g("MODEL.SEM_SEG_HEAD.MASK_DIM")),
        encoder_layers=int(g("MODEL.SEM_SEG_HEAD.TRANSFORMER_ENC_LAYERS")),
        common_stride=int(g("MODEL.SEM_SEG_HEAD.COMMON_STRIDE")),
        hidden_dim=int(g("MODEL.MASK_FORMER.HIDDEN_DIM")), num_queries=int(g("MODEL.MASK_FORMER.NUM_OBJECT_QUERIES")),
        num_heads=int(g("MODEL.MASK_FORMER.NHEADS")), dim_feedforward=int(g("MODEL.MASK_FORMER.DIM_FEEDFORWARD")),
        dec_layers=int(g("MODEL.MASK_FORMER.DEC_LAYERS")), pre_norm=bool(g("MODEL.MASK_FORMER.PRE_NORM")),
        enforce_input_proj=bool(g("MODEL.MASK_FORMER.ENFORCE_INPUT_PROJ")),
        num_classes=int(g("MODEL.SEM_SEG_HEAD.NUM_CLASSES")),
        input_format=str(g("INPUT.FORMAT")),
        pixel_mean=tuple(float(v) for v in g("MODEL.PIXEL_MEAN")),
        pixel_std=tuple(float(v) for v in g("MODEL.PIXEL_STD")),
        size_divisibility=int(g("MODEL.MASK_FORMER.SIZE_DIVISIBILITY")),
        min_size_test=int(g("INPUT.MIN_SIZE_TEST")), max_size_test=int(g("INPUT.MAX_SIZE_TEST")),
        object_mask_threshold=float(g("MODEL.MASK_FORMER.TEST.OBJECT_MASK_THRESHOLD")),
        overlap_threshold=float(g("MODEL.MASK_FORMER.TEST.OVERLAP_THRESHOLD")),
        train_datasets=tuple(str(d) for d in g("DATASETS.TRAIN")),
    )


def hf_config(spec: Mask2FormerSpec, id2label: dict[int, str] | None = None):
    """The transformers ``Mask2FormerConfig`` (ResNet backbone) of ``spec``."""
    from transformers import Mask2FormerConfig, ResNetConfig

    backbone = ResNetConfig(
        num_channels=3, embedding_size=spec.stem_channels, hidden_sizes=spec.hidden_sizes, depths=spec.depths,
        layer_type="bottleneck", hidden_act="relu", downsample_in_first_stage=False,
        downsample_in_bottleneck=spec.stride_in_1x1, out_features=["stage1", "stage2", "stage3", "stage4"],
    )
    id2label = id2label or {i: f"class_{i}" for i in range(spec.num_classes)}
    return Mask2FormerConfig(
        backbone_config=backbone, feature_size=spec.conv_dim, mask_feature_size=spec.mask_dim,
        hidden_dim=spec.hidden_dim, encoder_feedforward_dim=1024, encoder_layers=spec.encoder_layers,
        decoder_layers=spec.dec_layers, num_attention_heads=spec.num_heads, dim_feedforward=spec.dim_feedforward,
        pre_norm=spec.pre_norm, enforce_input_projection=spec.enforce_input_proj, common_stride=spec.common_stride,
        num_queries=spec.num_queries, dropout=0.0, feature_strides=[4, 8, 16, 32],
        id2label={int(k): v for k, v in id2label.items()}, label2id={v: int(k) for k, v in id2label.items()},
    )
