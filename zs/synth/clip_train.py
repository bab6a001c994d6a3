"""A tiny open_clip model trained on the synthetic world (``zs train-clip``).

Images are masked crops of segments; texts are attribute captions. The loss
is contrastive (cross-entropy of cosine logits x learned temperature) of each
crop against caption sets: the full captions ("a red circle", "horizontal
waves texture") and attribute captions ("a red object", "a circle", "a waves
texture", "a horizontal texture"), so the text tower composes attributes.

Training data (``ClipTrainConfig.data``):
- ``open`` (default): images rendered in memory from *every* shape x colour
  and pattern x direction combination, unseen classes' combinations included.
  This mirrors real CLIP, whose web-scale pretraining has seen the unseen
  classes (cows, giraffes) that the segmenter never saw; the segmenter and the
  synthetic dataset's train split stay seen-only.
- ``seen``: crops of the dataset's train split (seen classes only).

Saved as ``open_clip_config.json`` (``{embed_dim, vision_cfg, text_cfg}``) +
``weights.pt`` (fp16 state dict), loadable with ``open_clip.model.CLIP(**cfg)``.
Image preprocessing: RGB crops resized to 64 px, OpenAI CLIP mean/std.
"""

from __future__ import annotations

import dataclasses
import json
import logging
from pathlib import Path

import numpy as np

from zs.errors import ConfigError, ZsError
from zs.manifest import make_manifest, write_json_atomic
from zs.synth.dataset import load_world
from zs.synth.world import World, WorldClass, build_world, caption

log = logging.getLogger(__name__)

CLIP_CONFIG = {
    "embed_dim": 64,
    "vision_cfg": {"image_size": 64, "layers": 3, "width": 64, "patch_size": 8, "head_width": 32},
    "text_cfg": {"context_length": 16, "vocab_size": 49408, "width": 32, "heads": 2, "layers": 2},
}
OPENAI_MEAN = (0.48145466, 0.4578275, 0.40821073)
OPENAI_STD = (0.26862954, 0.26130258, 0.27577711)


@dataclasses.dataclass(frozen=True)
class ClipTrainConfig:
    steps: int = 1500
    batch_size: int = 64
    lr: float = 2e-3
    weight_decay: float = 0.05
    max_segments: int = 6000  # data='seen': crops taken from the train split (first ones, in image order)
    data: str = "open"  # 'open': every attribute combination (like CLIP's web data); 'seen': train split only
    open_images: int = 1000  # data='open': images rendered in memory for the crops


def attribute_captions(world: World) -> dict[str, list[str]]:
    """Caption sets: 'class' (full captions of every class), and one per attribute."""
    sets = {"class": [caption(c) for c in world.classes]}
    sets["shape"] = [f"a {v}" for v in sorted({c.attributes["shape"] for c in world.things()})]
    sets["colour"] = [f"a {v} object" for v in sorted({c.attributes["colour"] for c in world.things()})]
    sets["pattern"] = [f"a {v} texture" for v in sorted({c.attributes["pattern"] for c in world.stuff()})]
    sets["direction"] = [f"a {v} texture" for v in sorted({c.attributes["direction"] for c in world.stuff()})]
    return sets


def caption_targets(world: World, sets: dict[str, list[str]], k: int) -> dict[str, int]:
    """Index of class k's caption in each attribute caption set (-1 where the set does not apply)."""
    c = world.classes[k]
    out = {}
    for key, fmt in (("shape", "a {}"), ("colour", "a {} object"), ("pattern", "a {} texture"), ("direction", "a {} texture")):
        out[key] = sets[key].index(fmt.format(c.attributes[key])) if key in c.attributes else -1
    return out


def masked_crop(image: np.ndarray, mask: np.ndarray, size: int, *, fill=(0, 0, 0), margin: float = 0.15) -> np.ndarray:
    """uint8 [size,size,3]: the segment's bbox (+margin, square) with pixels outside the mask set to ``fill``."""
    from PIL import Image

    ys, xs = np.nonzero(mask)
    h, w = mask.shape
    cy, cx = (ys.min() + ys.max()) / 2, (xs.min() + xs.max()) / 2
    half = max(ys.max() - ys.min() + 1, xs.max() - xs.min() + 1, 8) * (0.5 + margin)
    y0, y1 = int(max(0, np.floor(cy - half))), int(min(h, np.ceil(cy + half)))
    x0, x1 = int(max(0, np.floor(cx - half))), int(min(w, np.ceil(cx + half)))
    out = np.where(mask[..., None], image, np.array(fill, np.uint8))[y0:y1, x0:x1]
    return np.asarray(Image.fromarray(out.astype(np.uint8)).resize((size, size), Image.BILINEAR))


def tight_crop(image: np.ndarray, mask: np.ndarray, size: int) -> np.ndarray:
    """zs.extract.clip's segment view: outside-mask pixels -> CLIP mean colour, the mask's box, bicubic resize."""
    from PIL import Image

    ys, xs = np.nonzero(mask)
    crop = image[ys.min(): ys.max() + 1, xs.min(): xs.max() + 1].copy()
    crop[~mask[ys.min(): ys.max() + 1, xs.min(): xs.max() + 1]] = np.round(np.array(OPENAI_MEAN) * 255).astype(np.uint8)
    return np.asarray(Image.fromarray(crop).resize((size, size), Image.BICUBIC))


def random_crop_view(image: np.ndarray, mask: np.ndarray, size: int, rng) -> np.ndarray:
    """Half the time zs.extract's tight view, else a square view with a black or random fill."""
    if rng.random() < 0.5:
        return tight_crop(image, mask, size)
    fill = (0, 0, 0) if rng.random() < 0.5 else tuple(int(v) for v in rng.integers(0, 256, 3))
    return masked_crop(image, mask, size, fill=fill)


def segment_crops(data_dir: str | Path, split: str, size: int, limit: int | None = None, seed: int = 0):
    """(crops uint8 [N,size,size,3], class index [N]) of the split's GT segments (fill colour varies)."""
    from zs.extract.datasets import CocoPanoptic

    world = load_world(data_dir)
    vocab = world.vocabulary
    root = Path(data_dir) / split
    ds = CocoPanoptic(root / "images", root / "panoptic.json", root / "panoptic")
    rng = np.random.default_rng(seed)
    crops, labels = [], []
    for i in range(len(ds)):
        sample = ds[i]
        for s in sample.segments:
            crops.append(random_crop_view(sample.image, sample.segment_map == s["id"], size, rng))
            labels.append(vocab.index_of_id(s["category_id"]))
            if limit is not None and len(crops) >= limit:
                return np.stack(crops), np.array(labels, np.int64)
    if not crops:
        raise ZsError(f"{root}: no segments to train the CLIP on")
    return np.stack(crops), np.array(labels, np.int64)


def to_clip_pixels(crops: np.ndarray):
    """uint8 [N,S,S,3] -> normalised float tensor [N,3,S,S] (OpenAI CLIP mean/std)."""
    import torch

    x = torch.from_numpy(crops).float().div(255).permute(0, 3, 1, 2)  # [N,3,S,S]
    mean = torch.tensor(OPENAI_MEAN).view(1, 3, 1, 1)
    std = torch.tensor(OPENAI_STD).view(1, 3, 1, 1)
    return (x - mean) / std


def _contrastive_loss(model, images, labels, texts_tok, targets, world):
    """Sum over caption sets of CE(cos(image, captions) * logit_scale, target) on the applicable crops."""
    import torch
    import torch.nn.functional as F

    img = F.normalize(model.encode_image(images), dim=-1)  # [B,E]
    keys = list(texts_tok)
    all_txt = F.normalize(model.encode_text(torch.cat([texts_tok[k] for k in keys])), dim=-1)  # [sum T,E]
    txts = dict(zip(keys, all_txt.split([len(texts_tok[k]) for k in keys])))
    loss = 0.0
    for key in keys:
        txt = txts[key]  # [T,E]
        tgt = targets[key][labels]  # [B]
        ok = tgt >= 0
        if ok.any():
            logits = model.logit_scale.exp() * img[ok] @ txt.T  # [b,T]
            loss = loss + F.cross_entropy(logits, tgt[ok])
    return loss


def train_clip(
    data_dir: str | Path, out: str | Path, cfg: ClipTrainConfig = ClipTrainConfig(), *,
    seed: int = 0, device: str = "auto", progress: bool = False,
) -> tuple[Path, Path]:
    """Train the tiny CLIP (see ``ClipTrainConfig.data``); returns (config, weights)."""
    import open_clip
    import torch
    from open_clip.model import CLIP
    from tqdm import tqdm

    from zs.paths import check_out_dir
    from zs.runtime import resolve_device, seed_everything

    check_out_dir(out, writes="zs-synth-clip")
    world = load_world(data_dir)
    seed_everything(seed)
    dev = resolve_device(device)
    world_t, crops, labels = _training_crops(world, data_dir, cfg, seed)
    sets = attribute_captions(world_t)
    if cfg.data == "seen":
        sets["class"] = [caption(c) for c in world_t.classes if c.seen]  # no unseen caption in training
    targets = {k: torch.tensor([_target(world_t, sets, i, k) for i in range(len(world_t.classes))]) for k in sets}
    toks = {k: open_clip.tokenize(v, context_length=CLIP_CONFIG["text_cfg"]["context_length"]).to(dev)
            for k, v in sets.items()}
    model = CLIP(**CLIP_CONFIG).to(dev).train()
    opt = torch.optim.AdamW(model.parameters(), lr=cfg.lr, weight_decay=cfg.weight_decay)
    sched = torch.optim.lr_scheduler.OneCycleLR(opt, max_lr=cfg.lr, total_steps=cfg.steps, pct_start=0.1)
    pixels = to_clip_pixels(crops)  # [N,3,S,S]
    gen = torch.Generator().manual_seed(seed)
    for step in tqdm(range(cfg.steps), desc="train-clip", disable=not progress):
        idx = torch.randint(len(labels), (cfg.batch_size,), generator=gen)
        batch = pixels[idx]
        flip = torch.rand(len(idx), generator=gen) < 0.5
        batch[flip] = batch[flip].flip(-1)
        loss = _contrastive_loss(model, batch.to(dev), torch.from_numpy(labels)[idx], toks,
                                 {k: v.to(dev) for k, v in targets.items()}, world)
        opt.zero_grad(set_to_none=True)
        loss.backward()
        opt.step()
        sched.step()
        if step % 100 == 0:
            log.info("train-clip step %d loss %.3f", step, loss.item())
    return _save_clip(Path(out), model, cfg, seed, data_dir)


def _target(world: World, sets: dict, k: int, key: str) -> int:
    c = world.classes[k]
    if key == "class":
        return sets["class"].index(caption(c)) if caption(c) in sets["class"] else -1
    return caption_targets(world, sets, k)[key]


def open_world(world: World | None = None) -> World:
    """Every shape x colour and pattern x direction combination of ``world``'s values (all 'seen'): the CLIP's 'web'.

    Default: the default world's values. The result keeps ``world``'s render settings.
    """
    world = world or build_world()
    val = world.values
    things = [(f"{c} {s}", {"shape": s, "colour": c}) for s in val["shape"] for c in val["colour"]]
    stuff = [(f"{d} {p}", {"pattern": p, "direction": d}) for p in val["pattern"] for d in val["direction"]]
    classes = [WorldClass(i + 1, n, "shape" in a, True, a) for i, (n, a) in enumerate(things + stuff)]
    return World(tuple(classes), render=dict(world.render))


def rendered_crops(world: World, n_images: int, size: int, seed: int):
    """(crops uint8 [N,size,size,3], class index [N]) of freshly rendered images of ``world`` (not saved)."""
    from zs.synth.render import RenderConfig, render_image

    crops, labels = [], []
    for i in range(n_images):
        rng = np.random.default_rng([seed, 99, i])
        image, ids, segments = render_image(world.things(), world.stuff(), RenderConfig(size=size, **world.render), rng)
        for s in segments:
            crops.append(random_crop_view(image, ids == s["id"], size, rng))
            labels.append(s["category_id"] - 1)
    return np.stack(crops), np.array(labels, np.int64)


def _training_crops(world: World, data_dir, cfg: ClipTrainConfig, seed: int):
    """(training world, crops, labels) for ``cfg.data``: 'open' (all combinations) or 'seen' (train split)."""
    size = CLIP_CONFIG["vision_cfg"]["image_size"]
    if cfg.data == "open":
        w = open_world(world)
        return (w, *rendered_crops(w, cfg.open_images, size, seed))
    if cfg.data != "seen":
        raise ConfigError(f"ClipTrainConfig.data={cfg.data!r}: expected 'open' or 'seen'")
    crops, labels = segment_crops(data_dir, "train", size, cfg.max_segments, seed)
    if not world.vocabulary.seen_mask()[labels].all():
        raise ZsError(f"{data_dir}/train: contains unseen-class segments; 'seen' CLIP training needs seen-only images")
    return world, crops, labels


def _save_clip(out: Path, model, cfg: ClipTrainConfig, seed: int, data_dir) -> tuple[Path, Path]:
    import torch

    out.mkdir(parents=True, exist_ok=True)
    config_path, weights_path = out / "open_clip_config.json", out / "weights.pt"
    config_path.write_text(json.dumps(CLIP_CONFIG, indent=2) + "\n")
    torch.save({k: v.detach().cpu().half() for k, v in model.state_dict().items()}, weights_path)
    write_json_atomic(out / "manifest.json", make_manifest(
        "zs-synth-clip", config=cfg, seed=seed, inputs={"data": str(Path(data_dir).resolve())},
        open_clip_config=CLIP_CONFIG, image_preprocess={"size": CLIP_CONFIG["vision_cfg"]["image_size"],
                                                        "mean": OPENAI_MEAN, "std": OPENAI_STD}))
    return config_path, weights_path
