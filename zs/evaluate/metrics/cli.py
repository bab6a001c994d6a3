"""click commands: ``zs metrics panoptic|semantic|instance`` and ``zs report``.

Parsing only; the work is done by ``zs.evaluate.metrics`` and ``zs.evaluate.reports.report``.
"""

from __future__ import annotations

import click


def _read_unseen(path):
    from zs.vocab import read_class_list

    return read_class_list(path) if path else []


def _inputs(**paths) -> dict:
    """Provenance of the inputs: path plus sha256 for files (folders: path only)."""
    from pathlib import Path

    from zs.manifest import sha256_file

    out = {}
    for role, p in paths.items():
        if p is None:
            continue
        out[role] = {"path": str(Path(p).resolve())}
        if Path(p).is_file():
            out[role]["sha256"] = sha256_file(p)
    return out


def _write(out, kind: str, result: dict, config: dict, inputs: dict) -> None:
    from zs.evaluate.reports.report import format_metrics_summary
    from zs.manifest import make_manifest, write_json_atomic

    result = {"provenance": make_manifest(kind, config=config, inputs=inputs), **result}
    write_json_atomic(out, result)
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
@click.option("--workers", default=1, show_default=True, help="Worker processes (1 = serial).")
@click.option("--out", required=True, type=click.Path(dir_okay=False), help="Output JSON.")
@click.option("--progress/--no-progress", default=False, help="Show a progress bar.")
def panoptic(gt_json, gt_folder, pred_json, pred_folder, unseen, workers, out, progress) -> None:
    """PQ/SQ/RQ per class, All/Things/Stuff (+ seen/unseen/hm), exactly as panopticapi."""
    from concurrent.futures import ProcessPoolExecutor

    from zs.errors import ConfigError
    from zs.evaluate.metrics import evaluate_panoptic_files
    from zs.paths import check_out_file

    check_out_file(out)
    if workers < 1:
        raise ConfigError(f"--workers must be >= 1, got {workers}")
    args = (gt_json, gt_folder, pred_json, pred_folder, _read_unseen(unseen))
    if workers == 1:
        res = evaluate_panoptic_files(*args, progress=progress)
    else:
        with ProcessPoolExecutor(workers) as ex:
            res = evaluate_panoptic_files(*args, executor=ex, progress=progress)
    inputs = _inputs(gt_json=gt_json, gt_folder=gt_folder, pred_json=pred_json, pred_folder=pred_folder,
                     unseen=unseen)
    _write(out, "metrics-panoptic", {"panoptic": res}, {"workers": workers}, inputs)


@metrics.command("semantic")
@click.option("--gt-folder", required=True, type=click.Path(file_okay=False), help="Folder of GT label PNGs.")
@click.option("--pred-folder", required=True, type=click.Path(file_okay=False),
              help="Folder of predicted label PNGs (same file names).")
@click.option("--num-classes", required=True, type=int, help="K: labels are 0..K-1.")
@click.option("--ignore-label", default=255, show_default=True, help="GT label ignored.")
@click.option("--names", type=click.Path(dir_okay=False), help="File: K class names, one per line.")
@click.option("--unseen", type=click.Path(dir_okay=False), help="File: one unseen class index or name per line.")
@click.option("--out", required=True, type=click.Path(dir_okay=False), help="Output JSON.")
@click.option("--progress/--no-progress", default=False, help="Show a progress bar.")
def semantic(gt_folder, pred_folder, num_classes, ignore_label, names, unseen, out, progress) -> None:
    """mIoU, fwIoU, pixel/mean accuracy from a confusion matrix (detectron2 SemSegEvaluator)."""
    from zs.evaluate.metrics import evaluate_semantic_files
    from zs.paths import check_out_file
    from zs.vocab import read_class_list

    check_out_file(out)
    class_names = read_class_list(names) if names else None
    res = evaluate_semantic_files(gt_folder, pred_folder, num_classes, ignore_label=ignore_label,
                                  unseen=_read_unseen(unseen), names=class_names, progress=progress)
    config = {"num_classes": num_classes, "ignore_label": ignore_label}
    _write(out, "metrics-semantic", {"semantic": res}, config,
           _inputs(gt_folder=gt_folder, pred_folder=pred_folder, names=names, unseen=unseen))


@metrics.command("instance")
@click.option("--gt-json", required=True, type=click.Path(dir_okay=False), help="COCO instances GT JSON.")
@click.option("--results-json", required=True, type=click.Path(dir_okay=False), help="COCO results list JSON.")
@click.option("--iou-type", type=click.Choice(["segm", "bbox"]), default="segm", show_default=True)
@click.option("--unseen", type=click.Path(dir_okay=False), help="File: one unseen category id or name per line.")
@click.option("--out", required=True, type=click.Path(dir_okay=False), help="Output JSON.")
def instance(gt_json, results_json, iou_type, unseen, out) -> None:
    """COCO AP (pycocotools COCOeval as detectron2 drives it) plus per-class AP/AP50/AP75."""
    from zs.errors import ZsError
    from zs.evaluate.metrics import instance_metrics
    from zs.manifest import read_json
    from zs.paths import check_out_file

    check_out_file(out)
    gt, results = read_json(gt_json), read_json(results_json)
    if not isinstance(results, list):
        raise ZsError(f"{results_json}: expected a COCO results list, got {type(results).__name__}")
    res = instance_metrics(gt, results, iou_type, _read_unseen(unseen))
    _write(out, "metrics-instance", {"instance": res}, {"iou_type": iou_type},
           _inputs(gt_json=gt_json, results_json=results_json, unseen=unseen))


@click.command("report")
@click.argument("run_dirs", nargs=-1, required=True, type=click.Path(file_okay=False))
@click.option("--out", type=click.Path(file_okay=False),
              help="Output folder of the batch report (default: a single run's own folder).")
@click.option("--label", "labels", multiple=True, help="Row label per run (repeat, in RUN_DIR order).")
@click.option("--panels", default=8, show_default=True,
              help="Validation images drawn as image | ground truth | each run's prediction (0: none).")
def report(run_dirs, out, labels, panels) -> None:
    """Reports from RUN_DIR/metrics.json.

    One RUN_DIR: report.md + self-contained report.html (in RUN_DIR, or --out).
    Several: one ablation table (runs differing only by seed -> mean ± std),
    comparison plots and one grid of qualitative panels (a column per row) in
    --out as report.md, report.html and summary.json; the table is printed.
    """
    from pathlib import Path

    from zs.errors import ConfigError
    from zs.evaluate.reports.report import batch_report, write_report
    from zs.paths import check_out_dir

    if out is not None:
        check_out_dir(out)
    if len(run_dirs) == 1:
        paths = write_report(run_dirs[0], out, panels=panels)
        click.echo(f"wrote {paths['md']} and {paths['html']}")
        return
    if out is None:
        raise ConfigError("--out DIR is required with several RUN_DIRs")
    summary = batch_report(list(run_dirs), out, labels=list(labels) or None, panels=panels)
    click.echo(summary["table_text"])
    click.echo(f"wrote {Path(out) / 'report.html'} (and report.md, summary.json)")


commands: list = [metrics, report]
