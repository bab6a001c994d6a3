"""Acceptance figures of a synthetic world + segmenter + text embeddings (``zs synth-criteria``).

Generator-free: nothing is fitted but the text -> centre ridge probe, and no
method's output is read. Four criteria, each with its figures and a pass flag
(thresholds in :data:`THRESHOLDS`, docs/synth.md "Choosing a world"):

1. transfer premise: the text-ridge probe (``zs.evaluate.diagnose.transfer``)
   on the real matched validation queries: nearest-centre accuracy of unseen
   queries with predicted unseen centres >= half the oracle's (real unseen
   centres) and >= 25 %;
2. a good seen segmenter (``zs.synth.quality``): seen PQ at threshold 0.8 >= 45,
   class-agnostic unseen mask recall (IoU >= 0.5) >= 80 %, and every
   attribute (shape, colour, pattern, direction) recognised at >= twice chance
   and >= 50 %;
3. honesty (``zs.synth.honesty``);
4. size: segmenter folder + CLIP files <= 20 MB.

The validation queries come from a temporary store written with ``zs.extract``
(matching as PADing, no CLIP, no masks).
"""

from __future__ import annotations

import logging
import tempfile
from pathlib import Path

import numpy as np

from zs.errors import ZsError
from zs.synth.dataset import load_world

log = logging.getLogger(__name__)

THRESHOLDS = {
    "probe_min_accuracy": 0.25,
    "probe_min_oracle_fraction": 0.5,
    "seen_pq_min": 45.0,
    "unseen_mask_recall_min": 0.80,
    "attribute_min_chance_multiple": 2.0,
    "attribute_min_accuracy": 0.5,
    "assets_max_bytes": 20_000_000,
}
ATTRIBUTES = ("shape", "colour", "pattern", "direction")


def world_text(data_dir: str | Path, source: str, clip_paths: tuple | None = None, device: str = "cpu") -> np.ndarray:
    """[K, Dt] text embeddings: 'semantic' (DATA/semantic.npy) or 'clip' (tiny CLIP text tower, PADing prompts)."""
    world = load_world(data_dir)
    if source == "semantic":
        return np.load(Path(data_dir) / "semantic.npy").astype(np.float32)
    if source != "clip" or clip_paths is None:
        raise ZsError(f"text source {source!r}: expected 'semantic' or 'clip' with a CLIP folder")
    from zs.extract.clip import load_clip
    from zs.extract.text import text_embeddings

    clip = load_clip(str(clip_paths[0]), clip_paths[1], device)
    return text_embeddings(clip, world.vocabulary.names).numpy()


def matched_queries(data_dir: str | Path, segmenter: str | Path, *, split: str = "val", device: str = "cpu",
                    limit: int | None = None, work_dir: str | None = None, progress: bool = False):
    """(features [N, D], labels [N], vocab): ``segmenter``'s matched queries of ``data_dir/split``.

    Written to a temporary store by ``zs.extract`` (PADing's matching; no CLIP, no masks), read as
    ``zs diagnose`` reads them.
    """
    from zs.evaluate.diagnose.data import load_real_features
    from zs.extract.job import ExtractConfig
    from zs.extract.run import run as extract
    from zs.store import open_store

    root = Path(data_dir) / split
    with tempfile.TemporaryDirectory(dir=work_dir, prefix="zs-criteria-") as tmp:
        cfg = ExtractConfig(split=split, store=str(Path(tmp) / "store"), segmenter=str(segmenter),
                            images=str(root / "images"), json=str(root / "panoptic.json"),
                            png=str(root / "panoptic"), vocab=str(Path(data_dir) / "vocab.json"), masks=False,
                            device=device, limit=limit, progress=progress)
        store = open_store(extract(cfg).store)
        real, labels = load_real_features(store, split)
        return real, labels, store.vocab


def probe_figures(real: np.ndarray, labels: np.ndarray, vocab, text: np.ndarray, device: str = "cpu") -> dict:
    """``zs.evaluate.diagnose.transfer.transfer_probe`` on real features [N, D] with labels [N], text [K, Dt]."""
    from zs.evaluate.diagnose.transfer import transfer_probe

    present = set(np.unique(labels).tolist())
    unseen = [c for c in vocab.unseen_indices if c in present]
    seen = [c for c in vocab.seen_indices if c in present]
    res = transfer_probe(real, labels, text, unseen, seen, device)
    pc = res["per_class"]
    return {
        "text_ridge_acc_with_seen": pc["text_ridge_acc_with_seen"][0],
        "oracle_acc_with_seen": pc["oracle_acc_with_seen"][0],
        "ridge_lambda": res["ridge_lambda"],
        "per_unseen_class": {vocab.names[c]: {"text_ridge": float(pc["text_ridge_acc_with_seen"][1][j]),
                                              "oracle": float(pc["oracle_acc_with_seen"][1][j])}
                             for j, c in enumerate(unseen)},
        "n_unseen_queries": int(np.isin(labels, unseen).sum()),
        "n_queries": int(len(labels)),
    }


def transfer_verdict(probe: dict, t: dict = THRESHOLDS) -> dict:
    acc, oracle = probe["text_ridge_acc_with_seen"], probe["oracle_acc_with_seen"]
    ok = acc >= t["probe_min_accuracy"] and acc >= t["probe_min_oracle_fraction"] * oracle
    return {"pass": bool(ok), "probe": acc, "oracle": oracle, "needs": {
        "probe_at_least": max(t["probe_min_accuracy"], t["probe_min_oracle_fraction"] * oracle)}, **probe}


def segmenter_verdict(quality: dict, t: dict = THRESHOLDS) -> dict:
    seen_pq = 100 * quality["pq"]["seen"]["pq"]  # PQ in points, as docs and papers quote it
    recall_key = next(k for k in quality if k.startswith("mask_recall"))
    recall = quality[recall_key]["unseen"]["accuracy"]
    attributes = {}
    for k in ATTRIBUTES:
        acc, chance = quality["seen_accuracy"][k]["accuracy"], quality["chance"][k]
        need = max(t["attribute_min_chance_multiple"] * chance, t["attribute_min_accuracy"])
        attributes[k] = {"accuracy": acc, "chance": chance, "needs": need, "pass": acc >= need}
    parts = {"seen_pq": {"value": seen_pq, "needs": t["seen_pq_min"], "pass": seen_pq >= t["seen_pq_min"]},
             "unseen_mask_recall": {"value": recall, "needs": t["unseen_mask_recall_min"],
                                    "pass": recall >= t["unseen_mask_recall_min"]},
             "attributes": attributes}
    ok = parts["seen_pq"]["pass"] and parts["unseen_mask_recall"]["pass"] and all(a["pass"] for a in attributes.values())
    return {"pass": bool(ok), **parts}


def files_size(paths) -> int:
    """Total bytes of the files (and files inside folders) given."""
    total = 0
    for p in map(Path, paths):
        total += sum(f.stat().st_size for f in p.rglob("*") if f.is_file()) if p.is_dir() else p.stat().st_size
    return total


def size_verdict(paths, t: dict = THRESHOLDS) -> dict:
    n = files_size(paths)
    return {"pass": n <= t["assets_max_bytes"], "bytes": n, "needs_at_most": t["assets_max_bytes"],
            "files": [str(p) for p in paths]}


def world_criteria(data_dir: str | Path, segmenter: str | Path, *, text_source: str = "clip", clip_dir=None,
                   split: str = "val", device: str = "cpu", limit: int | None = None, object_threshold: float = 0.8,
                   work_dir: str | None = None, progress: bool = False) -> dict:
    """All four criteria (see module docstring) as ``{"criteria": {name: {"pass", ...}}, "pass": all}``."""
    from zs.synth.honesty import honesty_checks
    from zs.synth.quality import check_segmenter_fits, segmenter_quality

    check_segmenter_fits(segmenter, data_dir)  # before any work (segmenter_quality checks again, cheaply)
    clip_paths = (Path(clip_dir) / "open_clip_config.json", Path(clip_dir) / "weights.pt") if clip_dir else None
    text = world_text(data_dir, text_source, clip_paths, device)
    honesty = honesty_checks(data_dir, text_source, clip_dir)
    quality = segmenter_quality(segmenter, data_dir, split=split, device=device, limit=limit,
                                object_threshold=object_threshold, progress=progress)
    real, labels, vocab = matched_queries(data_dir, segmenter, split=split, device=device, limit=limit,
                                          work_dir=work_dir, progress=progress)
    probe = probe_figures(real, labels, vocab, text, device)
    world = load_world(data_dir)
    criteria = {
        "1_transfer_premise": transfer_verdict(probe),
        "2_seen_segmenter": segmenter_verdict(quality),
        "3_honest_zero_shot": {"pass": all(c["pass"] for c in honesty.values()), **honesty},
        "4_size": size_verdict([Path(segmenter), *(clip_paths or [])]),
    }
    return {"data": str(data_dir), "segmenter": str(segmenter), "text_source": text_source,
            "clip": str(clip_dir) if clip_dir else None, "split": split, "num_images": quality["num_images"],
            "world": {"classes": len(world.classes), "unseen": len(world.vocabulary.unseen_indices),
                      "values": {k: list(v) for k, v in world.values.items()}, "render": world.render},
            "thresholds": THRESHOLDS, "criteria": criteria, "quality": quality,
            "pass": all(c["pass"] for c in criteria.values())}


def synth_criteria(data_dir: str | Path, segmenter: str | Path | None = None, *, text_source: str = "clip",
                   clip_dir=None, split: str = "val", device: str = "cpu", limit: int | None = None,
                   out: str | Path | None = None, progress: bool = False) -> dict:
    """``zs synth-criteria``: :func:`world_criteria` with the shipped segmenter and tiny CLIP as defaults;
    written to ``out`` as JSON when given."""
    from zs.manifest import write_json_atomic
    from zs.paths import check_out_file
    from zs.synth.assets import ASSETS, default_segmenter_path

    if out:
        check_out_file(out)
    if text_source == "clip" and clip_dir is None:
        clip_dir = ASSETS / "synth_clip"
    res = world_criteria(data_dir, segmenter or default_segmenter_path(), text_source=text_source,
                         clip_dir=clip_dir if text_source == "clip" else None, split=split, device=device,
                         limit=limit, progress=progress)
    if out:
        write_json_atomic(out, res)
    return res


def synth_quality(data_dir: str | Path, segmenter: str | Path | None = None, *, clip_dir: str | Path | None = None,
                  split: str = "val", device: str = "cpu", limit: int | None = None, object_threshold: float = 0.8,
                  out: str | Path | None = None, progress: bool = False) -> dict:
    """``zs synth-quality``: :func:`segmenter_quality` (default: the shipped segmenter), plus the tiny CLIP's
    retrieval of ``clip_dir`` as ``clip_retrieval``; written to ``out`` as JSON when given."""
    from zs.manifest import write_json_atomic
    from zs.paths import check_out_file
    from zs.synth.assets import default_segmenter_path
    from zs.synth.quality import segmenter_quality

    if out:
        check_out_file(out)
    res = segmenter_quality(segmenter or default_segmenter_path(), data_dir, split=split, device=device,
                            limit=limit, object_threshold=object_threshold, progress=progress)
    if clip_dir:
        from zs.synth.clip_eval import clip_retrieval

        root = Path(clip_dir)
        res["clip_retrieval"] = clip_retrieval(root / "open_clip_config.json", root / "weights.pt", data_dir,
                                               split=split, limit=None if limit is None else limit * 8)
    if out:
        write_json_atomic(out, res)
    return res
