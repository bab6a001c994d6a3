"""``zs evaluate``: one entry point, cached or full-image, writing ``RUN_DIR/metrics.json``.

``RUN_DIR/metrics.json`` = ``{"provenance": {...}, "panoptic": {...}, "semantic": {...},
"instance": {...}, "unseen_confusion": {...}}`` (CONTRACTS "Reports"), plus
``RUN_DIR/manifest.json``; then ``zs.evaluate.reports.report.write_report(run_dir)``
when the report module is present. ``--save-predictions`` writes
``RUN_DIR/predictions/`` (COCO panoptic PNG + JSON, semantic PNGs, COCO results JSON).
"""

from __future__ import annotations

import dataclasses
import importlib.util
import logging
import time
from pathlib import Path

from zs import __version__
from zs.errors import ConfigError, ZsError
from zs.evaluate.evaluation.streaming import TASKS, InferenceConfig, parse_tasks
from zs.manifest import make_manifest, sha256_path, write_json_atomic

log = logging.getLogger(__name__)


@dataclasses.dataclass
class EvaluateConfig:
    head: str
    out: str
    store: str | None = None  # cached evaluation (default mode)
    split: str = "val"
    tasks: tuple[str, ...] = TASKS
    limit: int | None = None
    full_image: bool = False
    segmenter: str | None = None  # full-image only
    data: str | None = None  # full-image: a dataset directory ...
    images: str | None = None  # ... or explicit COCO panoptic paths
    json: str | None = None
    png: str | None = None
    vocab: str | None = None  # full-image: vocabulary file (default: DATA/vocab.json or the store's)
    gt_json: str | None = None  # cached: override the store manifest's GT paths
    gt_png: str | None = None
    device: str = "auto"
    seed: int = 0
    save_predictions: bool = False
    report: bool = True
    progress: bool = False
    workers: int = 1  # cached: CPU processes of one thread each
    infer: InferenceConfig = dataclasses.field(default_factory=InferenceConfig)


@dataclasses.dataclass
class EvaluateResult:
    run_dir: Path
    metrics: dict  # the content of metrics.json


def evaluate(cfg: EvaluateConfig) -> EvaluateResult:
    """Run cached or full-image evaluation and write the run directory."""
    from zs.paths import check_out_dir, no_empty_dirs_on_error

    check_out_dir(cfg.out, writes="zs-metrics")
    with no_empty_dirs_on_error(cfg.out):  # a refused run leaves no empty --out behind
        return _evaluate(cfg)


def _evaluate(cfg: EvaluateConfig) -> EvaluateResult:
    from zs.heads import load_head
    from zs.runtime import resolve_device, seed_everything

    cfg = dataclasses.replace(cfg, tasks=parse_tasks(cfg.tasks))
    _check_mode(cfg)
    seed_everything(cfg.seed)
    device = resolve_device(cfg.device)
    run_dir = Path(cfg.out)
    run_dir.mkdir(parents=True, exist_ok=True)
    pred_dir = run_dir / "predictions" if cfg.save_predictions else None
    t0 = time.perf_counter()
    head = load_head(cfg.head)
    if cfg.full_image:
        out, source = _run_full_image(cfg, head, device, pred_dir)
    else:
        out, source = _run_cached(cfg, head, device, pred_dir)
    timing = {**out["timing"], "total_seconds": time.perf_counter() - t0}
    provenance = _provenance(cfg, source, str(device), out["num_images"], timing)
    metrics = {"provenance": provenance, **out["metrics"]}
    write_json_atomic(run_dir / "metrics.json", metrics)
    write_json_atomic(run_dir / "manifest.json", make_manifest(
        "zs-metrics", config=cfg, inputs=provenance["inputs"], seed=cfg.seed, mode=provenance["mode"]))
    _write_report(run_dir, cfg.report)
    return EvaluateResult(run_dir, metrics)


def _check_mode(cfg: EvaluateConfig) -> None:
    if cfg.full_image:
        if not cfg.segmenter:
            raise ConfigError("--full-image needs --segmenter DIR")
    elif not cfg.store:
        raise ConfigError("cached evaluation needs --store S (or use --full-image --segmenter M --data DIR)")
    else:
        given = [f"--{k}" for k in ("segmenter", "data", "images", "json", "png") if getattr(cfg, k, None)]
        if given:
            raise ConfigError(f"{'/'.join(given)}: used by --full-image only; cached evaluation reads --store")
    if cfg.workers < 1:
        raise ConfigError(f"--workers {cfg.workers}: must be at least 1")
    if cfg.full_image and cfg.workers > 1:
        raise ConfigError(f"--workers {cfg.workers}: applies to cached evaluation (--full-image runs in one process)")
    if cfg.limit is not None and cfg.limit < 1:
        raise ConfigError(f"--limit {cfg.limit}: must be at least 1")


def _run_cached(cfg: EvaluateConfig, head, device, pred_dir) -> tuple[dict, dict]:
    from zs.evaluate.evaluation.cached import evaluate_cached
    from zs.store import open_store

    store = open_store(cfg.store, mode="r")
    if cfg.split in store.splits:
        from zs.store.finite import require_finite

        require_finite(store.split(cfg.split), ("query_embed",), stage="evaluate")
    out = evaluate_cached(store, head, tasks=cfg.tasks, limit=cfg.limit, split=cfg.split, device=device,
                          infer=cfg.infer, pred_dir=pred_dir, gt_json=cfg.gt_json, gt_png=cfg.gt_png,
                          workers=cfg.workers, progress=cfg.progress)
    seg = store.identity.segmenter
    source = {"store": {"url": str(store.url), "sha256": store.sha256, "split": cfg.split},
              "segmenter": {"path": seg.get("path"), "sha256": seg.get("sha256")},
              "dataset": (store.manifest.get("dataset") or {}).get(cfg.split)}
    return out, source


def _run_full_image(cfg: EvaluateConfig, head, device, pred_dir) -> tuple[dict, dict]:
    from zs.evaluate.evaluation.full_image import evaluate_full_image
    from zs.extract.datasets import CocoPanoptic, dataset_files
    from zs.extract.segmenter import load_segmenter

    images, json_path, png_dir = dataset_files(cfg.data, "val", images=cfg.images, json=cfg.json, png=cfg.png)
    dataset = CocoPanoptic(images, json_path, png_dir)
    vocab, vocab_source = _full_image_vocab(cfg)
    segmenter = load_segmenter(cfg.segmenter, device=device)
    out = evaluate_full_image(segmenter, head, dataset, vocab, tasks=cfg.tasks, limit=cfg.limit, device=device,
                              infer=cfg.infer, pred_dir=pred_dir, progress=cfg.progress)
    source = {"segmenter": {"path": segmenter.path, "sha256": segmenter.sha256},
              "vocabulary": {"source": vocab_source, "sha256": vocab.sha256},
              "dataset": {"images": str(images), "json": str(json_path), "png": str(png_dir),
                          "json_sha256": sha256_path(json_path)}}
    return out, source


def _full_image_vocab(cfg: EvaluateConfig):
    """--vocab FILE, else DATA/vocab.json, else the store's vocabulary."""
    from zs.vocab import Vocabulary

    if cfg.vocab:
        return Vocabulary.load(cfg.vocab), str(cfg.vocab)
    if cfg.data and (Path(cfg.data) / "vocab.json").is_file():
        return Vocabulary.load(Path(cfg.data) / "vocab.json"), str(Path(cfg.data) / "vocab.json")
    if cfg.store:
        from zs.store import open_store

        return open_store(cfg.store, mode="r").vocab, f"store {cfg.store}"
    raise ConfigError("--full-image needs the vocabulary: --vocab FILE, DATA/vocab.json, or --store S")


def _head_provenance(path: str) -> dict:
    """Head identity + its manifest (``zs.heads.head_manifest``); the generator it was fitted with, if any."""
    from zs.heads import head_manifest

    manifest = head_manifest(path, missing_ok=True)
    generator = (manifest.get("inputs") or {}).get("generator")
    return {"path": str(path), "sha256": sha256_path(path), "manifest": manifest, "generator": generator}


def _provenance(cfg: EvaluateConfig, source: dict, device: str, num_images: int, timing: dict) -> dict:
    head = _head_provenance(cfg.head)
    inputs = {"head": {"path": head["path"], "sha256": head["sha256"]}}
    if "store" in source:
        inputs["store"] = {"path": source["store"]["url"], "sha256": source["store"]["sha256"]}
    inputs["segmenter"] = source["segmenter"]
    return {"mode": "full-image" if cfg.full_image else "cached", **source, "head": head,
            "generator": head["generator"], "inputs": inputs, "tasks": list(cfg.tasks), "limit": cfg.limit,
            "num_images": num_images, "seed": cfg.seed, "head_seed": head["manifest"].get("seed"),
            "device": device, "thresholds": dataclasses.asdict(cfg.infer), "timing": timing,
            "zs_version": __version__}


def _write_report(run_dir: Path, enabled: bool) -> None:
    if not enabled or importlib.util.find_spec("zs.evaluate.reports.report") is None:
        return
    from zs.evaluate.reports.report import write_report

    try:
        write_report(run_dir)
    except ZsError as e:  # the metrics stand on their own; a report problem is logged, not fatal
        log.warning("report for %s not written: %s", run_dir, e)
