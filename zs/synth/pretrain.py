"""``zs pretrain-backbone``: the synthetic world's stand-in for ImageNet pre-training.

Real zero-shot segmenters start from a backbone pre-trained on ImageNet, whose
1,000 classes include look-alikes of the "unseen" segmentation classes (cows,
umbrellas, ...); only the segmentation training (Mask2Former on the seen
classes) is seen-only. The analogue here: the segmenter config's ResNet,
global-average-pooled, classifies single-segment crops rendered from *every*
shape x colour and pattern x direction combination (``clip_train.open_world``,
the same "web" the tiny CLIP is trained on) — image-level labels, no masks,
like ImageNet. ``zs train-segmenter --init-backbone OUT/backbone.pt`` then
starts from these weights (with Mask2Former's backbone learning-rate
multiplier, 0.1).

Crops come from ``clip_train.rendered_crops`` (freshly rendered images, never
the dataset's splits), normalised with the segmenter's ImageNet mean/std.
"""

from __future__ import annotations

import dataclasses
from pathlib import Path

import numpy as np
import torch

from zs.errors import ZsError
from zs.manifest import make_manifest, write_json_atomic
from zs.synth.segmenter_config import SegmenterConfig, build_mask2former_config

BACKBONE_FILE = "backbone.pt"


@dataclasses.dataclass(frozen=True)
class PretrainConfig:
    images: int = 3000  # rendered open-world images; every segment of each gives one crop
    crop_size: int = 64  # the synthetic images' size
    steps: int = 1500
    batch_size: int = 64
    lr: float = 1e-3
    weight_decay: float = 0.05
    hflip: bool = True


def build_backbone(cfg: SegmenterConfig):
    """The ResNet that ``build_mask2former_config(cfg, ...)`` puts in the segmenter (random init)."""
    from transformers import Mask2FormerForUniversalSegmentation

    model = Mask2FormerForUniversalSegmentation(build_mask2former_config(cfg, ["x"]))
    return model.model.pixel_level_module.encoder


class BackboneClassifier(torch.nn.Module):
    """backbone -> last stage -> global average pool -> Linear(C, K): plain image classification."""

    def __init__(self, backbone, channels: int, num_classes: int):
        super().__init__()
        self.backbone = backbone
        self.fc = torch.nn.Linear(channels, num_classes)

    def forward(self, pixels):  # [B, 3, H, W] -> [B, K]
        return self.fc(self.backbone(pixels).feature_maps[-1].mean((2, 3)))


def _normalise(crops: np.ndarray) -> np.ndarray:
    from zs.synth.train_data import IMAGENET_MEAN, IMAGENET_STD

    x = crops.astype(np.float32) / 255.0  # [N, H, W, 3]
    return ((x - IMAGENET_MEAN) / IMAGENET_STD).transpose(0, 3, 1, 2).astype(np.float32)  # [N, 3, H, W]


def pretrain_backbone(
    out: str | Path, seg_cfg: SegmenterConfig, cfg: PretrainConfig = PretrainConfig(), *, seed: int = 0,
    device: str = "auto", progress: bool = False, world=None,
) -> dict:
    """Train the backbone on open-world crops; write ``out/backbone.pt`` + manifest. Returns the metrics.

    ``world``: the World whose attribute values and render settings make the open world (default: the default one).
    """
    from tqdm import tqdm

    from zs.runtime import resolve_device, seed_everything
    from zs.synth.clip_train import open_world, rendered_crops

    from zs.paths import check_out_dir

    out = check_out_dir(out, writes="zs-synth-backbone")
    if (out / BACKBONE_FILE).exists():
        raise ZsError(f"--out {out}: already holds {BACKBONE_FILE}; choose a new folder")
    dev = resolve_device(device)
    seed_everything(seed)
    world = open_world(world)
    crops, labels = rendered_crops(world, cfg.images, cfg.crop_size, seed)  # [N,S,S,3], [N]
    held = np.arange(len(labels)) % 10 == 0  # every 10th crop held out to report accuracy
    x = torch.from_numpy(_normalise(crops))
    y = torch.from_numpy(labels)
    train_idx = np.flatnonzero(~held)
    if len(train_idx) < cfg.batch_size:
        raise ZsError(f"--images {cfg.images}: gives {len(train_idx)} training crops, fewer than the batch size "
                      f"{cfg.batch_size}; render more images")
    model = BackboneClassifier(build_backbone(seg_cfg), seg_cfg.backbone_hidden_sizes[-1], len(world.classes)).to(dev)
    opt = torch.optim.AdamW(model.parameters(), lr=cfg.lr, weight_decay=cfg.weight_decay)
    rng = np.random.default_rng([seed, 7])
    model.train()
    bar = tqdm(range(cfg.steps), desc="pretrain-backbone", disable=not progress)
    loss_log = []
    for step in bar:
        for g in opt.param_groups:  # cosine decay
            g["lr"] = cfg.lr * 0.5 * (1 + np.cos(np.pi * step / cfg.steps))
        idx = torch.from_numpy(rng.choice(train_idx, size=cfg.batch_size, replace=False))
        xb = x[idx]
        if cfg.hflip:
            flip = torch.from_numpy(rng.random(len(idx)) < 0.5)
            xb = torch.where(flip[:, None, None, None], xb.flip(-1), xb)
        loss = torch.nn.functional.cross_entropy(model(xb.to(dev)), y[idx].to(dev))
        opt.zero_grad(set_to_none=True)
        loss.backward()
        opt.step()
        if step % 50 == 0 or step == cfg.steps - 1:
            value = loss.item()
            loss_log.append((step, value))
            bar.set_postfix(loss=f"{value:.3f}")
    model.eval()
    with torch.no_grad():
        hx, hy = x[torch.from_numpy(held)], y[torch.from_numpy(held)]
        pred = torch.cat([model(hx[i:i + 256].to(dev)).argmax(1).cpu() for i in range(0, len(hy), 256)])
    acc = float((pred == hy).float().mean())
    out.mkdir(parents=True, exist_ok=True)
    torch.save({k: v.detach().cpu() for k, v in model.backbone.state_dict().items()}, out / BACKBONE_FILE)
    metrics = {"held_out_accuracy": acc, "held_out_crops": int(held.sum()), "train_crops": int((~held).sum()),
               "classes": [c.name for c in world.classes], "losses": loss_log}
    write_json_atomic(out / "manifest.json", make_manifest(
        "zs-synth-backbone", config=cfg, segmenter_config=seg_cfg, seed=seed, metrics=metrics))
    return metrics


def load_backbone_into(model, path: str | Path) -> None:
    """Copy a ``pretrain_backbone`` state dict into a transformers Mask2Former's ResNet (shapes checked)."""
    path = Path(path)
    if not path.is_file():
        raise ZsError(f"--init-backbone {path}: no such file")
    from zs.artifact import load_torch_file

    state = load_torch_file(path, what="backbone")
    enc = model.model.pixel_level_module.encoder
    mine = enc.state_dict()
    bad = [k for k in mine if k not in state or tuple(state[k].shape) != tuple(mine[k].shape)]
    if bad or set(state) - set(mine):
        raise ZsError(f"--init-backbone {path}: does not fit this segmenter config's backbone "
                      f"(first mismatch: {(bad or sorted(set(state) - set(mine)))[0]})")
    enc.load_state_dict(state)
