"""click commands ``zs report`` and ``zs export`` (parsing only; the work is done by
``zs.evaluate.reports.report`` and ``zs.evaluate.reports.export``)."""

import click

FORMATS = ("coco-panoptic", "semantic", "coco-results")  # = export.FORMATS (not imported at CLI load)


@click.command("export")
@click.argument("run_dir", type=click.Path(exists=True, file_okay=False))
@click.option("--format", "fmt", type=click.Choice(FORMATS), required=True,
              help="coco-panoptic (PNG + JSON), semantic (label PNGs + ground truth), coco-results (RLE JSON).")
@click.option("--out", type=click.Path(file_okay=False), default=None,
              help="Output folder (default RUN_DIR/export/FORMAT).")
@click.option("--device", default="cpu", show_default=True, help="cpu, cuda or cuda:N (when predictions are redone).")
@click.option("--progress/--no-progress", default=True, show_default=True, help="Show a progress bar.")
def export_cmd(run_dir, fmt, out, device, progress):
    """RUN_DIR's predictions in standard formats other tools open (FiftyOne included).

    The predictions are the run's own: RUN_DIR/predictions if `zs evaluate
    --save-predictions` wrote them, else the run's inference made again on the
    images it evaluated (cached: from the store; full image: the segmenter).
    """
    from zs.evaluate.reports.export import export_run
    from zs.paths import check_out_dir
    from zs.runtime import resolve_device

    from pathlib import Path

    check_out_dir(out if out is not None else Path(run_dir) / "export" / fmt)
    path = export_run(run_dir, fmt, out, device=str(resolve_device(device)), progress=progress)
    click.echo(f"wrote {path}")


@click.command("report")
@click.argument("run_dirs", nargs=-1, required=True, type=click.Path(file_okay=False))
@click.option("--out", type=click.Path(file_okay=False),
              help="Output folder of the batch report (default: a single run's own folder).")
@click.option("--label", "labels", multiple=True, help="Row label per run (repeat, in RUN_DIR order).")
@click.option("--panels", type=click.IntRange(min=0), default=8, show_default=True,
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
        check_out_dir(out, writes="zs-report" if len(run_dirs) > 1 else None)
    if len(run_dirs) == 1:
        paths = write_report(run_dirs[0], out, panels=panels)
        click.echo(f"wrote {paths['md']} and {paths['html']}")
        return
    if out is None:
        raise ConfigError("--out DIR is required with several RUN_DIRs")
    summary = batch_report(list(run_dirs), out, labels=list(labels) or None, panels=panels)
    click.echo(summary["table_text"])
    click.echo(f"wrote {Path(out) / 'report.html'} (and report.md, summary.json)")


commands: list = [report, export_cmd]
