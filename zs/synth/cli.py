"""click commands of zs.synth (parsing only; the work is done by zs.synth functions)."""

import click

from zs.synth.dataset import SynthConfig

_D = SynthConfig()


@click.command("synth")
@click.option("--out", required=True, type=click.Path(file_okay=False), help="Output folder (new, or a previous synth output).")
@click.option("--seed", default=_D.seed, show_default=True, type=int, help="World seed (images, split draws, semantic codes).")
@click.option("--train", "n_train", default=_D.train, show_default=True, type=int, help="Number of training images (seen classes only).")
@click.option("--val", "n_val", default=_D.val, show_default=True, type=int, help="Number of validation images (all classes).")
@click.option("--size", default=_D.size, show_default=True, type=int, help="Image side in pixels.")
@click.option("--classes", "classes_file", default=None, type=click.Path(exists=True, dir_okay=False),
              help="JSON list of {name, attributes, seen} replacing the default classes (docs/synth.md).")
@click.option("--world-config", "world_config", default=None, type=click.Path(exists=True, dir_okay=False),
              help="JSON/YAML world configuration: attribute values, unseen combinations, render settings "
                   "(docs/synth.md).")
@click.option("--progress/--no-progress", default=True, show_default=True)
def synth_cmd(out, seed, n_train, n_val, size, classes_file, world_config, progress):
    """Write the synthetic world as a COCO panoptic dataset (+ vocab.json, semantic.npy, world.json)."""
    from zs.errors import ConfigError
    from zs.synth.dataset import write_synth
    from zs.synth.world import read_classes_file
    from zs.synth.world_config import read_world_config

    if classes_file and world_config:
        raise ConfigError("--classes and --world-config: give one of them")
    world = read_classes_file(classes_file) if classes_file else None
    world = read_world_config(world_config) if world_config else world
    cfg = SynthConfig(seed=seed, train=n_train, val=n_val, size=size)
    path = write_synth(out, cfg, world, progress=progress)
    click.echo(f"wrote {path}")


@click.command("train-segmenter")
@click.option("--data", required=True, type=click.Path(exists=True, file_okay=False), help="COCO panoptic dataset folder (SPLIT/images, SPLIT/panoptic, SPLIT/panoptic.json, vocab.json).")
@click.option("--config", "config", default="tiny", show_default=True, help="tiny | r50 | a JSON/YAML file of overrides.")
@click.option("--out", required=True, type=click.Path(file_okay=False), help="Segmenter directory to write (resumes from its checkpoint).")
@click.option("--split", default="train", show_default=True, help="Split folder to train on.")
@click.option("--vocab", "vocab_path", default=None, type=click.Path(dir_okay=False), help="Vocabulary file with seen flags (default DATA/vocab.json).")
@click.option("--steps", default=None, type=click.IntRange(min=1), help="Override the config's number of steps.")
@click.option("--batch-size", default=None, type=click.IntRange(min=1), help="Override the config's batch size.")
@click.option("--init-backbone", default=None, type=click.Path(exists=True, dir_okay=False),
              help="A `zs pretrain-backbone` backbone.pt to start the ResNet from (trained at the config's "
                   "backbone_lr_multiplier x lr).")
@click.option("--seed", default=0, show_default=True, type=int)
@click.option("--device", default="auto", show_default=True, help="auto | cpu | cuda[:N]")
@click.option("--progress/--no-progress", default=True, show_default=True)
def train_segmenter_cmd(data, config, out, split, vocab_path, steps, batch_size, init_backbone, seed, device, progress):
    """Train Mask2Former on the seen classes of a panoptic dataset (label space = full vocabulary)."""
    import dataclasses

    from zs.synth.segmenter_config import load_segmenter_config
    from zs.synth.train import train_segmenter

    cfg = load_segmenter_config(config)
    overrides = {k: v for k, v in (("steps", steps), ("batch_size", batch_size)) if v is not None}
    if any(v < 1 for v in overrides.values()):
        raise click.BadParameter(f"must be >= 1, got {overrides}")
    cfg = dataclasses.replace(cfg, **overrides)
    r = train_segmenter(data, out, cfg, seed=seed, device=device, split=split, vocab_path=vocab_path, progress=progress,
                        init_backbone=init_backbone)
    click.echo(f"trained {r.steps} steps; wrote {r.out}")


@click.command("pretrain-backbone")
@click.option("--out", required=True, type=click.Path(file_okay=False), help="Folder for backbone.pt + manifest.json.")
@click.option("--config", "config", default="tiny", show_default=True,
              help="Segmenter config whose ResNet to pre-train: tiny | r50 | a JSON/YAML file.")
@click.option("--steps", default=None, type=click.IntRange(min=1), help="Training steps (default 1500).")
@click.option("--images", default=None, type=int,
              help="Rendered open-world images to crop, one crop per segment (default 3000).")
@click.option("--data", default=None, type=click.Path(exists=True, file_okay=False),
              help="A `zs synth` folder whose attribute values and render settings make the open world "
                   "(default: the default world).")
@click.option("--seed", default=0, show_default=True, type=int)
@click.option("--device", default="auto", show_default=True, help="auto | cpu | cuda[:N]")
@click.option("--progress/--no-progress", default=True, show_default=True)
def pretrain_backbone_cmd(out, config, steps, images, data, seed, device, progress):
    """Pre-train a segmenter backbone on crops of every attribute combination (the world's ImageNet)."""
    import dataclasses

    from zs.synth.dataset import load_world
    from zs.synth.pretrain import PretrainConfig, pretrain_backbone
    from zs.synth.segmenter_config import load_segmenter_config

    overrides = {k: v for k, v in (("steps", steps), ("images", images)) if v is not None}
    if any(v < 1 for v in overrides.values()):
        raise click.BadParameter(f"must be >= 1, got {overrides}")
    m = pretrain_backbone(out, load_segmenter_config(config), dataclasses.replace(PretrainConfig(), **overrides),
                          seed=seed, device=device, progress=progress, world=load_world(data) if data else None)
    click.echo(f"held-out crop accuracy {m['held_out_accuracy']:.3f} ({m['held_out_crops']} crops) ; wrote {out}/backbone.pt")


@click.command("train-clip")
@click.option("--data", required=True, type=click.Path(exists=True, file_okay=False), help="A `zs synth` output folder.")
@click.option("--out", required=True, type=click.Path(file_okay=False), help="Folder for open_clip_config.json + weights.pt.")
@click.option("--steps", default=None, type=click.IntRange(min=1), help="Training steps (default: ClipTrainConfig.steps).")
@click.option("--seed", default=0, show_default=True, type=int)
@click.option("--device", default="auto", show_default=True, help="auto | cpu | cuda[:N]")
@click.option("--progress/--no-progress", default=True, show_default=True)
def train_clip_cmd(data, out, steps, seed, device, progress):
    """Train the tiny open_clip model: masked crops vs attribute captions.

    Crops are rendered from every shape x colour and pattern x direction
    combination (unseen ones included, as real CLIP has seen the classes the
    segmenter never saw); the segmenter and the dataset's train split stay
    seen-only. See docs/synth.md.
    """
    import dataclasses

    from zs.synth.clip_train import ClipTrainConfig, train_clip

    cfg = ClipTrainConfig() if steps is None else dataclasses.replace(ClipTrainConfig(), steps=steps)
    config, weights = train_clip(data, out, cfg, seed=seed, device=device, progress=progress)
    click.echo(f"wrote {config} and {weights}")


@click.command("synth-quality")
@click.option("--data", required=True, type=click.Path(exists=True, file_okay=False), help="A `zs synth` output folder.")
@click.option("--segmenter", default=None, type=click.Path(exists=True, file_okay=False), help="Segmenter directory (default: the shipped one).")
@click.option("--clip", "clip_dir", default=None, type=click.Path(exists=True, file_okay=False), help="Also check a tiny CLIP folder (open_clip_config.json + weights.pt).")
@click.option("--split", default="val", show_default=True, help="Split folder of the world to score.")
@click.option("--limit", default=None, type=click.IntRange(min=1), help="Only the first N images.")
@click.option("--object-threshold", default=0.8, show_default=True, type=click.FloatRange(0, 1), help="Panoptic inference score threshold (Mask2Former: 0.8).")
@click.option("--out", default=None, type=click.Path(dir_okay=False), help="Write the figures as JSON here.")
@click.option("--device", default="cpu", show_default=True)
@click.option("--progress/--no-progress", default=True, show_default=True)
def synth_quality_cmd(data, segmenter, clip_dir, split, limit, object_threshold, out, device, progress):
    """Seen PQ, seen accuracy by attribute and unseen mask recall of a segmenter (+ CLIP retrieval)."""
    import json

    from zs.synth.criteria import synth_quality

    res = synth_quality(data, segmenter, clip_dir=clip_dir, split=split, device=device, limit=limit,
                        object_threshold=object_threshold, out=out, progress=progress)
    click.echo(json.dumps(res, indent=1))
    if out:
        click.echo(f"wrote {out}")


@click.command("synth-criteria")
@click.option("--data", required=True, type=click.Path(exists=True, file_okay=False), help="A `zs synth` output folder.")
@click.option("--segmenter", default=None, type=click.Path(exists=True, file_okay=False),
              help="Segmenter directory trained on DATA's seen classes (default: the shipped one).")
@click.option("--text", "text_source", default="clip", show_default=True, type=click.Choice(["clip", "semantic"]),
              help="Text embeddings: the tiny CLIP's text tower (PADing prompts) or DATA/semantic.npy (attribute codes).")
@click.option("--clip", "clip_dir", default=None, type=click.Path(exists=True, file_okay=False),
              help="Tiny CLIP folder for --text clip (default: the shipped one).")
@click.option("--split", default="val", show_default=True, help="Split folder of the world to score.")
@click.option("--limit", default=None, type=click.IntRange(min=1), help="Only the first N images (quick checks).")
@click.option("--out", default=None, type=click.Path(dir_okay=False), help="Write every figure as JSON here.")
@click.option("--device", default="cpu", show_default=True)
@click.option("--progress/--no-progress", default=True, show_default=True)
def synth_criteria_cmd(data, segmenter, text_source, clip_dir, split, limit, out, device, progress):
    """The world-selection criteria: transfer probe, seen segmenter, honesty, size; each with pass/fail."""
    from zs.synth.criteria import synth_criteria

    if limit is not None and limit < 1:
        raise click.BadParameter(f"--limit {limit}: must be >= 1")
    res = synth_criteria(data, segmenter, text_source=text_source, clip_dir=clip_dir, split=split, device=device,
                         limit=limit, out=out, progress=progress)
    for name, c in res["criteria"].items():
        click.echo(f"{name:22s} {'PASS' if c['pass'] else 'FAIL'}  {_criterion_line(name, c)}")
    click.echo(f"all criteria: {'PASS' if res['pass'] else 'FAIL'}")
    if out:
        click.echo(f"wrote {out}")


def _criterion_line(name: str, c: dict) -> str:
    if name.startswith("1"):
        return f"probe {c['probe']:.3f} vs oracle {c['oracle']:.3f} (needs >= {c['needs']['probe_at_least']:.3f})"
    if name.startswith("2"):
        attrs = ", ".join(f"{k} {a['accuracy']:.3f}/{a['needs']:.2f}" for k, a in c["attributes"].items())
        return (f"seen PQ {c['seen_pq']['value']:.1f} (>= 45), unseen recall {c['unseen_mask_recall']['value']:.3f} "
                f"(>= 0.80), {attrs}")
    if name.startswith("3"):
        return ", ".join(f"{k} {'ok' if v['pass'] else 'FAIL'}" for k, v in c.items() if isinstance(v, dict))
    return f"{c['bytes'] / 1e6:.1f} MB (<= 20)"


commands: list = [synth_cmd, pretrain_backbone_cmd, train_segmenter_cmd, train_clip_cmd, synth_quality_cmd,
                  synth_criteria_cmd]
