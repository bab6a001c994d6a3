"""The stage types a pipeline spec can use; each calls one function of its stage.

Every function has the signature ``fn(params, inputs, out_dir, ctx) -> result``;
``inputs[role]`` is ``{"dir": ..., **upstream result}`` (or None / a list),
and the returned dict is recorded in the stage's ``stage.json`` and handed to
the stages that take this one as input.
"""

from __future__ import annotations

import os
import shutil
from pathlib import Path

from zs.errors import ConfigError
from zs.pipelines.runner import REQUIRED, RunContext, StageType

I, F, S, B, L = (int,), (int, float), (str,), (bool,), (list,)


def _device(params: dict, ctx: RunContext) -> str:
    return params.get("device") or ctx.device


def _path(value) -> str | None:
    return None if value is None else os.path.abspath(os.path.expanduser(str(value)))


def _store_of(inp: dict | None) -> str:
    if not inp:
        raise ConfigError("this stage needs a store input")
    return inp.get("store") or inp["dir"]


# --------------------------------------------------------------------------- synth
def run_synth(params, inputs, out: Path, ctx):
    from zs.synth.dataset import SynthConfig, default_world_args, write_synth

    args = {**default_world_args(), **{k: params[k] for k in ("seed", "train", "val", "size") if k in params}}
    data = write_synth(out / "world", SynthConfig(**args), progress=ctx.progress)
    return {"data": str(data)}


# --------------------------------------------------------------------------- convert
def run_convert(params, inputs, out: Path, ctx):
    from zs.extract.d2 import convert_checkpoint

    res = convert_checkpoint(_path(params["config"]), _path(params["checkpoint"]), out / "segmenter",
                             overwrite=True)
    return {"segmenter": str(res.out_dir), **({"head": str(res.head_dir)} if res.head_dir else {})}


# --------------------------------------------------------------------------- extract + text-embed
def _split_paths(data: str, split: str) -> dict:
    from zs.extract.datasets import dataset_files

    return dict(zip(("images", "json", "png"), (str(p) for p in dataset_files(data, split))))


def _segmenter(params, inputs=None) -> str:
    converted = ((inputs or {}).get("segmenter") or {}).get("segmenter")
    if converted:
        return converted
    if params.get("segmenter") in (None, "none"):
        raise ConfigError("no segmenter: set 'segmenter' to a model directory (or give a detectron2 checkpoint)")
    if params.get("segmenter") == "builtin":
        from zs.synth.assets import default_segmenter_path

        return str(default_segmenter_path())
    return _path(params["segmenter"])


def _clip(params) -> tuple[str | None, str | None]:
    model = params.get("clip_model")
    if model in (None, "none"):
        return None, None
    if model == "builtin":
        from zs.synth.assets import default_clip_paths

        cfg, weights = default_clip_paths()
        return str(cfg), str(weights)
    return model, _path(params.get("clip_weights"))


def run_extract(params, inputs, out: Path, ctx):
    from zs.extract.job import ExtractConfig
    from zs.extract.run import release_device_models, run as extract

    data = (inputs.get("data") or {}).get("data") or _path(params.get("data"))
    store = str(out / "store")
    clip_model, clip_weights = _clip(params)
    vocab = params.get("vocab") or (str(Path(data) / "vocab.json") if data and (Path(data) / "vocab.json").is_file()
                                    else None)
    failures = []
    try:  # the splits share the cached models
        for split in params["splits"]:
            if params.get(f"{split}_json"):
                paths = {k: _path(params.get(f"{split}_{k}")) for k in ("images", "json", "png")}
            elif data:
                paths = _split_paths(data, split)
            else:
                raise ConfigError(f"extract: no data for split '{split}' (a 'data' input, or "
                                  f"{split}_images/_json/_png)")
            cfg = ExtractConfig(split=split, store=store, segmenter=_segmenter(params, inputs), vocab=_path(vocab),
                                unseen=_path(params.get("unseen")), clip_model=clip_model, clip_weights=clip_weights,
                                views=params["views"] if split == "train" else 1, batch_size=params["batch_size"],
                                device=_device(params, ctx), seed=params["seed"], limit=params.get("limit"),
                                progress=ctx.progress, **paths)
            res = extract(cfg)
            failures += res.failures
    finally:  # the stages after this one get the GPU memory back
        release_device_models()
    if failures:
        raise ConfigError(f"extract: {len(failures)} image(s) failed (see the store's failures table); "
                          f"re-run to retry them")
    return {"store": store, "data": data}


def run_text_embed(params, inputs, out: Path, ctx):
    from zs.extract.text import embed_store_text

    store_url = _store_of(inputs["store"])
    if params["source"] == "semantic":
        data = (inputs.get("data") or {}).get("data") or inputs["store"].get("data")
        semantic = _path(params.get("semantic")) or str(Path(data) / "semantic.npy")
        embed_store_text(store_url, name=params["name"], semantic=semantic)
    else:
        model, weights = _clip(params)
        embed_store_text(store_url, name=params["name"], clip_model=model, clip_weights=weights,
                         device=_device(params, ctx))
    return {"store": store_url, "data": inputs["store"].get("data")}


# --------------------------------------------------------------------------- generate / adapt
_FIT_KEYS = ("kind", "schedule", "iterations", "batch_images", "batch_size", "seed", "alignment", "disentangle",
             "diversity", "gv2s", "structure_weight", "lr", "allow_unseen_in_train")
# values of the stage without a preset, where the preset would set them (None in the stage params)
_FIT_NO_PRESET = {"schedule": "two-stage", "iterations": 2000, "batch_images": 12, "structure_weight": 1e-4}


def run_fit_generator(params, inputs, out: Path, ctx):
    from zs.generate.config import GeneratorConfig, fit_config
    from zs.generate.train import fit_generator

    kw = {k: params[k] for k in _FIT_KEYS if params.get(k) is not None}  # explicit values win over the preset
    if not params.get("preset"):
        kw = {**_FIT_NO_PRESET, **kw}
    gen = GeneratorConfig(noise=params["noise"], num_primitives=params["num_primitives"])
    projector = (inputs.get("projector") or {}).get("head")
    cfg = fit_config(params.get("preset"), store=_store_of(inputs["store"]), out=str(out / "generator"),
                     device=_device(params, ctx), projector=projector, progress=ctx.progress, resume=True,
                     generator=gen, **kw)
    path = fit_generator(cfg)
    head = path / "head"
    return {"generator": str(path), **({"head": str(head)} if head.is_dir() else {})}


def run_adapt(params, inputs, out: Path, ctx):
    from zs.adapt import adapt
    from zs.adapt.config import AdaptConfig

    generator = (inputs.get("generator") or {}).get("generator")
    if params["method"] == "generator-head":  # the classifier trained alongside the generator (PADing schedule)
        head = (inputs.get("generator") or {}).get("head")
        if not head:
            raise ConfigError("adapt method 'generator-head' needs a generator fitted with schedule 'pading'")
        shutil.copytree(head, out / "head", dirs_exist_ok=True)
        return {"head": str(out / "head"), "method": "pading"}
    init = (inputs.get("init_head") or {}).get("head")
    cfg = AdaptConfig(store=_store_of(inputs["store"]), method=params["method"], out=str(out / "head"),
                      generator=generator, init_head=init, device=_device(params, ctx), seed=params["seed"],
                      steps=params.get("steps"), gamma=params.get("gamma"), progress=ctx.progress,
                      allow_unseen_in_train=params["allow_unseen_in_train"])
    if params.get("fit_scale") is not None:
        cfg.fit_scale = params["fit_scale"]
    for flag in ("v2s", "v2t", "instance"):
        if params.get(flag) is not None:
            setattr(cfg.projector, flag, params[flag])
    path = adapt(cfg)
    return {"head": str(path), "method": params["method"]}


# --------------------------------------------------------------------------- evaluate / diagnose / report
_PICK_BY = (("panoptic", "pq"), ("semantic", "miou"), ("instance", "ap50"))


def _best_run(runs: list[dict]) -> dict:
    from zs.manifest import read_json

    def score(run):  # harmonic mean, then all classes, of the first task evaluated: PQ, mIoU or AP50
        metrics = read_json(Path(run["run"]) / "metrics.json")
        task, key = next(((t, k) for t, k in _PICK_BY if t in metrics), ("panoptic", "pq"))
        m = metrics.get(task, {})
        return ((m.get("hm") or {}).get(key) or 0.0, (m.get("all") or {}).get(key) or 0.0)

    return max(runs, key=score)


def run_evaluate(params, inputs, out: Path, ctx):
    from zs.evaluate.run import EvaluateConfig, evaluate

    from zs.evaluate.evaluation.streaming import InferenceConfig

    tasks = tuple(params["tasks"])
    infer = InferenceConfig(exact=bool(params["exact"]))
    if params["full_image"]:
        cand = inputs.get("candidates") or []
        best = _best_run(cand) if cand else None
        head = best["head"] if best else (inputs.get("head") or {}).get("head")
        from zs.store import open_store

        store = open_store(_store_of(inputs["store"]))
        val = store.manifest["dataset"]["val"]
        store.vocab.save(out / "vocab.json")
        cfg = EvaluateConfig(head=head, out=str(out / "run"), full_image=True, segmenter=_segmenter(params, inputs),
                             images=val["images"], json=val["json"], png=val["png"], vocab=str(out / "vocab.json"),
                             tasks=tasks, limit=params.get("limit"), device=_device(params, ctx),
                             seed=params["seed"], progress=ctx.progress, infer=infer)
        evaluate(cfg)
        return {"run": str(out / "run"), "head": head, "picked": best["name"] if best else None}
    head = inputs["head"]["head"]
    cfg = EvaluateConfig(head=head, out=str(out / "run"), store=_store_of(inputs["store"]), tasks=tasks,
                         limit=params.get("limit"), device=_device(params, ctx), seed=params["seed"],
                         progress=ctx.progress, infer=infer)
    evaluate(cfg)
    return {"run": str(out / "run"), "head": head}


def run_diagnose(params, inputs, out: Path, ctx):
    from zs.evaluate.diagnose.run import DiagnoseConfig, diagnose

    head = (inputs.get("head") or {}).get("head")
    cfg = DiagnoseConfig(store=_store_of(inputs["store"]), generator=inputs["generator"]["generator"], head=head,
                         out=str(out / "diagnostics"), per_class=params["per_class"], seed=params["seed"],
                         device=_device(params, ctx))
    diagnose(cfg)
    return {"diagnostics": str(out / "diagnostics")}


def _label(run: dict) -> str:
    return run.get("label") or run["name"].split("@", 1)[-1]


def run_report(params, inputs, out: Path, ctx):
    from zs.evaluate.reports.report import batch_report

    runs = inputs.get("runs") or []
    diags = {d["name"].split("@", 1)[-1]: d["diagnostics"] for d in (inputs.get("diagnostics") or [])}
    run_dirs = []
    for r in runs:  # attach each variant's diagnostics to its run directory
        variant = r["name"].split("@", 1)[-1]
        if variant in diags:
            dst = Path(r["run"]) / "diagnostics"
            shutil.copytree(diags[variant], dst, dirs_exist_ok=True)  # overwrite: a re-run diagnose replaces it
            from zs.evaluate.reports.report import write_report

            write_report(r["run"])
        run_dirs.append(r["run"])
    labels = [_variant_label(r["name"], params["group_by"]) for r in runs]
    full = inputs.get("full")
    if full:
        run_dirs.append(full["run"])
        labels.append(f"full-image ({_variant_label(full['picked'], params['group_by'])})"
                      if full.get("picked") else "full-image")
    summary = batch_report(run_dirs, out / "report", labels=labels)
    text = summary.get("table_text", "")
    (out / "summary.txt").write_text(text + "\n")
    root = Path(ctx.out)
    shutil.copytree(out / "report", root / "report", dirs_exist_ok=True)
    (root / "summary.txt").write_text(text + "\n")
    return {"report": str(out / "report")}


def _variant_label(name: str, group_by: list) -> str:
    """'eval@method=gmmn,seed=1' -> 'gmmn' when grouping by method (seeds pooled).

    Axes other than ``group_by`` and ``seed`` (e.g. one added with ``--grid``) stay in the
    label as ``axis=value``, so only runs that differ by seed share a row.
    """
    if "@" not in name:
        return name
    parts = dict(p.split("=", 1) for p in name.split("@", 1)[1].split(","))
    grouped = [parts[k] for k in group_by if k in parts]
    others = [f"{k}={v}" for k, v in parts.items() if k not in group_by and k != "seed"]
    return ", ".join(grouped + others) or name.split("@", 1)[1]


STAGE_TYPES: dict[str, StageType] = {
    "convert": StageType(run_convert, {"config": (S, REQUIRED), "checkpoint": (S, REQUIRED)}, {},
                         path_params=("config", "checkpoint"), resumable=False),
    "synth": StageType(run_synth, {"seed": (I, 0), "train": (I, None), "val": (I, None), "size": (I, None)}, {},
                       resumable=False),
    "extract": StageType(
        run_extract,
        {"splits": (L, ["train", "val"]), "segmenter": (S, "builtin"), "clip_model": (S, "builtin"),
         "clip_weights": (S, None), "vocab": (S, None), "unseen": (S, None), "data": (S, None),
         "train_images": (S, None), "train_json": (S, None), "train_png": (S, None),
         "val_images": (S, None), "val_json": (S, None), "val_png": (S, None),
         "views": (I, 1), "batch_size": (I, 8), "limit": (I, None), "seed": (I, 0), "device": (S, None)},
        {"data": False, "segmenter": False},
        path_params=("segmenter", "clip_weights", "vocab", "unseen", "train_json", "val_json"),
    ),
    "text-embed": StageType(
        run_text_embed,
        {"source": (S, "semantic"), "semantic": (S, None), "name": (S, "default"), "clip_model": (S, "builtin"),
         "clip_weights": (S, None), "device": (S, None)},
        {"store": True, "data": False}, path_params=("semantic", "clip_weights"),
    ),
    "fit-generator": StageType(
        run_fit_generator,
        {"kind": (S, REQUIRED), "preset": (S, None), "schedule": (S, None), "iterations": (I, None),
         "batch_images": (I, None), "batch_size": (I, 128), "seed": (I, 0), "alignment": (B, None),
         "disentangle": (B, None), "diversity": (B, None), "gv2s": (B, None), "structure_weight": (F, None),
         "lr": (F, 5e-4), "noise": (B, True), "num_primitives": (I, 400), "allow_unseen_in_train": (B, False),
         "device": (S, None)},
        {"store": True, "projector": False},
        # 2: PADing's recipe as released (classifier SGD unscheduled, released L_U), presets;
        # without a preset: schedule two-stage, 2000 iterations, batch 12, structure weight 1e-4
        version=2,
    ),
    "adapt": StageType(
        run_adapt,
        {"method": (S, REQUIRED), "steps": (I, None), "gamma": ((int, float, str), None), "seed": (I, 0),
         "v2s": (B, None), "v2t": (B, None), "instance": (B, None), "fit_scale": (B, None),
         "allow_unseen_in_train": (B, False), "device": (S, None)},
        {"store": True, "generator": False, "init_head": False},
        version=2,  # 2: projector heads fit their inference logit scale (zs.adapt.logit_scale)
    ),
    "evaluate": StageType(
        run_evaluate,
        {"tasks": (L, ["panoptic", "semantic", "instance"]), "full_image": (B, False), "segmenter": (S, "builtin"),
         "limit": (I, None), "seed": (I, 0), "device": (S, None), "exact": (B, False)},
        {"store": True, "head": False, "candidates": False, "segmenter": False}, path_params=("segmenter",),
        version=2,  # 2: fast post-processing by default ("exact": Mask2Former's as written)
    ),
    "diagnose": StageType(
        run_diagnose, {"per_class": (I, 200), "seed": (I, 0), "device": (S, None)},
        {"store": True, "generator": True, "head": False},
        version=2,  # 2: the transfer probe (text_ridge_* / oracle_* figures)
    ),
    "report": StageType(run_report, {"group_by": (L, ["method"])},
                        {"runs": True, "full": False, "diagnostics": False}, resumable=False),
}
