"""detectron2 / Mask2Former config YAML: ``_BASE_`` inheritance, key check, model spec.

``load_d2_config`` reads a YAML the way detectron2's ``merge_from_file`` does
(bases first, then the file's own values; string literals such as
``("coco_2017_train_panoptic",)`` parsed as Python literals) and names keys
outside detectron2 + Mask2Former + PADing's schema. ``spec_from_config`` turns
it into the :class:`Mask2FormerSpec` the converter builds, refusing
architectures transformers' Mask2Former cannot express.
"""

from __future__ import annotations

import ast
import dataclasses
import logging
import os
from pathlib import Path
from typing import Any

import yaml

from zs.extract.d2.errors import D2ConfigError, format_keys
from zs.extract.d2.known_keys import KNOWN_KEYS

log = logging.getLogger(__name__)

# Defaults of detectron2 v0.6 + add_maskformer2_config for every key the converter reads.
DEFAULTS: dict[str, Any] = {
    "MODEL.META_ARCHITECTURE": "GeneralizedRCNN",
    "MODEL.BACKBONE.NAME": "build_resnet_backbone",
    "MODEL.PIXEL_MEAN": [103.530, 116.280, 123.675],
    "MODEL.PIXEL_STD": [1.0, 1.0, 1.0],
    "MODEL.RESNETS.DEPTH": 50,
    "MODEL.RESNETS.OUT_FEATURES": ["res4"],
    "MODEL.RESNETS.NUM_GROUPS": 1,
    "MODEL.RESNETS.NORM": "FrozenBN",
    "MODEL.RESNETS.WIDTH_PER_GROUP": 64,
    "MODEL.RESNETS.STRIDE_IN_1X1": True,
    "MODEL.RESNETS.RES5_DILATION": 1,
    "MODEL.RESNETS.RES2_OUT_CHANNELS": 256,
    "MODEL.RESNETS.STEM_OUT_CHANNELS": 64,
    "MODEL.RESNETS.STEM_TYPE": "basic",
    "MODEL.RESNETS.DEFORM_ON_PER_STAGE": [False, False, False, False],
    "MODEL.SEM_SEG_HEAD.NAME": "SemSegFPNHead",
    "MODEL.SEM_SEG_HEAD.IN_FEATURES": ["p2", "p3", "p4", "p5"],
    "MODEL.SEM_SEG_HEAD.NUM_CLASSES": 54,
    "MODEL.SEM_SEG_HEAD.CONVS_DIM": 128,
    "MODEL.SEM_SEG_HEAD.COMMON_STRIDE": 4,
    "MODEL.SEM_SEG_HEAD.NORM": "GN",
    "MODEL.SEM_SEG_HEAD.MASK_DIM": 256,
    "MODEL.SEM_SEG_HEAD.TRANSFORMER_ENC_LAYERS": 0,
    "MODEL.SEM_SEG_HEAD.PIXEL_DECODER_NAME": "BasePixelDecoder",
    "MODEL.SEM_SEG_HEAD.DEFORMABLE_TRANSFORMER_ENCODER_IN_FEATURES": ["res3", "res4", "res5"],
    "MODEL.MASK_FORMER.NHEADS": 8,
    "MODEL.MASK_FORMER.DIM_FEEDFORWARD": 2048,
    "MODEL.MASK_FORMER.DEC_LAYERS": 6,
    "MODEL.MASK_FORMER.PRE_NORM": False,
    "MODEL.MASK_FORMER.HIDDEN_DIM": 256,
    "MODEL.MASK_FORMER.NUM_OBJECT_QUERIES": 100,
    "MODEL.MASK_FORMER.TRANSFORMER_IN_FEATURE": "res5",
    "MODEL.MASK_FORMER.ENFORCE_INPUT_PROJ": False,
    "MODEL.MASK_FORMER.SIZE_DIVISIBILITY": 32,
    "MODEL.MASK_FORMER.TRANSFORMER_DECODER_NAME": "MultiScaleMaskedTransformerDecoder",
    "MODEL.MASK_FORMER.TEST.OBJECT_MASK_THRESHOLD": 0.0,
    "MODEL.MASK_FORMER.TEST.OVERLAP_THRESHOLD": 0.0,
    "INPUT.FORMAT": "BGR",
    "INPUT.MIN_SIZE_TEST": 800,
    "INPUT.MAX_SIZE_TEST": 1333,
    "DATASETS.TRAIN": [],
}

RESNET_DEPTHS = {50: [3, 4, 6, 3], 101: [3, 4, 23, 3], 152: [3, 8, 36, 3]}
SUPPORTED_META_ARCHS = ("MaskFormer", "PADing")


@dataclasses.dataclass
class D2Config:
    """A merged detectron2 config: nested dict + where it came from."""

    data: dict
    path: str
    unknown_keys: list[str]

    def get(self, key: str) -> Any:
        """Dotted key -> value; falls back to detectron2/Mask2Former's default."""
        node: Any = self.data
        for part in key.split("."):
            if not isinstance(node, dict) or part not in node:
                if key in DEFAULTS:
                    return DEFAULTS[key]
                raise D2ConfigError(f"{self.path}: config has no {key} and zs knows no default for it")
            node = node[part]
        return node


def _literal(value: Any) -> Any:
    """detectron2 parses strings like '(800, 1333)' as Python literals when merging."""
    if isinstance(value, str) and value[:1] in "([{":
        try:
            return ast.literal_eval(value)
        except (ValueError, SyntaxError):
            return value
    if isinstance(value, dict):
        return {k: _literal(v) for k, v in value.items()}
    return value


def _merge(base: dict, override: dict) -> dict:
    out = dict(base)
    for k, v in override.items():
        out[k] = _merge(out[k], v) if isinstance(v, dict) and isinstance(out.get(k), dict) else v
    return out


_EVAL_NODES = (ast.Expression, ast.ListComp, ast.comprehension, ast.Call, ast.Name, ast.Load, ast.Store, ast.BinOp,
               ast.Add, ast.Sub, ast.Mult, ast.Div, ast.FloorDiv, ast.Constant, ast.List, ast.Tuple, ast.UnaryOp,
               ast.USub)
_EVAL_NAMES = {"int": int, "float": float, "range": range}


def _apply_eval(loader, node):
    """detectron2's ``!!python/object/apply:eval ["[int(x * 0.1 * 640) for x in range(5, 16)]"]`` (Mask2Former's
    COCO-Stuff/ADE20K configs): arithmetic, list comprehensions, int/float/range only."""
    args = loader.construct_sequence(node)
    expr = args[0] if len(args) == 1 and isinstance(args[0], str) else None
    tree = ast.parse(expr, mode="eval") if expr else None
    if tree is None or not all(isinstance(n, _EVAL_NODES) for n in ast.walk(tree)) or any(
            isinstance(n, ast.Call) and not (isinstance(n.func, ast.Name) and n.func.id in _EVAL_NAMES)
            for n in ast.walk(tree)):
        raise yaml.constructor.ConstructorError(None, None, f"python/object/apply:eval {args!r} is not a plain "
                                                "arithmetic expression", node.start_mark)
    return eval(compile(tree, "<config>", "eval"), {"__builtins__": {}, **_EVAL_NAMES})  # noqa: S307 - vetted


class _D2Loader(yaml.SafeLoader):
    """yaml.safe_load plus detectron2's ``!!python/object/apply:eval`` for plain arithmetic."""


_D2Loader.add_constructor("tag:yaml.org,2002:python/object/apply:eval", _apply_eval)


def _read_yaml(path: Path, seen: tuple[Path, ...]) -> dict:
    if path in seen:
        raise D2ConfigError(f"{path}: _BASE_ cycle ({' -> '.join(str(p) for p in seen + (path,))})")
    if not path.is_file():
        where = f" (the _BASE_ of {seen[-1]})" if seen else ""
        raise D2ConfigError(f"{path}: config file not found{where}")
    try:
        with open(path) as f:
            raw = yaml.load(f, Loader=_D2Loader) or {}  # noqa: S506 - a SafeLoader subclass
    except yaml.YAMLError as e:
        raise D2ConfigError(f"{path}: not valid YAML ({' '.join(str(e).split())})") from None
    if not isinstance(raw, dict):
        raise D2ConfigError(f"{path}: a detectron2 config must be a mapping, got {type(raw).__name__}")
    bases = raw.pop("_BASE_", None)
    merged: dict = {}
    for base in [bases] if isinstance(bases, str) else list(bases or []):
        base_path = Path(os.path.expanduser(base))
        base_path = base_path if base_path.is_absolute() else path.parent / base_path
        merged = _merge(merged, _read_yaml(base_path.resolve(), seen + (path,)))
    return _merge(merged, _literal(raw))


def leaf_keys(d: dict, prefix: str = "") -> list[str]:
    keys = []
    for k, v in d.items():
        q = f"{prefix}.{k}" if prefix else str(k)
        keys.extend(leaf_keys(v, q) if isinstance(v, dict) and v else [q])
    return keys


def load_d2_config(path: str | os.PathLike, *, allow_unknown: bool = False) -> D2Config:
    """Read a detectron2 config YAML with its ``_BASE_`` chain.

    Keys outside detectron2 + Mask2Former + PADing's schema raise
    :class:`D2ConfigError` naming them, unless ``allow_unknown`` (then logged).
    """
    p = Path(path).expanduser().resolve()
    data = _read_yaml(p, ())
    unknown = sorted(k for k in leaf_keys(data) if k not in KNOWN_KEYS and k != "VERSION")
    if unknown and not allow_unknown:
        raise D2ConfigError(
            f"{path}: unknown config keys ({len(unknown)}): {format_keys(unknown)} "
            "(not in detectron2/Mask2Former/PADing's config; pass --allow-unknown-keys to ignore them)"
        )
    if unknown:
        log.warning("%s: ignoring unknown config keys: %s", path, format_keys(unknown))
    return D2Config(data=data, path=str(path), unknown_keys=unknown)
