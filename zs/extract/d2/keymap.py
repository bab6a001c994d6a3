"""Parameter names: transformers Mask2Former (ResNet backbone) <-> detectron2 Mask2Former.

One translation, :func:`hf_to_d2`, from each transformers state-dict name to
the detectron2 name it comes from (and, for the transformer decoder's
self-attention, which third of the packed ``in_proj`` it is). Both directions
of the conversion use the pairs it yields for a concrete model, so the mapping
is a bijection by construction (checked in :func:`name_pairs`).
"""

from __future__ import annotations

import dataclasses
import re

# Buffers transformers has that detectron2 does not store (synthesised on conversion).
SYNTHESISED = ("num_batches_tracked", "criterion.empty_weight")
# detectron2 state-dict entries that are not weights of the segmenter.
IGNORED_D2 = ("criterion.empty_weight",)
# PADing's extra modules (generator side); new_fc is exported as a zs head.
PADING_EXTRA_PREFIXES = ("new_fc.", "fc_projection.", "dict_feature.", "generator.", "projection_related.",
                         "projection_unrelated.", "relation.", "decoder.", "criterion")

_BACKBONE = "model.pixel_level_module.encoder."
_PIXEL = "model.pixel_level_module.decoder."
_TRANSFORMER = "model.transformer_module."
_QKV = {"q_proj": 0, "k_proj": 1, "v_proj": 2}
_NORM = r"(weight|bias|running_mean|running_var)"

# (regex over the name after its prefix, detectron2 template); groups are used by the template.
_BACKBONE_RULES = [
    (r"embedder\.embedder\.convolution\.weight", lambda m: "stem.conv1.weight"),
    (rf"embedder\.embedder\.normalization\.{_NORM}", lambda m: f"stem.conv1.norm.{m[1]}"),
    (r"encoder\.stages\.(\d+)\.layers\.(\d+)\.shortcut\.convolution\.weight",
     lambda m: f"res{int(m[1]) + 2}.{m[2]}.shortcut.weight"),
    (rf"encoder\.stages\.(\d+)\.layers\.(\d+)\.shortcut\.normalization\.{_NORM}",
     lambda m: f"res{int(m[1]) + 2}.{m[2]}.shortcut.norm.{m[3]}"),
    (r"encoder\.stages\.(\d+)\.layers\.(\d+)\.layer\.(\d)\.convolution\.weight",
     lambda m: f"res{int(m[1]) + 2}.{m[2]}.conv{int(m[3]) + 1}.weight"),
    (rf"encoder\.stages\.(\d+)\.layers\.(\d+)\.layer\.(\d)\.normalization\.{_NORM}",
     lambda m: f"res{int(m[1]) + 2}.{m[2]}.conv{int(m[3]) + 1}.norm.{m[4]}"),
]
_PIXEL_RULES = [
    (r"level_embed", lambda m: "transformer.level_embed"),
    (r"input_projections\.(\d+)\.([01])\.(weight|bias)", lambda m: f"input_proj.{m[1]}.{m[2]}.{m[3]}"),
    (r"encoder\.layers\.(\d+)\.self_attn\.(\w+)\.(weight|bias)",
     lambda m: f"transformer.encoder.layers.{m[1]}.self_attn.{m[2]}.{m[3]}"),
    (r"encoder\.layers\.(\d+)\.(self_attn_layer_norm|fc1|fc2|final_layer_norm)\.(weight|bias)",
     lambda m: f"transformer.encoder.layers.{m[1]}."
               f"{ {'self_attn_layer_norm': 'norm1', 'fc1': 'linear1', 'fc2': 'linear2', 'final_layer_norm': 'norm2'}[m[2]] }"
               f".{m[3]}"),
    (r"mask_projection\.(weight|bias)", lambda m: f"mask_features.{m[1]}"),
    (r"(adapter|layer)_(\d+)\.0\.weight", lambda m: f"{m[1]}_{m[2]}.weight"),
    (r"(adapter|layer)_(\d+)\.1\.(weight|bias)", lambda m: f"{m[1]}_{m[2]}.norm.{m[3]}"),
]
_DECODER_RENAMES = {
    "cross_attn": "transformer_cross_attention_layers.{i}.multihead_attn",
    "cross_attn_layer_norm": "transformer_cross_attention_layers.{i}.norm",
    "self_attn.out_proj": "transformer_self_attention_layers.{i}.self_attn.out_proj",
    "self_attn_layer_norm": "transformer_self_attention_layers.{i}.norm",
    "fc1": "transformer_ffn_layers.{i}.linear1",
    "fc2": "transformer_ffn_layers.{i}.linear2",
    "final_layer_norm": "transformer_ffn_layers.{i}.norm",
}
_TRANSFORMER_RULES = [
    (r"queries_embedder\.weight", lambda m: "query_embed.weight"),
    (r"queries_features\.weight", lambda m: "query_feat.weight"),
    (r"level_embed\.weight", lambda m: "level_embed.weight"),
    (r"input_projections\.(\d+)\.(weight|bias)", lambda m: f"input_proj.{m[1]}.{m[2]}"),
    (r"decoder\.layernorm\.(weight|bias)", lambda m: f"decoder_norm.{m[1]}"),
    (r"decoder\.mask_predictor\.mask_embedder\.(\d+)\.0\.(weight|bias)", lambda m: f"mask_embed.layers.{m[1]}.{m[2]}"),
    (r"decoder\.layers\.(\d+)\.self_attn\.([qkv])_proj\.(weight|bias)",
     lambda m: f"transformer_self_attention_layers.{m[1]}.self_attn.in_proj_{m[3]}"),
    (r"decoder\.layers\.(\d+)\.(cross_attn|cross_attn_layer_norm|self_attn\.out_proj|self_attn_layer_norm|fc1|fc2"
     r"|final_layer_norm)\.(in_proj_weight|in_proj_bias|out_proj\.weight|out_proj\.bias|weight|bias)",
     lambda m: _DECODER_RENAMES[m[2]].format(i=m[1]) + f".{m[3]}"),
]


@dataclasses.dataclass(frozen=True)
class NamePair:
    hf: str
    d2: str
    part: int | None = None  # 0/1/2 = q/k/v third of a packed in_proj; None = whole tensor


def _apply(rules, rest: str) -> str | None:
    for pattern, template in rules:
        m = re.fullmatch(pattern, rest)
        if m:
            return template(m)
    return None


def hf_to_d2(name: str) -> tuple[str, int | None] | None:
    """transformers name -> (detectron2 name, packed part); None for synthesised buffers.

    Raises KeyError for a name with no detectron2 counterpart.
    """
    if name.endswith(SYNTHESISED):
        return None
    if name.startswith("class_predictor."):
        return "sem_seg_head.predictor.class_embed." + name.rsplit(".", 1)[1], None
    for prefix, rules, d2_prefix in ((_BACKBONE, _BACKBONE_RULES, "backbone."),
                                     (_PIXEL, _PIXEL_RULES, "sem_seg_head.pixel_decoder."),
                                     (_TRANSFORMER, _TRANSFORMER_RULES, "sem_seg_head.predictor.")):
        if name.startswith(prefix):
            d2 = _apply(rules, name[len(prefix):])
            if d2 is not None:
                m = re.search(r"self_attn\.([qkv])_proj\.", name) if prefix == _TRANSFORMER else None
                return d2_prefix + d2, (_QKV[m[1] + "_proj"] if m else None)
    raise KeyError(name)


def name_pairs(hf_names) -> list[NamePair]:
    """Pairs for every transformers parameter/buffer name (synthesised ones left out)."""
    pairs, seen = [], {}
    for name in hf_names:
        mapped = hf_to_d2(name)
        if mapped is None:
            continue
        pair = NamePair(name, *mapped)
        key = (pair.d2, pair.part)
        if key in seen:
            raise AssertionError(f"mapping not injective: {seen[key]} and {name} -> {key}")
        seen[key] = name
        pairs.append(pair)
    return pairs


def normalise_d2_name(name: str) -> str:
    """Older checkpoints name the pixel decoder ``sem_seg_head.*`` without ``pixel_decoder.``."""
    if name.startswith("sem_seg_head.") and not name.startswith(("sem_seg_head.predictor.",
                                                                 "sem_seg_head.pixel_decoder.")):
        return "sem_seg_head.pixel_decoder." + name[len("sem_seg_head."):]
    return name
