"""The frozen segmenter: transformers Mask2Former loaded from a local directory.

A segmenter directory is ``save_pretrained`` of
``Mask2FormerForUniversalSegmentation`` plus a ``preprocessor_config.json``
(Mask2FormerImageProcessor format: ``image_mean``/``image_std`` in 0-1 units,
``size: {shortest_edge, longest_edge}``, ``size_divisor``) and optionally
``zs_segmenter.json`` (``input_format`` "RGB"/"BGR", label names).

Preprocessing reproduces Mask2Former/detectron2 at test time: resize the
shortest edge (PIL bilinear on uint8, detectron2's ``ResizeShortestEdge``),
cap the longest edge, normalise on 0-255 pixels with mean*255 / std*255, then
zero-pad bottom/right *after* normalisation to a multiple of ``size_divisor``.

The query embedding is the class-head input: the last decoder layer's hidden
state after the decoder's final LayerNorm (DESIGN §5). transformers returns
``transformer_decoder_last_hidden_state`` *before* that LayerNorm, so we apply
``model.model.transformer_module.decoder.layernorm`` ourselves and check at
load time that ``class_predictor`` of it reproduces ``class_queries_logits``.
"""

from __future__ import annotations

import dataclasses
import logging
import os
from pathlib import Path

import numpy as np
import torch
from PIL import Image
from torch import nn

from zs.errors import ZsError
from zs.extract.views import View
from zs.manifest import read_json, sha256_dir

log = logging.getLogger(__name__)

_IMAGENET_MEAN = (0.485, 0.456, 0.406)
_IMAGENET_STD = (0.229, 0.224, 0.225)


@dataclasses.dataclass(frozen=True)
class PreprocessConfig:
    """Test-time preprocessing (Mask2Former COCO defaults)."""

    shortest_edge: int = 800
    longest_edge: int = 1333
    size_divisor: int = 32
    image_mean: tuple[float, float, float] = _IMAGENET_MEAN  # 0-1 units
    image_std: tuple[float, float, float] = _IMAGENET_STD  # 0-1 units
    input_format: str = "RGB"  # what the network was trained on

    @classmethod
    def from_dir(cls, path: Path) -> "PreprocessConfig":
        cfg_file = path / "preprocessor_config.json"
        raw = read_json(cfg_file) if cfg_file.is_file() else {}
        extra = read_json(path / "zs_segmenter.json") if (path / "zs_segmenter.json").is_file() else {}
        size = raw.get("size") or {}
        if isinstance(size, int):
            size = {"shortest_edge": size}
        fmt = str(extra.get("input_format", "RGB")).upper()
        if fmt not in ("RGB", "BGR"):
            raise ZsError(f"{path}/zs_segmenter.json: input_format '{fmt}' (expected RGB or BGR)")
        return cls(
            shortest_edge=int(size.get("shortest_edge", cls.shortest_edge)),
            longest_edge=int(size.get("longest_edge", cls.longest_edge)),
            size_divisor=int(raw.get("size_divisor", cls.size_divisor) or 1),
            image_mean=tuple(float(v) for v in raw.get("image_mean", _IMAGENET_MEAN)),
            image_std=tuple(float(v) for v in raw.get("image_std", _IMAGENET_STD)),
            input_format=fmt,
        )


@dataclasses.dataclass
class SegmenterOutput:
    query_embed: torch.Tensor  # [B, Q, D] class-head input
    class_logits: torch.Tensor  # [B, Q, K+1]
    mask_logits: torch.Tensor  # [B, Q, Hp/4, Wp/4]


def resized_size(height: int, width: int, short: int, long: int) -> tuple[int, int]:
    """detectron2 ResizeShortestEdge.get_output_shape: (new_h, new_w)."""
    scale = short / min(height, width)
    if height < width:
        newh, neww = short, scale * width
    else:
        newh, neww = scale * height, short
    if max(newh, neww) > long:
        scale = long / max(newh, neww)
        newh, neww = newh * scale, neww * scale
    return int(newh + 0.5), int(neww + 0.5)


def _round_up(x: int, d: int) -> int:
    return (x + d - 1) // d * d if d > 1 else x


class Segmenter:
    """A frozen Mask2Former with zs's preprocessing and query-embedding readout."""

    def __init__(self, model: nn.Module, prep: PreprocessConfig, *, path: str, sha256: str,
                 device: torch.device):
        self.model = model.eval().to(device)
        self.prep = prep
        self.path = path
        self.sha256 = sha256
        self.device = device
        self._mean = torch.tensor(prep.image_mean, dtype=torch.float32).view(3, 1, 1) * 255.0
        self._std = torch.tensor(prep.image_std, dtype=torch.float32).view(3, 1, 1) * 255.0

    # -- sizes ------------------------------------------------------------------
    @property
    def num_queries(self) -> int:
        return int(self.model.config.num_queries)

    @property
    def query_dim(self) -> int:
        return int(self.model.config.hidden_dim)

    @property
    def num_classes(self) -> int:
        """K: the checkpoint's label count (no-object excluded)."""
        return int(self.class_head.out_features) - 1

    @property
    def class_head(self) -> nn.Linear:
        return self.model.class_predictor

    @property
    def label_names(self) -> list[str]:
        id2label = self.model.config.id2label or {}
        return [str(id2label.get(i, id2label.get(str(i), i))) for i in range(self.num_classes)]

    # -- preprocessing ------------------------------------------------------------
    def preprocess(self, image: np.ndarray, *, resize: bool = True,
                   view: View | None = None) -> tuple[torch.Tensor, dict]:
        """uint8 [H, W, 3] RGB -> (normalised pixels [3, h, w] float32, geometry dict).

        ``view`` (crop, flip, scale) is applied before resizing; geometry records
        resized/padded sizes (padded = own size rounded up to ``size_divisor``).
        """
        from zs.extract.views import apply_view, full_view

        if image.ndim != 3 or image.shape[2] != 3 or image.dtype != np.uint8:
            raise ZsError(f"image must be uint8 [H, W, 3], got {image.dtype} {tuple(image.shape)}")
        h0, w0 = image.shape[:2]
        view = view or full_view(h0, w0)
        img = apply_view(image, view)
        ch, cw = img.shape[:2]
        if resize:
            short = self.prep.shortest_edge * view.scale
            long = self.prep.longest_edge * view.scale
            nh, nw = resized_size(ch, cw, short, long)
            if (nh, nw) != (ch, cw):
                img = np.asarray(Image.fromarray(img).resize((nw, nh), Image.BILINEAR))
        if self.prep.input_format == "BGR":
            img = img[:, :, ::-1]
        x = torch.from_numpy(np.array(img, dtype=np.uint8)).permute(2, 0, 1).float()  # [3, h, w]
        if self.prep.input_format == "BGR":
            x = (x - self._mean.flip(0)) / self._std.flip(0)
        else:
            x = (x - self._mean) / self._std
        rh, rw = x.shape[1:]
        d = self.prep.size_divisor
        geometry = {
            "resized_h": int(rh), "resized_w": int(rw),
            "padded_h": _round_up(rh, d), "padded_w": _round_up(rw, d),
            "flip": bool(view.flip), "crop_x0": int(view.crop_x0), "crop_y0": int(view.crop_y0),
            "crop_h": int(ch), "crop_w": int(cw), "view": int(view.view),
        }
        return x, geometry

    def collate(self, pixels: list[torch.Tensor]) -> torch.Tensor:
        """Zero-pad normalised [3, h, w] tensors bottom/right to one [B, 3, Hp, Wp] (multiple of size_divisor)."""
        d = self.prep.size_divisor
        hp = _round_up(max(p.shape[1] for p in pixels), d)
        wp = _round_up(max(p.shape[2] for p in pixels), d)
        batch = torch.zeros(len(pixels), 3, hp, wp, dtype=torch.float32)  # [B, 3, Hp, Wp]
        for i, p in enumerate(pixels):
            batch[i, :, : p.shape[1], : p.shape[2]] = p
        return batch

    # -- inference ------------------------------------------------------------------
    @torch.inference_mode()
    def forward(self, pixel_values: torch.Tensor) -> SegmenterOutput:
        """[B, 3, Hp, Wp] normalised -> query embeddings, class logits, mask logits (on self.device)."""
        out = self.model.model(pixel_values=pixel_values.to(self.device), output_hidden_states=False,
                               return_dict=True)
        last = out.transformer_decoder_last_hidden_state  # [B, Q, D] before the final LayerNorm
        embed = self.model.model.transformer_module.decoder.layernorm(last)  # [B, Q, D]
        logits = self.class_head(embed)  # [B, Q, K+1]
        masks = out.masks_queries_logits[-1]  # [B, Q, Hp/4, Wp/4]
        return SegmenterOutput(query_embed=embed, class_logits=logits, mask_logits=masks)

    __call__ = forward


def check_class_head(seg: Segmenter, *, atol: float = 1e-4) -> float:
    """Class head of our query embedding must reproduce the model's own logits; returns max |diff|."""
    g = torch.Generator().manual_seed(0)
    side = max(64, seg.prep.size_divisor * 2)
    x = torch.randn(1, 3, side, side, generator=g)  # [1, 3, side, side]
    with torch.inference_mode():
        ref = seg.model(pixel_values=x.to(seg.device)).class_queries_logits  # [1, Q, K+1]
    ours = seg.forward(x).class_logits  # [1, Q, K+1]
    diff = float((ours - ref).abs().max())
    scale = float(ref.abs().max()) + 1.0
    if not diff <= atol * scale:
        raise ZsError(
            f"{seg.path}: class_predictor(decoder.layernorm(last hidden state)) differs from the model's "
            f"class_queries_logits by {diff:.3g}; this transformers Mask2Former layout is not supported"
        )
    return diff


def _load_model(path: Path) -> nn.Module:
    from transformers import Mask2FormerForUniversalSegmentation
    from transformers.utils import logging as hf_logging

    if not (path / "config.json").is_file():
        raise ZsError(f"{path}: not a segmenter directory (no config.json)")
    verbosity, bars = hf_logging.get_verbosity(), hf_logging.is_progress_bar_enabled()
    hf_logging.set_verbosity_error()  # "resnet backbone not supported" is noise for us
    hf_logging.disable_progress_bar()
    try:
        return Mask2FormerForUniversalSegmentation.from_pretrained(str(path), local_files_only=True)
    except (OSError, ValueError, KeyError) as e:
        raise ZsError(f"{path}: cannot load Mask2Former ({type(e).__name__}: {e})") from None
    finally:
        hf_logging.set_verbosity(verbosity)
        if bars:
            hf_logging.enable_progress_bar()


def load_segmenter(path: str | os.PathLike, device: str | torch.device = "cpu") -> Segmenter:
    """Load a segmenter directory on ``device`` and check its class-head readout."""
    from zs.runtime import resolve_device

    p = Path(path).expanduser().resolve()
    if not p.is_dir():
        raise ZsError(f"segmenter {path}: directory not found")
    dev = device if isinstance(device, torch.device) else resolve_device(device)
    model = _load_model(p)
    seg = Segmenter(model, PreprocessConfig.from_dir(p), path=str(p), sha256=sha256_dir(p), device=dev)
    check_class_head(seg)
    log.info("segmenter %s: Q=%d D=%d K=%d", p, seg.num_queries, seg.query_dim, seg.num_classes)
    return seg


def save_segmenter_dir(out_dir: str | os.PathLike, model: nn.Module, prep: PreprocessConfig = PreprocessConfig(),
                       info: dict | None = None) -> Path:
    """Write a segmenter directory that :func:`load_segmenter` reads; returns it.

    ``model.save_pretrained`` (safetensors, no progress bar), ``preprocessor_config.json``
    (Mask2FormerImageProcessor format from ``prep``: size, size_divisor, mean/std in 0-1 units, RGB
    order) and ``zs_segmenter.json`` = ``{"input_format": prep.input_format, **info}`` (label names,
    vocabulary, source...). The caller writes ``manifest.json`` (provenance) itself.
    """
    from transformers import Mask2FormerImageProcessor
    from transformers.utils import logging as hf_logging

    from zs.manifest import write_json_atomic

    info = dict(info or {})
    if info.setdefault("input_format", prep.input_format) != prep.input_format:
        raise ZsError(f"save_segmenter_dir: info input_format {info['input_format']!r} != prep {prep.input_format!r}")
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    bars = hf_logging.is_progress_bar_enabled()
    hf_logging.disable_progress_bar()
    try:
        model.save_pretrained(str(out), safe_serialization=True)
    finally:
        if bars:
            hf_logging.enable_progress_bar()
    Mask2FormerImageProcessor(
        do_resize=True, size={"shortest_edge": int(prep.shortest_edge), "longest_edge": int(prep.longest_edge)},
        size_divisor=int(prep.size_divisor), do_rescale=True, rescale_factor=1 / 255, do_normalize=True,
        image_mean=list(prep.image_mean), image_std=list(prep.image_std), ignore_index=255,
        do_reduce_labels=False, num_labels=int(model.config.num_labels),
    ).save_pretrained(str(out))
    write_json_atomic(out / "zs_segmenter.json", {"input_format": info.pop("input_format"), **info})
    return out

