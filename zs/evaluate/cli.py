"""click commands ``zs evaluate`` and ``zs segment`` (parsing only; the work is done by
``zs.evaluate.run.evaluate`` and ``zs.evaluate.evaluation.segment.segment_to_file``)."""

import click


@click.command("evaluate")
@click.option("--store", "store", default=None, help="Feature store (cached evaluation on its val queries+masks).")
@click.option("--head", "head", required=True, type=click.Path(exists=True, file_okay=False),
              help="Head artifact directory (zs.heads).")
@click.option("--out", "out", required=True, type=click.Path(file_okay=False), help="Run directory to write.")
@click.option("--tasks", default="panoptic,semantic,instance", show_default=True,
              help="Comma-separated subset of panoptic, semantic, instance.")
@click.option("--limit", type=click.IntRange(min=1), default=None, help="Evaluate only the first N validation images.")
@click.option("--split", default="val", show_default=True, help="Store split to evaluate (cached mode).")
@click.option("--full-image", is_flag=True, help="Run the segmenter end to end with the head swapped in.")
@click.option("--segmenter", type=click.Path(exists=True, file_okay=False), default=None,
              help="Segmenter directory (--full-image).")
@click.option("--data", type=click.Path(exists=True, file_okay=False), default=None,
              help="Dataset folder holding the val split (--full-image; layouts: see zs extract --help).")
@click.option("--images", type=click.Path(exists=True, file_okay=False), default=None, help="Image folder.")
@click.option("--json", "json_path", type=click.Path(exists=True, dir_okay=False), default=None,
              help="COCO panoptic JSON.")
@click.option("--png", type=click.Path(exists=True, file_okay=False), default=None, help="Panoptic PNG folder.")
@click.option("--vocab", type=click.Path(exists=True, dir_okay=False), default=None,
              help="Vocabulary file (--full-image; default DATA/vocab.json or the --store's).")
@click.option("--gt-json", type=click.Path(exists=True, dir_okay=False), default=None,
              help="Override the store manifest's ground-truth JSON (cached).")
@click.option("--gt-png", type=click.Path(exists=True, file_okay=False), default=None,
              help="Override the store manifest's ground-truth PNG folder (cached).")
@click.option("--exact", is_flag=True,
              help="Mask2Former's post-processing as written (every query, two resizes) instead of the fast path.")
@click.option("--save-predictions", is_flag=True,
              help="Write RUN_DIR/predictions: COCO panoptic PNG+JSON, semantic PNGs, COCO results JSON.")
@click.option("--no-report", is_flag=True, help="Do not write report.md/report.html.")
@click.option("--device", default="auto", show_default=True, help="auto, cpu, cuda or cuda:N.")
@click.option("--seed", type=int, default=0, show_default=True, help="Seed (recorded in the provenance).")
@click.option("--workers", type=click.IntRange(min=1), default=1, show_default=True,
              help="Cached evaluation on CPU: processes of one thread each (e.g. the number of cores).")
@click.option("--progress/--no-progress", default=True, show_default=True, help="Show a progress bar.")
def evaluate_cmd(store, head, out, tasks, limit, split, full_image, segmenter, data, images, json_path, png, vocab,
                 gt_json, gt_png, exact, save_predictions, no_report, device, seed, workers, progress):
    """Panoptic / semantic / instance metrics of a head.

    Cached (default): `zs evaluate --store S --head H --out RUN_DIR` reads the
    store's validation query embeddings and masks. Full image:
    `zs evaluate --full-image --segmenter M --head H --data DIR --out RUN_DIR`
    runs the segmenter on the images. Both write RUN_DIR/metrics.json.
    Post-processing: a fast path by default (metrics within 0.01 of
    Mask2Former's own, docs/evaluate.md); --exact for Mask2Former's as written.
    """
    from zs.evaluate.evaluation.streaming import InferenceConfig
    from zs.evaluate.run import EvaluateConfig, evaluate

    cfg = EvaluateConfig(head=head, out=out, store=store, split=split, tasks=tasks, limit=limit,
                         full_image=full_image, segmenter=segmenter, data=data, images=images, json=json_path,
                         png=png, vocab=vocab, gt_json=gt_json, gt_png=gt_png, device=device, seed=seed,
                         save_predictions=save_predictions, report=not no_report, progress=progress, workers=workers,
                         infer=InferenceConfig(exact=exact))
    result = evaluate(cfg)
    click.echo(_summary(result.metrics))
    click.echo(f"wrote {result.run_dir / 'metrics.json'}")


def _summary(metrics: dict) -> str:
    """Each task's headline metric (all / seen / unseen / hm), then images, mode and time."""
    from zs.evaluate.reports.report import format_metrics_summary

    p = metrics["provenance"]
    return (format_metrics_summary(metrics)
            + f"\n{p['num_images']} images, {p['mode']}, {p['timing']['seconds']:.1f} s")


@click.command("segment")
@click.option("--segmenter", "segmenter_dir", required=True, type=click.Path(file_okay=False),
              help="Segmenter directory (zs convert-checkpoint / zs train-segmenter output).")
@click.option("--image", "image_path", required=True, type=click.Path(dir_okay=False), help="Input image.")
@click.option("--no-resize", is_flag=True, help="Feed the image at native size (padded to the size divisor), "
                                                "as the detectron2 reference fixtures were made.")
@click.option("--vocab", "vocab_path", type=click.Path(dir_okay=False), default=None,
              help="zs vocab.json for thing/stuff flags (default: zs_segmenter.json, or COCO panoptic).")
@click.option("--out", "out_path", required=True, type=click.Path(dir_okay=False), help="Output .npz file.")
@click.option("--device", default="cpu", show_default=True, help="cpu | cuda | auto.")
def segment_cmd(segmenter_dir, image_path, no_resize, vocab_path, out_path, device):
    """Run one image through a segmenter; write raw outputs and the panoptic result to an .npz.

    Arrays: class_logits [Q,K+1], mask_logits [Q,h,w] (decoder resolution),
    query_embed [Q,D] (float32); panoptic_seg [H,W] int32 (0 = void),
    segment_ids, segment_classes (contiguous label), segment_isthing,
    segment_scores; pixel_values [3,h,w] (the normalised input, unpadded).
    """
    from zs.evaluate.evaluation.segment import segment_to_file

    arrays = segment_to_file(segmenter_dir, image_path, out_path, resize=not no_resize, device=device,
                             vocab_path=vocab_path)
    click.echo(f"wrote {out_path}: {len(arrays['segment_ids'])} segments, "
               f"{arrays['class_logits'].shape[0]} queries")


commands: list = [evaluate_cmd, segment_cmd]
