"""The ``zs`` command group.

Thin by design: each stage keeps its click commands in ``zs/<stage>/cli.py``
(parsing only, no torch at import); they call one function of their stage.
Bad input raises :class:`zs.errors.ZsError`, shown here as one line.
"""

from __future__ import annotations

import sys

import click

from zs import __version__


@click.group(context_settings={"help_option_names": ["-h", "--help"], "max_content_width": 100})
@click.version_option(__version__, prog_name="zs")
@click.option("--deterministic", is_flag=True,
              help="Deterministic algorithms (torch, cuDNN, cuBLAS) for every stage, dask workers included; "
                   "slower on CUDA. Same as ZS_DETERMINISTIC=1. Recorded in manifests.")
def cli(deterministic: bool) -> None:
    """zs: zero-shot segmentation research on a feature store.

    Run the frozen segmenter once (`zs extract`), then fit generators
    (`zs fit-generator`), refit heads (`zs adapt`), evaluate (`zs evaluate`)
    and diagnose (`zs diagnose`) from the store in seconds. `zs demo` runs the
    whole method on the built-in synthetic world.
    """
    if deterministic:  # the environment reaches dask workers and is read before CUDA starts
        import os

        os.environ["ZS_DETERMINISTIC"] = "1"
        os.environ.setdefault("CUBLAS_WORKSPACE_CONFIG", ":4096:8")


# Each module defines ``commands: list[click.Command]`` and imports no torch.
_CLI_MODULES = (
    "zs.store.cli",  # zs store info|verify
    "zs.synth.cli",  # zs synth, zs train-segmenter, zs train-clip
    "zs.extract.cli",  # zs extract, zs split, zs prepare, zs text-embed
    "zs.extract.convert_cli",  # zs convert-checkpoint
    "zs.generate.cli",  # zs fit-generator, zs sample
    "zs.adapt.cli",  # zs adapt
    "zs.evaluate.cli",  # zs evaluate, zs segment
    "zs.evaluate.metrics.cli",  # zs metrics panoptic|semantic|instance
    "zs.evaluate.diagnose.cli",  # zs diagnose
    "zs.evaluate.reports.cli",  # zs report, zs export
    "zs.pipelines.cli",  # zs run, zs demo
)


# help of options every stage shares, where a command does not word its own
_SHARED_HELP = {
    "--device": "auto (the first GPU, else the CPU), cpu, cuda or cuda:N.",
    "--seed": "Random seed (same seed, same result on the same device).",
    "--progress": "Show progress bars.",
}


def _register() -> None:
    import importlib

    for name in _CLI_MODULES:
        for cmd in importlib.import_module(name).commands:
            cli.add_command(cmd)
            for sub in getattr(cmd, "commands", {}).values() or [cmd]:
                for p in sub.params:
                    if isinstance(p, click.Option) and not p.help and p.opts[0] in _SHARED_HELP:
                        p.help = _SHARED_HELP[p.opts[0]]


_register()


def main(argv: list[str] | None = None) -> None:
    """Console-script entry point: ZsError or a usage error -> one 'error: ...' line and exit 2."""
    from zs.errors import ZsError

    try:
        cli.main(args=argv, prog_name="zs", standalone_mode=False)
    except ZsError as e:
        click.echo(f"error: {e}", err=True)
        sys.exit(2)
    except click.exceptions.Abort as e:
        if isinstance(e.__cause__, EOFError):  # click turns any EOFError into Abort: a file ended early, not ^C
            msg = f"an input file is empty or truncated ({str(e.__cause__) or 'EOFError'})"
            click.echo(f"error: {msg}", err=True)
            sys.exit(2)
        click.echo("aborted", err=True)
        sys.exit(130)
    except click.UsageError as e:  # bad option/argument: one line too, with where to look
        where = f" (see `{e.ctx.command_path} --help`)" if e.ctx is not None else ""
        click.echo(f"error: {e.format_message()}{where}", err=True)
        sys.exit(e.exit_code)
    except click.ClickException as e:
        e.show()
        sys.exit(e.exit_code)
    except click.exceptions.Exit as e:
        sys.exit(e.exit_code)


if __name__ == "__main__":
    main()
