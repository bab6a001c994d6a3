"""click command ``zs metrics panoptic|semantic|instance`` (parsing only; the work is done by
``zs.evaluate.metrics.write``; the summary printed by ``zs.evaluate.reports.report``)."""

from __future__ import annotations

import click


def _echo(out, result: dict) -> None:
    from zs.evaluate.reports.report import format_metrics_summary

    click.echo(format_metrics_summary(result))
    click.echo(f"wrote {out}")


@click.group("metrics")
def metrics() -> None:
    """Exact reference metrics on standard files (panopticapi PQ, detectron2 mIoU, COCO AP)."""


@metrics.command("panoptic")
@click.option("--gt-json", required=True, type=click.Path(dir_okay=False), help="COCO panoptic GT JSON.")
@click.option("--gt-folder", required=True, type=click.Path(file_okay=False), help="Folder of GT PNGs.")
@click.option("--pred-json", required=True, type=click.Path(dir_okay=False), help="Predicted panoptic JSON.")
@click.option("--pred-folder", required=True, type=click.Path(file_okay=False), help="Folder of predicted PNGs.")
@click.option("--unseen", type=click.Path(dir_okay=False), help="File: one unseen category id or name per line.")
@click.option("--workers", type=click.IntRange(min=1), default=1, show_default=True, help="Worker processes (1 = serial).")
@click.option("--out", required=True, type=click.Path(dir_okay=False), help="Output JSON.")
@click.option("--progress/--no-progress", default=False, help="Show a progress bar.")
def panoptic(gt_json, gt_folder, pred_json, pred_folder, unseen, workers, out, progress) -> None:
    """PQ/SQ/RQ per class, All/Things/Stuff (+ seen/unseen/hm), exactly as panopticapi."""
    from zs.evaluate.metrics.write import write_panoptic_metrics

    _echo(out, write_panoptic_metrics(out, gt_json, gt_folder, pred_json, pred_folder, unseen=unseen,
                                      workers=workers, progress=progress))


@metrics.command("semantic")
@click.option("--gt-folder", required=True, type=click.Path(file_okay=False), help="Folder of GT label PNGs.")
@click.option("--pred-folder", required=True, type=click.Path(file_okay=False),
              help="Folder of predicted label PNGs (same file names).")
@click.option("--num-classes", required=True, type=click.IntRange(min=1), help="K: labels are 0..K-1.")
@click.option("--ignore-label", default=255, show_default=True, help="GT label ignored.")
@click.option("--names", type=click.Path(dir_okay=False), help="File: K class names, one per line.")
@click.option("--unseen", type=click.Path(dir_okay=False), help="File: one unseen class index or name per line.")
@click.option("--out", required=True, type=click.Path(dir_okay=False), help="Output JSON.")
@click.option("--progress/--no-progress", default=False, help="Show a progress bar.")
def semantic(gt_folder, pred_folder, num_classes, ignore_label, names, unseen, out, progress) -> None:
    """mIoU, fwIoU, pixel/mean accuracy from a confusion matrix (detectron2 SemSegEvaluator)."""
    from zs.evaluate.metrics.write import write_semantic_metrics

    _echo(out, write_semantic_metrics(out, gt_folder, pred_folder, num_classes, ignore_label=ignore_label,
                                      names=names, unseen=unseen, progress=progress))


@metrics.command("instance")
@click.option("--gt-json", required=True, type=click.Path(dir_okay=False), help="COCO instances GT JSON.")
@click.option("--results-json", required=True, type=click.Path(dir_okay=False), help="COCO results list JSON.")
@click.option("--iou-type", type=click.Choice(["segm", "bbox"]), default="segm", show_default=True,
              help="COCOeval IoU type: masks (segm) or boxes (bbox).")
@click.option("--unseen", type=click.Path(dir_okay=False), help="File: one unseen category id or name per line.")
@click.option("--out", required=True, type=click.Path(dir_okay=False), help="Output JSON.")
def instance(gt_json, results_json, iou_type, unseen, out) -> None:
    """COCO AP (pycocotools COCOeval as detectron2 drives it) plus per-class AP/AP50/AP75."""
    from zs.evaluate.metrics.write import write_instance_metrics

    _echo(out, write_instance_metrics(out, gt_json, results_json, iou_type=iou_type, unseen=unseen))


commands: list = [metrics]
