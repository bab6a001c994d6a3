"""click command ``zs export`` (parsing only; the work is done by zs.evaluate.export)."""

import click

FORMATS = ("coco-panoptic", "semantic", "coco-results", "fiftyone")


@click.command("export")
@click.argument("run_dirs", nargs=-1, required=True, type=click.Path(exists=True, file_okay=False))
@click.option("--format", "fmt", type=click.Choice(FORMATS), required=True,
              help="coco-panoptic (PNG + JSON), semantic (label PNGs), coco-results (RLE JSON), "
                   "fiftyone (a FiftyOne dataset; needs the fiftyone extra).")
@click.option("--out", type=click.Path(file_okay=False), default=None,
              help="Output folder (default RUN_DIR/export/FORMAT); fiftyone: the dataset name "
                   "(default zs-<first run's folder name>).")
@click.option("--device", default="cpu", show_default=True, help="cpu, cuda or cuda:N (when predictions are redone).")
@click.option("--progress/--no-progress", default=True, show_default=True, help="Show a progress bar.")
def export_cmd(run_dirs, fmt, out, device, progress):
    """A run's predictions in standard formats other tools open.

    The predictions are the run's own (RUN_DIR/predictions if `zs evaluate
    --save-predictions` wrote them, else the run's inference made again on the
    images it evaluated). `--format fiftyone` takes several RUN_DIRs: one
    dataset, a field per run; the other formats take one.
    """
    from zs.errors import ConfigError
    from zs.runtime import resolve_device

    device = str(resolve_device(device))
    if fmt == "fiftyone":
        from zs.evaluate.export_fiftyone import export_fiftyone

        name = export_fiftyone(list(run_dirs), name=out, device=device, progress=progress)
        click.echo(f"wrote FiftyOne dataset '{name}' (open it: fiftyone app launch {name})")
        return
    if len(run_dirs) != 1:
        raise ConfigError(f"--format {fmt} exports one RUN_DIR, got {len(run_dirs)}")
    from zs.evaluate.export import export_run

    path = export_run(run_dirs[0], fmt, out, device=device, progress=progress)
    click.echo(f"wrote {path}")


commands: list = [export_cmd]
