"""Helpers for the conversion tests: fixture arrays and a tiny random architecture."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import torch
import yaml


def ref(fixture_a: Path, name: str) -> np.ndarray:
    return np.load(fixture_a / "outputs" / f"{name}.npy")


# -- a tiny random architecture, written as a detectron2 config ---------------------------------
TINY = dict(resnet_depth=50, stem_channels=8, res2_channels=32, stride_in_1x1=False, conv_dim=32, mask_dim=32,
            encoder_layers=1, hidden_dim=32, num_queries=5, num_heads=2, dim_feedforward=48, dec_layers=3,
            num_classes=7)


def tiny_config_dict(**over) -> dict:
    t = {**TINY, **over}
    return {
        "MODEL": {
            "META_ARCHITECTURE": t.get("meta", "MaskFormer"),
            "PIXEL_MEAN": [123.675, 116.28, 103.53], "PIXEL_STD": [58.395, 57.12, 57.375],
            "RESNETS": {"DEPTH": t["resnet_depth"], "STEM_OUT_CHANNELS": t["stem_channels"],
                        "RES2_OUT_CHANNELS": t["res2_channels"], "WIDTH_PER_GROUP": t["res2_channels"] // 4,
                        "STRIDE_IN_1X1": t["stride_in_1x1"], "OUT_FEATURES": ["res2", "res3", "res4", "res5"]},
            "SEM_SEG_HEAD": {"NAME": "MaskFormerHead", "PIXEL_DECODER_NAME": "MSDeformAttnPixelDecoder",
                             "IN_FEATURES": ["res2", "res3", "res4", "res5"], "NUM_CLASSES": t["num_classes"],
                             "CONVS_DIM": t["conv_dim"], "MASK_DIM": t["mask_dim"],
                             "TRANSFORMER_ENC_LAYERS": t["encoder_layers"]},
            "MASK_FORMER": {"TRANSFORMER_DECODER_NAME": "MultiScaleMaskedTransformerDecoder",
                            "TRANSFORMER_IN_FEATURE": "multi_scale_pixel_decoder", "HIDDEN_DIM": t["hidden_dim"],
                            "NUM_OBJECT_QUERIES": t["num_queries"], "NHEADS": t["num_heads"],
                            "DIM_FEEDFORWARD": t["dim_feedforward"], "DEC_LAYERS": t["dec_layers"],
                            "TEST": {"OBJECT_MASK_THRESHOLD": 0.8, "OVERLAP_THRESHOLD": 0.8}},
        },
        "INPUT": {"FORMAT": t.get("format", "RGB"), "MIN_SIZE_TEST": 64, "MAX_SIZE_TEST": 96},
    }


def write_tiny_config(dir_: Path, **over) -> Path:
    """A two-file config: base (model) + child (_BASE_ and input settings)."""
    cfg = tiny_config_dict(**over)
    base = {"MODEL": cfg["MODEL"]}
    child = {"_BASE_": "base/Base-Tiny.yaml", "INPUT": cfg["INPUT"]}
    (dir_ / "base").mkdir(parents=True, exist_ok=True)
    (dir_ / "base" / "Base-Tiny.yaml").write_text(yaml.safe_dump(base))
    path = dir_ / "tiny.yaml"
    path.write_text(yaml.safe_dump(child))
    return path


def random_tiny_model(seed: int = 0, **over):
    """A tiny transformers Mask2Former with every tensor random (BN statistics included)."""
    from zs.extract.d2 import build_hf_model
    from zs.extract.d2.spec import Mask2FormerSpec

    spec = Mask2FormerSpec(**{k: v for k, v in {**TINY, **over}.items() if k in Mask2FormerSpec.__dataclass_fields__})
    torch.manual_seed(seed)
    model = build_hf_model(spec)
    g = torch.Generator().manual_seed(seed)
    with torch.no_grad():
        for name, t in model.state_dict().items():
            if t.is_floating_point() and not name.startswith("criterion"):
                fresh = torch.rand(t.shape, generator=g) * 0.8 + 0.6 if "running_var" in name else \
                    torch.randn(t.shape, generator=g) * 0.1
                t.copy_(fresh)
    return model.eval(), spec
