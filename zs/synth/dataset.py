"""Writing the synthetic world as a COCO panoptic dataset (``zs synth``).

Layout::

    DIR/world.json  vocab.json  semantic.npy  manifest.json
    DIR/{train,val}/images/000000.png  panoptic/000000.png  panoptic.json

Train images are drawn from seen classes only (the zero-shot protocol: no
pixel of an unseen class); val images from all classes. Every image has its
own RNG stream ``(seed, split, index)``, so the output is byte-identical for a
seed whatever the order of writing.
"""

from __future__ import annotations

import dataclasses
import logging
import shutil
from pathlib import Path

import numpy as np
from PIL import Image
from tqdm import tqdm

from zs.errors import ZsError
from zs.manifest import make_manifest, read_json, write_json_atomic
from zs.paths import check_out_dir
from zs.synth.render import RenderConfig, ids_to_rgb, render_image
from zs.synth.world import (
    World,
    attribute_ambiguity,
    build_world,
    caption,
    semantic_embeddings,
)

log = logging.getLogger(__name__)

WORLD_KIND = "zs-synth-world"
_SPLIT_CODE = {"train": 0, "val": 1}


@dataclasses.dataclass(frozen=True)
class SynthConfig:
    seed: int = 0
    train: int = 1000
    val: int = 100
    size: int = 64


def default_world_args() -> dict:
    """The ``zs synth`` arguments of the world the shipped segmenter was trained on."""
    return dataclasses.asdict(SynthConfig())


def _check_out_dir(out: Path) -> None:
    """Refuse an existing folder that is not empty and not a previous synth output."""
    if not out.exists():
        return
    if not out.is_dir():
        raise ZsError(f"--out {out}: exists and is not a directory")
    if not any(out.iterdir()):
        return
    world_json = out / "world.json"
    if not world_json.is_file() or read_json(world_json).get("kind") != WORLD_KIND:
        raise ZsError(f"--out {out}: exists, is not empty and is not a previous `zs synth` output")


def categories_json(world: World) -> list[dict]:
    return [
        {"id": c.id, "name": c.name, "isthing": int(c.isthing), "supercategory": "thing" if c.isthing else "stuff"}
        for c in world.classes
    ]


def _write_split(out: Path, split: str, n: int, world: World, cfg: SynthConfig, progress: bool) -> dict:
    """Render ``n`` images of one split; returns the panoptic JSON dict (also written)."""
    things = world.things(seen=True if split == "train" else None)
    stuff = world.stuff(seen=True if split == "train" else None)
    rcfg = RenderConfig(size=cfg.size, **world.render)
    (out / split / "images").mkdir(parents=True, exist_ok=True)
    (out / split / "panoptic").mkdir(parents=True, exist_ok=True)
    images, annotations = [], []
    for i in tqdm(range(n), desc=f"synth {split}", disable=not progress):
        rng = np.random.default_rng([cfg.seed, _SPLIT_CODE[split], i])
        image, ids, segments = render_image(things, stuff, rcfg, rng)
        name = f"{i:06d}"
        Image.fromarray(image).save(out / split / "images" / f"{name}.png")
        Image.fromarray(ids_to_rgb(ids)).save(out / split / "panoptic" / f"{name}.png")
        images.append({"id": i, "file_name": f"{name}.png", "width": cfg.size, "height": cfg.size})
        annotations.append({"image_id": i, "file_name": f"{name}.png", "segments_info": segments})
    doc = {
        "info": {"description": f"zs synthetic world, split {split}, seed {cfg.seed}"},
        "licenses": [],
        "images": images,
        "annotations": annotations,
        "categories": categories_json(world),
    }
    write_json_atomic(out / split / "panoptic.json", doc)
    return doc


def write_synth(
    out: str | Path, cfg: SynthConfig = SynthConfig(), world: World | None = None, *, progress: bool = False
) -> Path:
    """Write the synthetic world to ``out`` (see module docstring); returns the folder."""
    out = Path(out)
    if cfg.train < 1 or cfg.val < 1:
        raise ZsError(f"--train {cfg.train} / --val {cfg.val}: both splits need at least one image")
    if not 32 <= cfg.size <= 1024:
        raise ZsError(f"--size {cfg.size}: must be between 32 and 1024 pixels")
    check_out_dir(out)
    _check_out_dir(out)
    world = world or build_world()
    for split in _SPLIT_CODE:
        shutil.rmtree(out / split, ignore_errors=True)  # a previous synth output is rewritten
    out.mkdir(parents=True, exist_ok=True)
    counts = {"train": cfg.train, "val": cfg.val}
    for split, n in counts.items():
        _write_split(out, split, n, world, cfg, progress)
    world.vocabulary.save(out / "vocab.json")
    np.save(out / "semantic.npy", semantic_embeddings(world, cfg.seed))
    write_json_atomic(out / "world.json", _world_doc(world, cfg))
    manifest = make_manifest("synth-world", config=cfg, seed=cfg.seed, vocab_sha256=world.vocabulary.sha256)
    write_json_atomic(out / "manifest.json", manifest)
    log.info("wrote synthetic world to %s (%d train, %d val images)", out, cfg.train, cfg.val)
    return out


def _world_doc(world: World, cfg: SynthConfig) -> dict:
    return {
        "kind": WORLD_KIND,
        "seed": cfg.seed,
        "sizes": {"train": cfg.train, "val": cfg.val, "image": cfg.size},
        "render": dataclasses.asdict(RenderConfig(size=cfg.size, **world.render)),
        "semantic": {"dim": world.semantic_dim, "noise": world.semantic_noise, "file": "semantic.npy"},
        "captions": [caption(c) for c in world.classes],
        "seen_attribute_counts": attribute_ambiguity(world),
        **world.to_dict(),
    }


def load_world(data_dir: str | Path) -> World:
    """The World of a ``zs synth`` output folder (from its world.json)."""
    doc = read_json(Path(data_dir) / "world.json")
    if doc.get("kind") != WORLD_KIND:
        raise ZsError(f"{data_dir}/world.json: not a zs synth world (kind={doc.get('kind')!r})")
    classes = [(c["name"], c["attributes"], c["seen"]) for c in doc["classes"]]
    default = dataclasses.asdict(RenderConfig())
    render = {k: v for k, v in doc.get("render", {}).items() if k != "size" and k in default and v != default[k]}
    return build_world(classes, doc["semantic_dim"], doc["semantic_noise"], render)
