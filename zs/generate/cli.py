"""click commands of zs.generate (parsing only; the work is done by zs.generate functions).

No torch import at module import time: the library is imported inside the commands.
"""

from __future__ import annotations

import click
from click.core import ParameterSource

from zs.generate.config import PRESETS


def _tri(name: str, help_: str):
    """A --x/--no-x flag that stays None (per-kind default) when not given."""
    return click.option(f"--{name}/--no-{name}", default=None, help=help_ + " [default: per kind]")


@click.command("fit-generator")
@click.option("--store", required=True, help="Feature store (path or URL).")
@click.option("--out", required=True, type=click.Path(file_okay=False), help="Generator directory to write.")
@click.option("--preset", type=click.Choice(sorted(PRESETS)), default=None,
              help="PADing's protocol as its released configs set it (iterations, structure weight, dropouts, "
                   "generator LR schedule, class weights, synthetic unseen per classifier step, generator CE "
                   "logits; table in docs/generate.md). Options given explicitly override it.")
@click.option("--split", default="train", show_default=True, help="Store split with the seen training features.")
@click.option("--allow-unseen-in-train", is_flag=True,
              help="Train even if the split has queries matched to unseen classes (transductive experiments).")
@click.option("--kind", type=click.Choice(["gmmn", "primitive", "vae"]), default="primitive", show_default=True,
              help="Generator: PADing's primitive generator, a plain GMMN, or a VAE.")
@click.option("--schedule", type=click.Choice(["pading", "two-stage"]), default="pading", show_default=True,
              help="pading: generator + classifier steps alternate (writes OUT/head); two-stage: generator only.")
@click.option("--iterations", type=click.IntRange(min=1), default=20000, show_default=True,
              help="Training iterations (PADing: 20000).")
@click.option("--batch-images", type=int, default=12, show_default=True, help="Images per iteration (image batches).")
@click.option("--batch-size", type=click.IntRange(min=1), default=128, show_default=True,
              help="Matched features per step (two-stage without diversity).")
@click.option("--text", "text_name", default=None, help="Store text embeddings name [default: default].")
@click.option("--lr", type=click.FloatRange(min=0, min_open=True), default=5e-4, show_default=True, help="Adam lr of the generator side.")
@click.option("--lr-schedule", type=click.Choice(["multistep", "poly", "constant"]), default="multistep",
              show_default=True, help="Generator-side Adam LR schedule: multistep x0.1 at 70% and 92.5% of the "
                                      "iterations, poly (power 0.9), constant. The classifier SGD keeps 1e-3.")
@click.option("--unrelated-kl", type=click.Choice(["released", "gaussian"]), default="released", show_default=True,
              help="L_U. released: PADing's code, softmax-KL (T 0.1) of E_U(fake) towards a fresh N(0, I) draw. "
                   "gaussian: a departure from PADing, KL of the batch moments of E_U(fake) to N(0, 1).")
@click.option("--gen-dropout", type=click.FloatRange(0, 1, max_open=True), default=0.1, show_default=True,
              help="Primitive generator dropout (TRANS_DROP_RATE).")
@click.option("--disentangle-dropout", type=click.FloatRange(0, 1, max_open=True), default=0.1, show_default=True,
              help="E_R / E_U / decoder dropout (DROP_OUT_ED).")
@click.option("--unseen-class-weight", type=click.FloatRange(min=0), default=5.0, show_default=True,
              help="Classifier CE weight of unseen classes (CLASS_ECO); seen 1.")
@click.option("--no-object-weight", type=float, default=0.1, show_default=True, help="Classifier CE no-object weight.")
@click.option("--num-choose", type=click.IntRange(min=1), default=5, show_default=True,
              help="Unseen classes x 1 synthetic feature per classifier step (NUM_CHOOSE).")
@click.option("--gen-ce-logits", type=click.Choice(["all", "seen"]), default="all", show_default=True,
              help="Logits the generator's 0.001 CE sees: all K+1, or the seen classes only.")
@click.option("--relation-classes", type=click.Choice(["all", "seen"]), default="all", show_default=True,
              help="Class vectors the relation network scores fake seen features against (L_R).")
@_tri("alignment", "PADing relationship alignment (Eq. 6).")
@_tri("disentangle", "PADing feature disentanglement (Eqs. 3-5).")
@_tri("diversity", "Semantic-centric G2V contrastive diversity (Eq. 7).")
@_tri("gv2s", "Semantic-centric GV2S focal alignment through --projector.")
@click.option("--projector", default=None, help="Frozen zs projector head (zs adapt --method v2c) for GV2S.")
@click.option("--num-primitives", type=click.IntRange(min=1), default=400, show_default=True,
              help="Primitives of the primitive generator (PADing: 400).")
@click.option("--num-layers", type=int, default=3, show_default=True, help="Primitive generator decoder layers.")
@click.option("--noise/--no-noise", default=True, show_default=True, help="Noise inside the primitive generator.")
@click.option("--structure-weight", type=click.FloatRange(min=0), default=1e-4, show_default=True,
              help="w of the structure losses: 1e-4 panoptic, 1e-3 semantic/instance.")
@click.option("--cls-weight", type=float, default=None, help="Weight of CE(classifier(fake seen)) [0.001; vae 0].")
@click.option("--lambda-s", type=float, default=1.0, show_default=True, help="G2V weight (SC Eq. 8).")
@click.option("--lambda-v", type=float, default=1.0, show_default=True, help="GV2S weight (SC Eq. 8).")
@click.option("--query-dim", type=int, default=0, help="Expected query dim (checked against the store).")
@click.option("--text-dim", type=int, default=0, help="Expected text dim (checked against the store).")
@click.option("--checkpoint-every", type=click.IntRange(min=1), default=1000, show_default=True,
              help="Write GEN/checkpoint.pt every N iterations (--resume continues from it).")
@click.option("--resume", is_flag=True, help="Continue an interrupted run in OUT from its checkpoint.")
@click.option("--stop-after", type=click.IntRange(min=1), default=None, help="Stop after N iterations (checkpoint kept; --resume later).")
@click.option("--seed", type=int, default=0, show_default=True)
@click.option("--device", default="auto", show_default=True, help="auto | cpu | cuda | cuda:N")
@click.option("--progress/--no-progress", default=True, show_default=True)
@click.option("--threads", type=click.IntRange(min=0), default=0, show_default=True,
              help="torch CPU threads (0: torch's default). On a shared 2-core box 1 was ~5x faster than 2.")
def fit_generator_cmd(**kw) -> None:
    """Train a feature generator (GMMN, PADing primitive, semantic-centric VAE) on a store.

    Examples (PADing Table 1 rows 3-6 / Table 3; semantic-centric Table 6):

    \b
      zs fit-generator --store S --out G --kind gmmn --no-alignment --no-disentangle
      zs fit-generator --store S --out G --kind primitive --no-alignment --no-disentangle
      zs fit-generator --store S --out G --kind primitive --alignment --no-disentangle
      zs fit-generator --store S --out G                      # PADing (P + A + D)
      zs fit-generator --store S --out G --preset pading-semantic   # PADing's COCO-Stuff recipe
      zs fit-generator --store S --out G --num-primitives 100
      zs fit-generator --store S --out G --kind vae --schedule two-stage --projector P
    """
    import dataclasses

    from zs.generate.config import FitConfig, GeneratorConfig, fit_config
    from zs.generate.train import fit_generator

    threads = kw.pop("threads")
    if threads:
        import torch

        torch.set_num_threads(threads)
    preset = kw.pop("preset")
    if preset:  # the preset's values, unless the option was given explicitly
        ctx = click.get_current_context()
        kw = {k: v for k, v in kw.items()
              if k not in PRESETS[preset] or ctx.get_parameter_source(k) is not ParameterSource.DEFAULT}
    arch = {k: kw.pop(k) for k in ("num_primitives", "num_layers", "noise")}
    stop_after = kw.pop("stop_after")
    known = {f.name for f in dataclasses.fields(FitConfig)} | {"gen_dropout"}
    cfg = fit_config(preset, **{k: v for k, v in kw.items() if k in known}, generator=GeneratorConfig(**arch))
    out = fit_generator(cfg, stop_after=stop_after)
    from zs.generate.artifact import is_generator_dir

    if is_generator_dir(out):
        click.echo(f"wrote {out}")
    else:  # stopped early (--stop-after): only the checkpoint
        click.echo(f"stopped early; wrote {out}/checkpoint.pt (continue with --resume)")


@click.command("sample")
@click.option("--generator", "generator", required=True, type=click.Path(exists=True, file_okay=False),
              help="Generator directory (zs fit-generator).")
@click.option("--classes", default="unseen", show_default=True,
              help="unseen | seen | all | comma-separated dataset category ids")
@click.option("--per-class", type=click.IntRange(min=1), default=100, show_default=True,
              help="Synthetic features per class.")
@click.option("--out", required=True, type=click.Path(dir_okay=False), help="Output .npz (features, labels).")
@click.option("--seed", type=int, default=0, show_default=True)
@click.option("--device", default="auto", show_default=True)
def sample_cmd(generator, classes, per_class, out, seed, device) -> None:
    """Write synthetic features of a generator to an .npz (features [M*N, D], labels, category_ids)."""
    from zs.generate.sample import sample_to_file

    click.echo(f"wrote {sample_to_file(generator, classes, per_class, out, seed=seed, device=device)}")


commands: list = [fit_generator_cmd, sample_cmd]
