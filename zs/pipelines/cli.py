"""click commands of zs.pipelines: `zs run`, `zs demo` (parsing only)."""

from __future__ import annotations

import click

from zs.errors import ConfigError

_STATUS = {"ran": "ran", "cached": "cached", "disabled": "skipped", "failed": "FAILED", "blocked": "blocked",
           "planned": "planned"}


def _parse_set(values: tuple[str, ...]) -> dict:
    out = {}
    for item in values:
        if "=" not in item:
            raise ConfigError(f"--set {item}: expected key=value")
        k, v = item.split("=", 1)
        out[k.strip()] = v
    return out


def _parse_grid(values: tuple[str, ...]) -> dict:
    out = {}
    for item in values:
        if "=" not in item:
            raise ConfigError(f"--grid {item}: expected AXIS=V1,V2,...")
        k, v = item.split("=", 1)
        out[k.strip()] = [x.strip() for x in v.split(",") if x.strip()]
    return out


def _execute(cfg) -> None:
    from zs.pipelines.run import run

    def show(rep):
        extra = f" ({rep.seconds:.1f}s)" if rep.status == "ran" else ""
        err = f": {rep.error}" if rep.error else ""
        click.echo(f"  [{_STATUS.get(rep.status, rep.status):>7}] {rep.name}{extra}{err}", err=True)

    result = run(cfg, on_stage=None if cfg.dry_run else show)
    if cfg.dry_run:
        for name, rep in result.reports.items():
            click.echo(f"{name}\t{rep.dir or '-'}")
        return
    summary = result.out / "summary.txt"
    if summary.is_file():
        click.echo(summary.read_text())
    report = result.out / "report" / "report.html"
    if report.is_file():
        click.echo(f"report: {report}")
    click.echo(f"outputs: {result.out}")
    if not result.ok:
        names = ", ".join(r.name for r in result.failures())
        click.echo(f"error: {len(result.failures())} stage(s) did not finish: {names}", err=True)
        raise SystemExit(1)


_common = [
    click.option("--out", type=click.Path(file_okay=False), default=None,
                 help="Output directory (default ./zs-runs/<spec name>; `zs demo`: ./zs-demo)."),
    click.option("--set", "sets", multiple=True, metavar="KEY=VALUE", help="Override a spec var (repeatable)."),
    click.option("--grid", "grids", multiple=True, metavar="AXIS=V1,V2",
                 help="Replace a grid axis: pick presets (`method=pading,gmmn`) or set values (`seed=0,1,2`); "
                      "a var not in the grid becomes a new axis (repeatable)."),
    click.option("--force", multiple=True, metavar="STAGE", help="Re-run this stage even if cached (repeatable)."),
    click.option("--dask-workers", type=click.IntRange(min=0), default=0, show_default=True,
                 help="Run grid variants in parallel on a local dask cluster with N worker processes."),
    click.option("--dask-scheduler", default=None, metavar="ADDRESS", help="Use an existing dask scheduler."),
    click.option("--device", default="auto", show_default=True, help="cpu, cuda, cuda:N or auto."),
    click.option("--dry-run", is_flag=True, help="Validate and print the stage plan without running."),
]


def _with_common(f):
    for opt in reversed(_common):
        f = opt(f)
    return f


@click.command("run")
@click.argument("spec", required=False)
@click.option("--list", "list_", is_flag=True, help="List the built-in specs.")
@_with_common
def run_cmd(spec, list_, out, sets, grids, force, dask_workers, dask_scheduler, device, dry_run):
    """Run a pipeline SPEC (a built-in name such as `demo`, or a YAML file).

    Stages are cached by content: re-running an unchanged spec does nothing,
    changing a parameter re-runs only that stage and what depends on it, and
    an interrupted run resumes from the last finished stage.
    """
    from zs.pipelines.run import RunConfig, list_specs

    if list_:
        for name, desc in list_specs().items():
            click.echo(f"{name:14s} {desc}")
        return
    if not spec:
        raise click.UsageError("give a SPEC (see `zs run --list`)")
    _execute(RunConfig(spec, out, _parse_set(sets), _parse_grid(grids), tuple(force), dask_workers,
                       dask_scheduler, device, dry_run=dry_run))


@click.command("demo")
@_with_common
def demo_cmd(out, sets, grids, force, dask_workers, dask_scheduler, device, dry_run):
    """The whole method on the built-in synthetic world (= `zs run demo`).

    Synthetic world -> shipped tiny segmenter -> extract -> a grid of methods
    (seen-only, projection, GMMN, primitive, PADing, semantic-centric) ->
    cached evaluation, full-image check of the best -> diagnostics -> report.
    """
    from zs.pipelines.run import RunConfig

    _execute(RunConfig("demo", out or "zs-demo", _parse_set(sets), _parse_grid(grids), tuple(force), dask_workers,
                       dask_scheduler, device, dry_run=dry_run))


commands = [run_cmd, demo_cmd]
