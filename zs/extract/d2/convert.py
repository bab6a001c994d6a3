"""detectron2 Mask2Former state dict <-> transformers Mask2Former state dict.

``convert_state_dict`` checks a detectron2 state dict against the model its
config describes (every expected key present, no unexpected key, every shape
right) and only then maps it; errors list the offending detectron2 keys.
``to_detectron2_state_dict`` is the inverse (used by the round-trip tests).
"""

from __future__ import annotations

import dataclasses
import logging

import torch

from zs.errors import ZsError
from zs.extract.d2.errors import CheckpointMismatchError
from zs.extract.d2.keymap import IGNORED_D2, PADING_EXTRA_PREFIXES, NamePair, name_pairs, normalise_d2_name
from zs.extract.d2.spec import Mask2FormerSpec, hf_config

log = logging.getLogger(__name__)


@dataclasses.dataclass
class SplitState:
    """A detectron2 state dict sorted into segmenter weights, PADing extras and ignored entries."""

    segmenter: dict[str, torch.Tensor]
    pading: dict[str, torch.Tensor]
    ignored: list[str]


def split_d2_state(d2_state: dict[str, torch.Tensor], spec: Mask2FormerSpec) -> SplitState:
    """Normalise old names; set aside loss buffers and (for PADing) its extra modules."""
    seg, extra, ignored = {}, {}, []
    for name, tensor in d2_state.items():
        name = normalise_d2_name(name)
        if name in IGNORED_D2:
            ignored.append(name)
        elif spec.meta_architecture == "PADing" and name.startswith(PADING_EXTRA_PREFIXES):
            extra[name] = tensor
        else:
            seg[name] = tensor
    return SplitState(seg, extra, ignored)


def build_hf_model(spec: Mask2FormerSpec, id2label: dict[int, str] | None = None):
    """A randomly initialised transformers Mask2Former of ``spec`` (eval mode)."""
    from transformers import Mask2FormerForUniversalSegmentation
    from transformers.utils import logging as hf_logging

    verbosity = hf_logging.get_verbosity()
    hf_logging.set_verbosity_error()  # "resnet is not a supported backbone" is expected here
    try:
        return Mask2FormerForUniversalSegmentation(hf_config(spec, id2label)).eval()
    finally:
        hf_logging.set_verbosity(verbosity)


def _d2_shape(pair: NamePair, hf_shape: torch.Size) -> tuple[int, ...]:
    if pair.part is None:
        return tuple(hf_shape)
    return (3 * hf_shape[0], *hf_shape[1:])


def check_d2_state(seg_state: dict[str, torch.Tensor], pairs: list[NamePair],
                   hf_shapes: dict[str, torch.Size], source: str) -> None:
    """Raise CheckpointMismatchError listing missing/unexpected keys and wrong shapes."""
    expected = {p.d2: _d2_shape(p, hf_shapes[p.hf]) for p in pairs}
    missing = set(expected) - set(seg_state)
    unexpected = set(seg_state) - set(expected)
    shapes = [(k, tuple(seg_state[k].shape), expected[k]) for k in sorted(set(expected) & set(seg_state))
              if tuple(seg_state[k].shape) != expected[k]]
    if missing or unexpected or shapes:
        raise CheckpointMismatchError(source, missing=missing, unexpected=unexpected, shapes=shapes)


CLASS_EMBED = "sem_seg_head.predictor.class_embed.weight"  # [K+1, D]: K classes + no-object


def check_class_count(d2_state: dict[str, torch.Tensor], spec: Mask2FormerSpec, *, checkpoint: str,
                      config: str) -> None:
    """ZsError naming both files when the checkpoint's class predictor and the config's NUM_CLASSES differ."""
    weight = d2_state.get(CLASS_EMBED)
    if weight is not None and weight.ndim == 2 and weight.shape[0] - 1 != spec.num_classes:
        raise ZsError(f"{checkpoint}: the checkpoint predicts {weight.shape[0] - 1} classes ({CLASS_EMBED} "
                      f"{tuple(weight.shape)}, no-object included) but {config} sets "
                      f"MODEL.SEM_SEG_HEAD.NUM_CLASSES = {spec.num_classes}")


def convert_state_dict(d2_state: dict[str, torch.Tensor], spec: Mask2FormerSpec, *,
                       source: str = "checkpoint", model=None) -> tuple[dict[str, torch.Tensor], SplitState]:
    """detectron2 state dict -> transformers state dict for ``build_hf_model(spec)``.

    Returns (hf_state, split) where ``split.pading`` holds PADing's extra
    modules (``new_fc`` ...). Raises CheckpointMismatchError before mapping
    anything if the checkpoint does not fit ``spec``.
    """
    model = model if model is not None else build_hf_model(spec)
    reference = model.state_dict()
    pairs = name_pairs(reference)
    split = split_d2_state(d2_state, spec)
    check_d2_state(split.segmenter, pairs, {k: v.shape for k, v in reference.items()}, source)
    hf_state = {}
    for p in pairs:
        tensor = split.segmenter[p.d2].float()
        hf_state[p.hf] = (tensor if p.part is None else tensor.chunk(3, dim=0)[p.part]).clone()
    for name, value in reference.items():  # synthesised buffers: BN step counters, loss weights
        hf_state.setdefault(name, value.clone())
    return hf_state, split


def to_detectron2_state_dict(hf_state: dict[str, torch.Tensor]) -> dict[str, torch.Tensor]:
    """transformers Mask2Former (ResNet backbone) state dict -> detectron2 names (packed in_proj)."""
    pairs = name_pairs(hf_state)
    whole = {p.d2: hf_state[p.hf].clone() for p in pairs if p.part is None}
    parts: dict[str, list] = {}
    for p in pairs:
        if p.part is not None:
            parts.setdefault(p.d2, [None, None, None])[p.part] = hf_state[p.hf]
    for name, qkv in parts.items():
        if any(t is None for t in qkv):
            raise KeyError(f"{name}: q/k/v projections incomplete")
        whole[name] = torch.cat(qkv, dim=0)  # [3D, ...]
    return whole
