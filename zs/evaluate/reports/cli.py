"""click command ``zs export`` (parsing only; the work is done by zs.evaluate.reports.export)."""

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


commands: list = [export_cmd]
