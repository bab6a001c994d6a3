"""CLIP image/text tokens with open_clip, from local weights only.

``load_clip(model, weights, device)``: ``model`` is an open_clip name
("ViT-B-16") or a path to an open_clip model-config JSON (``{embed_dim,
vision_cfg, text_cfg}``, or the ``open_clip_config.json`` layout with a
``model_cfg`` key); ``weights`` is a local state-dict file. Nothing is
downloaded. Weights that do not fit the model are a clear ZsError.

Image tokens are the pooled (CLS) image embedding ``encode_image`` returns.
Whole image: open_clip's eval transform (bicubic resize of the shortest side
to the input size, centre crop). Segment: pixels outside the segment set to
the model's mean colour, crop to the segment's box, resize to the input size.
"""

from __future__ import annotations

import json
import logging
import os
from pathlib import Path

import numpy as np
import torch
from PIL import Image

from zs.errors import ZsError
from zs.manifest import sha256_file

log = logging.getLogger(__name__)

_OPENAI_MEAN = (0.48145466, 0.4578275, 0.40821073)
_OPENAI_STD = (0.26862954, 0.26130258, 0.27577711)


class Clip:
    """An open_clip model with zs's image/segment preprocessing."""

    def __init__(self, model: torch.nn.Module, tokenizer, *, name: str, sha256: str, device: torch.device):
        self.model = model.eval().to(device)
        self.tokenizer = tokenizer
        self.name = name
        self.sha256 = sha256
        self.device = device
        size = getattr(model.visual, "image_size", 224)
        self.image_size = int(size[0] if isinstance(size, (tuple, list)) else size)
        cfg = getattr(model.visual, "preprocess_cfg", {}) or {}
        self.mean = tuple(cfg.get("mean", getattr(model.visual, "image_mean", None) or _OPENAI_MEAN))
        self.std = tuple(cfg.get("std", getattr(model.visual, "image_std", None) or _OPENAI_STD))

    @property
    def dim(self) -> int:
        return int(self.model.text_projection.shape[1]) if hasattr(self.model, "text_projection") and \
            self.model.text_projection is not None else int(self.model.visual.output_dim)

    @property
    def mean_colour(self) -> np.ndarray:
        """The model's mean colour as uint8 RGB (fills pixels outside a segment)."""
        return np.round(np.array(self.mean) * 255.0).astype(np.uint8)

    def _to_tensor(self, images: list[np.ndarray]) -> torch.Tensor:
        x = torch.from_numpy(np.stack(images)).permute(0, 3, 1, 2).float() / 255.0  # [N, 3, S, S]
        mean = torch.tensor(self.mean).view(1, 3, 1, 1)
        std = torch.tensor(self.std).view(1, 3, 1, 1)
        return (x - mean) / std

    def prepare_image(self, image: np.ndarray) -> np.ndarray:
        """uint8 [H, W, 3] -> uint8 [S, S, 3]: bicubic shortest side to S, centre crop."""
        s = self.image_size
        h, w = image.shape[:2]
        scale = s / min(h, w)
        nh, nw = max(s, int(round(h * scale))), max(s, int(round(w * scale)))
        im = Image.fromarray(image).resize((nw, nh), Image.BICUBIC)
        top, left = (nh - s) // 2, (nw - s) // 2
        return np.asarray(im.crop((left, top, left + s, top + s)))

    def prepare_segment(self, image: np.ndarray, mask: np.ndarray) -> np.ndarray:
        """Outside-mask pixels -> mean colour, crop to the mask's box, resize to [S, S, 3]."""
        ys, xs = np.nonzero(mask)
        if len(ys) == 0:
            return np.broadcast_to(self.mean_colour, (self.image_size, self.image_size, 3)).copy()
        y0, y1, x0, x1 = ys.min(), ys.max() + 1, xs.min(), xs.max() + 1
        crop = image[y0:y1, x0:x1].copy()
        crop[~mask[y0:y1, x0:x1]] = self.mean_colour
        s = self.image_size
        return np.asarray(Image.fromarray(crop).resize((s, s), Image.BICUBIC))

    @torch.inference_mode()
    def encode_prepared(self, images: list[np.ndarray], batch_size: int = 64) -> torch.Tensor:
        """Prepared uint8 [S, S, 3] images -> pooled image embeddings [N, Dc] float32 (CPU)."""
        if not images:
            return torch.zeros(0, self.dim)
        out = []
        for i in range(0, len(images), batch_size):
            x = self._to_tensor(images[i: i + batch_size]).to(self.device)  # [B, 3, S, S]
            out.append(self.model.encode_image(x).float().cpu())  # [B, Dc]
        return torch.cat(out)

    def encode_images(self, images: list[np.ndarray]) -> torch.Tensor:
        """uint8 [H, W, 3] images -> CLS tokens [N, Dc]."""
        return self.encode_prepared([self.prepare_image(im) for im in images])

    def encode_segments(self, image: np.ndarray, masks: list[np.ndarray]) -> torch.Tensor:
        """One image, bool masks [H, W] -> segment CLS tokens [S, Dc]."""
        return self.encode_prepared([self.prepare_segment(image, m) for m in masks])

    @torch.inference_mode()
    def encode_text(self, texts: list[str]) -> torch.Tensor:
        """Strings -> text embeddings [N, Dc] float32 (not normalised)."""
        tokens = self.tokenizer(texts).to(self.device)  # [N, L]
        return self.model.encode_text(tokens).float().cpu()


def _read_model_config(path: Path) -> dict:
    try:
        cfg = json.loads(path.read_text())
    except (OSError, json.JSONDecodeError) as e:
        raise ZsError(f"--clip-model {path}: cannot read model config ({e})") from None
    cfg = cfg.get("model_cfg", cfg)
    missing = [k for k in ("embed_dim", "vision_cfg", "text_cfg") if k not in cfg]
    if missing:
        raise ZsError(f"--clip-model {path}: missing keys {missing} (expected an open_clip model config)")
    return cfg


def _build_model(model: str) -> tuple[torch.nn.Module, object, str]:
    """Model (random init) + tokenizer from an open_clip name or a config JSON path."""
    import open_clip
    from open_clip.model import CLIP, CustomTextCLIP

    if model.endswith(".json") or Path(model).is_file():
        cfg = _read_model_config(Path(model))
        if "hf_model_name" in cfg["text_cfg"]:
            raise ZsError(f"--clip-model {model}: HF text towers are not supported offline")
        cls = CustomTextCLIP if cfg.get("custom_text") else CLIP
        net = cls(**{k: v for k, v in cfg.items() if k != "custom_text"})
        tok = open_clip.tokenize if cfg["text_cfg"].get("context_length", 77) == 77 else \
            (lambda t, n=cfg["text_cfg"]["context_length"]: open_clip.tokenize(t, context_length=n))
        return net, tok, Path(model).stem
    if model not in open_clip.list_models():
        raise ZsError(f"--clip-model {model}: not an open_clip model name nor a config JSON file")
    net = open_clip.create_model(model, pretrained=None, load_weights=False)
    return net, open_clip.get_tokenizer(model), model


def _first_sentence(e: Exception) -> str:
    return str(e).splitlines()[0].split(". ")[0] if str(e) else type(e).__name__


def _read_state_dict(weights: Path) -> dict:
    if not weights.is_file():
        raise ZsError(f"--clip-weights {weights}: file not found")
    if weights.suffix == ".safetensors":
        from safetensors.torch import load_file

        try:
            sd = load_file(str(weights))
        except Exception as e:  # noqa: BLE001 - safetensors raises its own error types
            raise ZsError(f"--clip-weights {weights}: not a safetensors file ({_first_sentence(e)})") from None
    else:
        try:
            sd = torch.load(weights, map_location="cpu", weights_only=True)
        except Exception:  # noqa: BLE001 - OpenAI's JIT archives are not plain pickles
            try:
                sd = torch.jit.load(str(weights), map_location="cpu").state_dict()
            except Exception as e:  # noqa: BLE001
                raise ZsError(f"--clip-weights {weights}: not an open_clip checkpoint (neither a torch state dict "
                              f"nor a TorchScript archive: {_first_sentence(e)})") from None
    sd = sd.get("state_dict", sd) if isinstance(sd, dict) else sd
    if not isinstance(sd, dict) or not all(isinstance(v, torch.Tensor) for v in sd.values()):
        keys = sorted(map(str, sd))[:5] if isinstance(sd, dict) else []
        raise ZsError(f"--clip-weights {weights}: not an open_clip checkpoint (no flat state dict of tensors"
                      f"{'; top-level keys: ' + ', '.join(keys) if keys else ''})")
    sd = {k[len("module."):] if k.startswith("module.") else k: v for k, v in sd.items()}
    if not any(k.startswith("visual.") for k in sd):
        raise ZsError(f"--clip-weights {weights}: not an open_clip checkpoint (no 'visual.*' keys; "
                      f"keys start {', '.join(sorted(sd)[:3])})")
    return sd


def _fit_problems(net: torch.nn.Module, sd: dict) -> str:
    """'' if ``sd`` fits ``net`` exactly, else missing/unexpected/shape lists (shortened)."""
    from zs.extract.d2.errors import format_keys

    want = net.state_dict()
    missing, unexpected = set(want) - set(sd), set(sd) - set(want)
    shapes = [f"{k} {tuple(sd[k].shape)} != {tuple(want[k].shape)}" for k in sorted(set(want) & set(sd))
              if tuple(sd[k].shape) != tuple(want[k].shape)]
    parts = ([f"missing keys ({len(missing)}): {format_keys(missing, 5)}"] if missing else []) + \
            ([f"unexpected keys ({len(unexpected)}): {format_keys(unexpected, 5)}"] if unexpected else []) + \
            ([f"shape mismatches ({len(shapes)}): {'; '.join(shapes[:3])}"] if shapes else [])
    return " | ".join(parts)


def load_clip(model: str, weights: str | os.PathLike, device: str | torch.device = "cpu") -> Clip:
    """open_clip model from a name or config JSON, weights from a local file; ZsError if they do not fit."""
    from zs.runtime import resolve_device

    dev = device if isinstance(device, torch.device) else resolve_device(device)
    net, tokenizer, name = _build_model(str(model))
    weights = Path(weights).expanduser().resolve()
    sd = _read_state_dict(weights)
    problems = _fit_problems(net, sd)
    if problems:
        raise ZsError(f"--clip-weights {weights} do not fit --clip-model {model}: {problems}")
    net.load_state_dict(sd, strict=True)
    return Clip(net, tokenizer, name=name, sha256=sha256_file(weights), device=dev)
