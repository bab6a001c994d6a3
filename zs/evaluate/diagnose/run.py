"""``diagnose(cfg) -> Path``: synthetic unseen features vs real validation features of a store.

Writes ``OUT/diagnostics.json`` (every figure, provenance), ``OUT/*.png`` and
``OUT/manifest.json``. Pass ``RUN_DIR/diagnostics`` as ``out`` and
``zs report RUN_DIR`` includes them.
"""

from __future__ import annotations

import dataclasses
import logging
import math
from pathlib import Path

import numpy as np

from zs.errors import ConfigError
from zs.evaluate.diagnose.compute import FeatureSets, compute_diagnostics
from zs.evaluate.diagnose.data import load_real_features, sample_synthetic
from zs.manifest import make_manifest, write_json_atomic

log = logging.getLogger(__name__)

DIAGNOSTICS_JSON = "diagnostics.json"


@dataclasses.dataclass
class DiagnoseConfig:
    store: str
    generator: str
    out: str
    head: str | None = None
    split: str = "val"
    per_class: int = 200  # synthetic samples per unseen class
    k: int = 10  # kNN agreement (with k = 1) and hubness
    max_real_per_class: int | None = None  # cap on real features per class (None: all matched queries)
    max_real_mmd: int = 1000  # real features per class entering the O(n^2) MMD
    embedding: str = "pca"  # "pca" | "tsne" for the scatter plot
    plot_points: int = 200  # points per class and kind in the scatter plot
    plots: bool = True
    seed: int = 0
    device: str = "auto"
    progress: bool = False

    def validate(self) -> None:
        if self.per_class <= 0:
            raise ConfigError(f"per_class={self.per_class}: must be > 0")
        if self.k <= 0:
            raise ConfigError(f"k={self.k}: must be > 0")
        if self.max_real_mmd < 2:
            raise ConfigError(f"max_real_mmd={self.max_real_mmd}: must be >= 2")
        if self.max_real_per_class is not None and self.max_real_per_class <= 0:
            raise ConfigError(f"max_real_per_class={self.max_real_per_class}: must be > 0")
        if self.embedding not in ("pca", "tsne"):
            raise ConfigError(f"embedding '{self.embedding}': expected pca or tsne")


def diagnose(cfg: DiagnoseConfig) -> Path:
    """Load the store, the generator (checked against the store) and optional head; write the diagnostics."""
    from zs.generate import check_generator_fits, load_generator
    from zs.generate.artifact import generator_manifest
    from zs.runtime import resolve_device, seed_everything
    from zs.store import open_store

    from zs.paths import check_out_dir
    from zs.store.finite import require_finite

    cfg.validate()
    check_out_dir(cfg.out, writes="zs-diagnostics")
    seed_everything(cfg.seed)
    device = resolve_device(cfg.device)
    store = open_store(cfg.store)
    if cfg.split in store.splits:
        require_finite(store.split(cfg.split), ("query_embed",), stage="diagnose")
    check_generator_fits(cfg.generator, store)
    gen_manifest = generator_manifest(cfg.generator)
    generator = load_generator(cfg.generator, device)
    head = _load_head(cfg.head, store, device) if cfg.head else None
    provenance = {
        "store": {"url": str(store.url), "sha256": store.sha256, "split": cfg.split},
        "generator": {"path": str(Path(cfg.generator).resolve()), "manifest": gen_manifest,
                      "same_store": gen_manifest.get("store_sha256") in (None, "", store.sha256)},
        "head": {"path": str(Path(cfg.head).resolve())} if cfg.head else None,
    }
    return diagnose_with(store, generator, cfg, provenance=provenance, head=head, device=device)


def _load_head(path: str, store, device):
    from zs.heads import check_head_fits, load_head

    head = load_head(path)
    check_head_fits(head, store.identity, where=f"store {store.url}")
    return head.to(device)


def diagnose_with(store, generator, cfg: DiagnoseConfig, *, provenance: dict | None = None, head=None,
                  device="cpu") -> Path:
    """The work of :func:`diagnose` with any object having ``sample(class_ids, n, generator=)``."""
    vocab = store.vocab
    real, real_labels = load_real_features(store, cfg.split, max_per_class=cfg.max_real_per_class,
                                           seed=cfg.seed, progress=cfg.progress)
    syn, syn_labels = sample_synthetic(generator, vocab.unseen_indices, cfg.per_class, seed=cfg.seed, device=device)
    fs = FeatureSets(real, real_labels, syn, syn_labels)
    faiss_device = str(device)  # "cpu" | "cuda" | "cuda:N": FAISS GPU index when faiss-gpu is installed
    semantic = getattr(generator, "semantic", None)  # [K, Dt]: the text embeddings the generator was trained on
    text = semantic.detach().float().cpu().numpy() if semantic is not None else None
    diag = compute_diagnostics(fs, vocab, k=cfg.k, device=faiss_device, max_real_mmd=cfg.max_real_mmd,
                               seed=cfg.seed, head=head, text=text)
    out = Path(cfg.out)
    out.mkdir(parents=True, exist_ok=True)
    pngs = write_plots(out, fs, diag, vocab, cfg) if cfg.plots else []
    diag["plots"] = pngs
    diag["config"] = dataclasses.asdict(cfg)
    diag["provenance"] = provenance or {"store": {"url": str(store.url), "sha256": store.sha256}}
    write_json_atomic(out / DIAGNOSTICS_JSON, nan_to_none(diag))
    inputs = {"store": {"path": str(store.url), "sha256": store.sha256}}
    if provenance and provenance.get("generator"):
        inputs["generator"] = {"path": provenance["generator"]["path"],
                               "manifest": provenance["generator"]["manifest"]}
    write_json_atomic(out / "manifest.json", make_manifest("zs-diagnostics", config=cfg, inputs=inputs,
                                                           seed=cfg.seed))
    log.info("diagnostics written to %s", out)
    return out


def write_plots(out: Path, fs: FeatureSets, diag: dict, vocab, cfg: DiagnoseConfig) -> list[str]:
    """scatter (PCA/t-SNE), centre-distance heat map and per-class bars as PNGs in ``out``."""
    from zs.evaluate.diagnose import plots

    unseen = [vocab.names.index(n) for n in diag["centres"]["synthetic_labels"]]
    files = {
        f"features_{cfg.embedding}.png": plots.scatter_png(
            fs.real, fs.real_labels, fs.syn, fs.syn_labels, vocab.names, unseen, vocab.seen_indices,
            method=cfg.embedding, seed=cfg.seed, max_points=cfg.plot_points),
        "centre_distances.png": _heatmap(diag, fs, vocab, unseen),
        "per_class.png": plots.per_class_bars_png(
            [vocab.names[c] for c in unseen],
            {key: [diag["per_class"][vocab.names[c]].get(key) for c in unseen]
             for key in ("agreement@1", f"agreement@{cfg.k}", "prototype_acc_unseen", "prototype_acc_with_seen")}),
    }
    for name, data in files.items():
        tmp = out / f".{name}.tmp"
        tmp.write_bytes(data)
        tmp.replace(out / name)
    return sorted(files)


def _heatmap(diag: dict, fs: FeatureSets, vocab, unseen: list[int]) -> bytes:
    """Synthetic unseen centres vs real centres of the unseen classes and their nearest seen classes."""
    from zs.evaluate.diagnose import plots

    c = diag["centres"]
    neighbours = plots.nearest_seen_classes(fs.real, fs.real_labels, unseen, vocab.seen_indices, fs.syn,
                                            fs.syn_labels)
    cols = list(range(len(unseen))) + [c["real_labels"].index(vocab.names[s]) for s in neighbours]
    matrix = np.asarray(c["synthetic_vs_real"], float)[:, cols]  # [U, U + S']
    labels = [f"real {c['real_labels'][j]}" for j in cols]
    return plots.centre_heatmap_png(matrix, [f"synthetic {n}" for n in c["synthetic_labels"]], labels,
                                    "class-centre distances: synthetic unseen vs real")


def nan_to_none(obj):
    """NaN/inf floats -> None, numpy arrays -> lists, recursively (strict JSON)."""
    if isinstance(obj, dict):
        return {k: nan_to_none(v) for k, v in obj.items()}
    if isinstance(obj, (list, tuple)):
        return [nan_to_none(v) for v in obj]
    if isinstance(obj, np.ndarray):
        return nan_to_none(obj.tolist())
    if isinstance(obj, (float, np.floating)):
        return float(obj) if math.isfinite(obj) else None
    if isinstance(obj, np.integer):
        return int(obj)
    return obj
