"""``zs diagnose``: FAISS diagnostics of synthetic unseen features (parsing only; no torch at import)."""

from __future__ import annotations

import click


@click.command("diagnose")
@click.option("--store", required=True, help="Feature store (path or URL) with a validation split.")
@click.option("--generator", required=True, type=click.Path(exists=True, file_okay=False), help="Generator directory (zs fit-generator).")
@click.option("--head", default=None, type=click.Path(exists=True, file_okay=False), help="Optional head directory: adds its accuracy on synthetic vs real unseen.")
@click.option("--out", required=True, type=click.Path(file_okay=False),
              help="Output directory (use RUN_DIR/diagnostics so `zs report RUN_DIR` includes it).")
@click.option("--split", default="val", show_default=True, help="Store split with the real matched queries.")
@click.option("--per-class", type=int, default=200, show_default=True, help="Synthetic samples per unseen class.")
@click.option("--k", type=int, default=10, show_default=True, help="k of the kNN agreement (also k=1) and hubness.")
@click.option("--max-real-per-class", type=int, default=None,
              help="Cap on real features per class [default: all matched queries].")
@click.option("--max-real-mmd", type=int, default=1000, show_default=True,
              help="Real features per class entering the MMD.")
@click.option("--embedding", type=click.Choice(["pca", "tsne"]), default="pca", show_default=True,
              help="2-D embedding of the scatter plot.")
@click.option("--plots/--no-plots", default=True, show_default=True, help="Write the PNGs.")
@click.option("--seed", type=int, default=0, show_default=True)
@click.option("--device", default="auto", show_default=True,
              help="auto | cpu | cuda | cuda:N (FAISS uses the GPU when faiss-gpu is installed).")
@click.option("--progress/--no-progress", default=True, show_default=True)
def diagnose_cmd(**kw) -> None:
    """Measure synthetic unseen features against the store's real validation features.

    Writes OUT/diagnostics.json (kNN agreement at k=1 and k, nearest-prototype
    accuracy with and without real seen prototypes, per-class MMD with the
    generator's kernel, class-centre distances, spread, hubness) and PNGs.

      zs diagnose --store S --generator G --out RUN/diagnostics
    """
    from zs.evaluate.diagnose.run import DiagnoseConfig, diagnose

    out = diagnose(DiagnoseConfig(**kw))
    import json

    summary = json.loads((out / "diagnostics.json").read_text())["summary"]
    for key, value in summary.items():
        click.echo(f"{key:32s} {'n/a' if value is None else f'{value:.4f}'}")
    click.echo(f"wrote {out / 'diagnostics.json'}")


commands: list = [diagnose_cmd]
