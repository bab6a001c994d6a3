"""click command ``zs convert-checkpoint`` (parsing only; no torch at import)."""

from __future__ import annotations

import click


@click.command("convert-checkpoint")
@click.option("--from", "source", type=click.Choice(["detectron2"]), default="detectron2", show_default=True,
              help="Checkpoint framework.")
@click.option("--config", "config_path", required=True, type=click.Path(dir_okay=False),
              help="detectron2/Mask2Former config YAML (its _BASE_ files are read too).")
@click.option("--vocab", "vocab_path", type=click.Path(dir_okay=False), default=None,
              help="zs vocab.json naming the checkpoint's classes (default: COCO panoptic for 133-class "
                   "COCO panoptic configs, else unnamed).")
@click.option("--allow-unknown-keys", is_flag=True, help="Warn about config keys detectron2 does not define "
                                                         "instead of refusing the config.")
@click.option("--overwrite", is_flag=True, help="Replace OUT_DIR if it exists.")
@click.option("--seed", type=int, default=0, show_default=True,
              help="Seed for the (overwritten) random init; the output does not depend on it.")
@click.argument("checkpoint", type=click.Path(dir_okay=False))
@click.argument("out_dir", type=click.Path(file_okay=False))
def convert_checkpoint_cmd(source, config_path, vocab_path, allow_unknown_keys, overwrite, seed, checkpoint, out_dir):
    """Convert a detectron2 Mask2Former/PADing CHECKPOINT (.pth or .pkl) into a zs segmenter OUT_DIR.

    OUT_DIR gets a transformers Mask2Former (config.json + model.safetensors),
    preprocessor_config.json (pixel mean/std, test sizes, size divisor),
    zs_segmenter.json (input format, labels) and, for PADing checkpoints,
    pading_head/ (its new_fc classifier as a zs head). Nothing is written if
    the checkpoint and config do not fit.
    """
    from zs.extract.d2.export import convert_checkpoint
    from zs.runtime import seed_everything

    seed_everything(seed)
    res = convert_checkpoint(config_path, checkpoint, out_dir, vocab_path=vocab_path,
                             allow_unknown_keys=allow_unknown_keys, overwrite=overwrite)
    s = res.spec
    if res.ignored_keys:
        click.echo(f"ignored (not weights): {', '.join(res.ignored_keys)}")
    if res.head_dir is not None:
        click.echo(f"wrote PADing head {res.head_dir}")
    click.echo(f"wrote {res.out_dir}: Mask2Former R{s.resnet_depth}, {s.num_queries} queries, D={s.hidden_dim}, "
               f"K={s.num_classes}, input {s.input_format}")


commands: list = [convert_checkpoint_cmd]
