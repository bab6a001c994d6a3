"""click commands of zs.extract (parsing only; the work is done by zs.extract functions)."""

from __future__ import annotations

import sys
from pathlib import Path

import click

from zs.errors import ZsError


@click.command("extract")
@click.option("--data", type=click.Path(), help="Dataset folder: DIR/<split>/{images,panoptic.json,panoptic}, "
              "DIR/{images,panoptic.json,panoptic} or COCO's DIR/{<split>2017,annotations/panoptic_<split>2017.json,panoptic_<split>2017}; "
              "DIR/vocab.json.")
@click.option("--images", type=click.Path(), help="Image folder (instead of --data).")
@click.option("--json", "json_path", type=click.Path(dir_okay=False), help="COCO panoptic JSON (instead of --data).")
@click.option("--png", type=click.Path(), help="Panoptic PNG folder (instead of --data).")
@click.option("--split", required=True, help="Split name in the store, e.g. train or val.")
@click.option("--segmenter", required=True, type=click.Path(), help="Segmenter directory (transformers Mask2Former).")
@click.option("--store", required=True, help="Store path/URL; created on first extract.")
@click.option("--vocab", type=click.Path(dir_okay=False), help="vocab.json (default: DIR/vocab.json with --data, else from the JSON).")
@click.option("--unseen", type=click.Path(), help="Unseen class list (ids or names); default PADing's 14.")
@click.option("--clip-model", help="open_clip name (ViT-B-16) or model-config JSON.")
@click.option("--clip-weights", type=click.Path(), help="Local CLIP weights file.")
@click.option("--no-clip", is_flag=True, help="Skip CLIP tokens.")
@click.option("--masks/--no-masks", default=None, help="Store per-query masks (default: on for val only).")
@click.option("--views", type=click.IntRange(min=1), default=1, show_default=True, help="Views per image (1 = test-time view only).")
@click.option("--batch-size", type=click.IntRange(min=1), default=4, show_default=True,
              help="Images per forward pass on a GPU (on the CPU each image runs alone).")
@click.option("--workers", type=click.IntRange(min=1), default=4, show_default=True, help="Image-decoding threads.")
@click.option("--device", default="auto", show_default=True)
@click.option("--seed", default=0, show_default=True, help="Seeds views and matching points.")
@click.option("--limit", type=click.IntRange(min=1), help="Only the first N images.")
@click.option("--num-points", type=click.IntRange(min=1), default=12544, show_default=True, help="Matching points per image (PADing: 12544).")
@click.option("--chunk-images", type=click.IntRange(min=1), help="Images per store chunk (default: store's choice).")
@click.option("--dask-workers", type=click.IntRange(min=0), default=0, show_default=True, help="Run on a local dask cluster of N workers.")
@click.option("--dask-scheduler", help="Address of a running dask scheduler.")
@click.option("--shard", metavar="I/N", help="Write only shard I of N (disjoint whole-chunk row ranges), for job "
              "arrays; then `zs store consolidate STORE SPLIT`.")
@click.option("--progress/--no-progress", default=True, show_default=True)
def extract_cmd(data, images, json_path, png, split, segmenter, store, vocab, unseen, clip_model, clip_weights,
                no_clip, masks, views, batch_size, workers, device, seed, limit, num_points, chunk_images,
                dask_workers, dask_scheduler, shard, progress):
    """Run the frozen segmenter once over a split and write its features into the store."""
    from zs.extract.job import ExtractConfig
    from zs.extract.run import run
    from zs.extract.shards import parse_shard

    from zs.extract.datasets import dataset_files

    images, json_path, png = (str(p) for p in dataset_files(data, split, images=images, json=json_path, png=png))
    if vocab is None and data and (Path(data) / "vocab.json").is_file():
        vocab = str(Path(data) / "vocab.json")
    if no_clip:
        clip_model = clip_weights = None
    elif not (clip_model and clip_weights):
        raise ZsError("give --clip-model and --clip-weights, or --no-clip")
    cfg = ExtractConfig(split=split, store=store, segmenter=segmenter, images=images, json=json_path, png=png,
                        vocab=vocab, unseen=unseen, clip_model=clip_model, clip_weights=clip_weights, masks=masks,
                        views=views, batch_size=batch_size, workers=workers, device=device, seed=seed, limit=limit,
                        num_points=num_points, chunk_images=chunk_images, dask_workers=dask_workers,
                        dask_scheduler=dask_scheduler, shard=parse_shard(shard), progress=progress)
    res = run(cfg)
    where = f" shard {shard} (rows {res.rows[0]}-{res.rows[1] - 1})" if res.rows else ""
    click.echo(f"{res.store} [{res.split}]{where}: {res.written}/{res.num_rows} rows done "
               f"in {res.seconds:.1f}s ({res.images_per_second:.2f} img/s)")
    click.echo(f"wrote {res.store} (split {res.split})")
    if res.failures:
        click.echo(f"{len(res.failures)} image(s) failed (rerun the same command to retry them):", err=True)
        for f in res.failures[:10]:
            click.echo(f"  row {f['row']} {f['file_name']}: {f['error']}", err=True)
        sys.exit(1)


@click.group("split")
def split_group():
    """Zero-shot dataset splits."""


@split_group.command("coco-panoptic")
@click.argument("json_in", type=click.Path(dir_okay=False))
@click.argument("json_out", type=click.Path())
@click.option("--unseen", type=click.Path(), help="Unseen class list (ids or names); default PADing's 14.")
def split_coco_panoptic(json_in, json_out, unseen):
    """Write the seen-only training JSON: drop images with any unseen segment (crowd included)."""
    from zs.extract.split import split_coco_panoptic as split

    counts = split(json_in, json_out, unseen)
    click.echo(f"images kept {counts['images_kept']}, dropped {counts['images_dropped']}; segments kept "
               f"{counts['segments_kept']} (seen), unseen segments dropped {counts['unseen_segments_dropped']} "
               f"({counts['unseen_classes']} unseen classes)")
    click.echo(f"wrote {json_out}")


@click.group("prepare")
def prepare_group():
    """Ground truth of PADing's semantic / instance protocols in COCO panoptic format (+ vocab.json)."""


@prepare_group.command("coco-stuff")
@click.option("--images", required=True, type=click.Path(), help="Image folder (e.g. COCO/val2017).")
@click.option("--labels", required=True, type=click.Path(),
              help="Label maps in the 171-class order (PADing/ZegFormer annotations_detectron2/<split>).")
@click.option("--out", required=True, type=click.Path(), help="Output folder: panoptic.json, panoptic/, vocab.json.")
@click.option("--limit", type=click.IntRange(min=1), help="Only the first N images.")
@click.option("--progress/--no-progress", default=True, show_default=True)
def prepare_coco_stuff(images, labels, out, limit, progress):
    """COCO-Stuff label maps -> one segment per class present (171 classes, 15 unseen)."""
    from zs.extract.prepare import stuff_labels_to_panoptic
    from zs.paths import check_out_dir, new_dir_removed_on_error

    check_out_dir(out)
    with new_dir_removed_on_error(out):
        c = stuff_labels_to_panoptic(images, labels, out, limit=limit, progress=progress)
    click.echo(f"{c['images']} images, {c['segments']} segments")
    click.echo(f"wrote {out}")


@prepare_group.command("coco-zsi")
@click.option("--json", "json_path", required=True, type=click.Path(dir_okay=False),
              help="COCO instances JSON of the 48/17 split (e.g. instances_val2014_gzsi_48_17.json).")
@click.option("--out", required=True, type=click.Path(), help="Output folder: panoptic.json, panoptic/, vocab.json.")
@click.option("--limit", type=click.IntRange(min=1), help="Only the first N images.")
@click.option("--progress/--no-progress", default=True, show_default=True)
def prepare_coco_zsi(json_path, out, limit, progress):
    """COCO instances -> one segment per instance (65 classes, 17 unseen; overlaps: smaller on top)."""
    from zs.extract.prepare import instances_to_panoptic
    from zs.paths import check_out_dir, new_dir_removed_on_error

    check_out_dir(out)
    with new_dir_removed_on_error(out):
        c = instances_to_panoptic(json_path, out, limit=limit, progress=progress)
    click.echo(f"{out}: {c['images']} images, {c['segments']} segments; {c['hidden_by_overlap']} instance(s) "
               f"hidden by overlaps, {c['outside_vocabulary']} annotation(s) of other classes dropped")
    click.echo(f"wrote {out}")


@click.command("text-embed")
@click.option("--store", required=True, help="Store whose vocabulary to embed.")
@click.option("--clip-model", help="open_clip name (ViT-B-16) or model-config JSON.")
@click.option("--clip-weights", type=click.Path(), help="Local CLIP weights file.")
@click.option("--semantic", type=click.Path(), help="Import a fixed [K, Dt] .npy instead (e.g. semantic.npy).")
@click.option("--name", default="default", show_default=True, help="Name of the embedding set in the store.")
@click.option("--device", default="auto", show_default=True)
def text_embed_cmd(store, clip_model, clip_weights, semantic, name, device):
    """Text embeddings of the store's vocabulary (PADing's 8 templates) into STORE/text/."""
    from zs.extract.text import embed_store_text

    url, emb = embed_store_text(store, name=name, clip_model=clip_model, clip_weights=clip_weights,
                                semantic=semantic, device=device)
    click.echo(f"wrote {url}/text/{name}: {emb.shape[0]} classes x {emb.shape[1]} dims")


commands: list = [extract_cmd, split_group, prepare_group, text_embed_cmd]
