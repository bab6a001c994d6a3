"""``zs convert-checkpoint``: a detectron2 checkpoint + config -> a zs segmenter directory.

Output (``OUT_DIR``)::

    config.json, model.safetensors   transformers Mask2FormerForUniversalSegmentation.save_pretrained
    preprocessor_config.json         Mask2FormerImageProcessor: mean/std in 0-1 units (d2 values / 255,
                                     RGB order), size = MIN/MAX_SIZE_TEST, size_divisor
    zs_segmenter.json                input format, label names/ids/isthing, thresholds, source
    pading_head/                     PADing checkpoints only: ``new_fc`` as a zs LinearHead artifact
    manifest.json                    provenance (checkpoint and config sha256, spec)

Everything is validated before the first byte is written; the directory is
assembled under a temporary name and renamed into place.
"""

from __future__ import annotations

import dataclasses
import logging
import os
import shutil
from pathlib import Path

import torch

from zs.errors import ZsError
from zs.extract.d2.checkpoint import load_d2_checkpoint
from zs.extract.d2.coco_categories import COCO_PANOPTIC_CATEGORIES
from zs.extract.d2.config import load_d2_config
from zs.extract.d2.convert import build_hf_model, check_class_count, convert_state_dict
from zs.extract.d2.errors import CheckpointMismatchError
from zs.extract.d2.spec import Mask2FormerSpec, spec_from_config
from zs.extract.segmenter import PreprocessConfig, save_segmenter_dir
from zs.manifest import make_manifest, sha256_file, write_json_atomic
from zs.vocab import PADING_UNSEEN_IDS, Vocabulary

log = logging.getLogger(__name__)
SEGMENTER_FORMAT = 1


@dataclasses.dataclass
class ConversionResult:
    out_dir: Path
    spec: Mask2FormerSpec
    head_dir: Path | None
    ignored_keys: list[str]
    pading_keys: list[str]


def default_vocabulary(spec: Mask2FormerSpec) -> Vocabulary | None:
    """COCO panoptic (PADing's unseen split for PADing checkpoints) when the config says so."""
    coco_panoptic = any("coco" in d and "panoptic" in d for d in spec.train_datasets)
    if spec.num_classes != 133 or not coco_panoptic:
        return None
    unseen = PADING_UNSEEN_IDS if spec.meta_architecture == "PADing" else ()
    return Vocabulary.from_coco_categories(COCO_PANOPTIC_CATEGORIES, unseen, name="coco-panoptic")


def _rgb(values, fmt: str) -> list[float]:
    values = [float(v) for v in values]
    return values[::-1] if fmt == "BGR" else values


def preprocess_config(spec: Mask2FormerSpec) -> PreprocessConfig:
    """The test-time preprocessing of a detectron2 config (mean/std in 0-1 units, RGB order)."""
    return PreprocessConfig(
        shortest_edge=spec.min_size_test, longest_edge=spec.max_size_test, size_divisor=spec.size_divisibility,
        image_mean=tuple(v / 255 for v in _rgb(spec.pixel_mean, spec.input_format)),
        image_std=tuple(v / 255 for v in _rgb(spec.pixel_std, spec.input_format)), input_format=spec.input_format)


def segmenter_info(spec: Mask2FormerSpec, vocab: Vocabulary | None, config_path: str) -> dict:
    return {
        "format": SEGMENTER_FORMAT,
        "source": "detectron2",
        "source_config": str(config_path),
        "meta_architecture": spec.meta_architecture,
        "input_format": spec.input_format,  # channel order the network expects; mean/std files are RGB order
        "pixel_mean_255": _rgb(spec.pixel_mean, spec.input_format),
        "pixel_std_255": _rgb(spec.pixel_std, spec.input_format),
        "size_divisibility": spec.size_divisibility,
        "object_mask_threshold": spec.object_mask_threshold,
        "overlap_threshold": spec.overlap_threshold,
        "label_names": vocab.names if vocab else None,
        "label_ids": vocab.ids if vocab else None,
        "isthing": [bool(c.isthing) for c in vocab.categories] if vocab else None,
        "vocabulary": vocab.to_dict() if vocab else None,
    }


def build_pading_head(pading: dict[str, torch.Tensor], spec: Mask2FormerSpec, vocab: Vocabulary | None,
                      vocab_given: bool, source: str):
    """PADing's ``new_fc`` (Linear(D, K+1)) as a zs LinearHead; None when absent."""
    from zs.heads import HeadConfig, LinearHead

    if "new_fc.weight" not in pading:
        return None
    want = {"new_fc.weight": (spec.num_classes + 1, spec.hidden_dim), "new_fc.bias": (spec.num_classes + 1,)}
    missing = [k for k in want if k not in pading]
    shapes = [(k, tuple(pading[k].shape), v) for k, v in want.items() if k in pading and tuple(pading[k].shape) != v]
    if missing or shapes:
        raise CheckpointMismatchError(source, missing=missing, shapes=shapes)
    seen = [bool(c.seen) for c in vocab.categories] if vocab else [True] * spec.num_classes
    cfg = HeadConfig(kind="linear", query_dim=spec.hidden_dim, num_classes=spec.num_classes, seen=seen,
                     vocab_sha256=vocab.sha256 if (vocab and vocab_given) else "", method="pading-new_fc")
    head = LinearHead(cfg)
    head.fc.load_state_dict({"weight": pading["new_fc.weight"].float(), "bias": pading["new_fc.bias"].float()})
    return head.eval()


def _prepare_out(out_dir: Path, overwrite: bool) -> Path:
    if out_dir.exists() and any(out_dir.iterdir()) and not overwrite:
        raise ZsError(f"{out_dir}: output directory exists and is not empty (pass --overwrite to replace it)")
    tmp = out_dir.with_name(f".{out_dir.name}.tmp-{os.getpid()}")
    shutil.rmtree(tmp, ignore_errors=True)
    tmp.mkdir(parents=True)
    return tmp


def _finish(tmp: Path, out_dir: Path) -> None:
    if out_dir.exists():
        shutil.rmtree(out_dir)
    os.replace(tmp, out_dir)


def convert_checkpoint(config_path: str | os.PathLike, checkpoint_path: str | os.PathLike,
                       out_dir: str | os.PathLike, *, vocab_path: str | os.PathLike | None = None,
                       allow_unknown_keys: bool = False, overwrite: bool = False) -> ConversionResult:
    """Convert a detectron2 Mask2Former (or PADing) checkpoint into a zs segmenter directory."""
    from zs.paths import check_out_dir

    check_out_dir(out_dir, "OUT_DIR", writes="zs-segmenter")
    cfg = load_d2_config(config_path, allow_unknown=allow_unknown_keys)
    spec = spec_from_config(cfg)
    vocab = Vocabulary.load(vocab_path) if vocab_path else default_vocabulary(spec)
    if vocab is not None and vocab.num_classes != spec.num_classes:
        raise ZsError(f"{vocab_path}: vocabulary has {vocab.num_classes} classes, the config "
                      f"MODEL.SEM_SEG_HEAD.NUM_CLASSES = {spec.num_classes}")
    d2_state = load_d2_checkpoint(checkpoint_path)
    check_class_count(d2_state, spec, checkpoint=str(checkpoint_path), config=str(config_path))
    id2label = {i: n for i, n in enumerate(vocab.names)} if vocab else None
    model = build_hf_model(spec, id2label)
    hf_state, split = convert_state_dict(d2_state, spec, source=str(checkpoint_path), model=model)
    model.load_state_dict(hf_state, strict=True)
    head = build_pading_head(split.pading, spec, vocab, vocab_path is not None, str(checkpoint_path))
    out = Path(out_dir).expanduser().resolve()
    tmp = _prepare_out(out, overwrite)  # nothing was written before this line
    inputs = {"checkpoint": {"path": str(Path(checkpoint_path).resolve()), "sha256": sha256_file(checkpoint_path)},
              "config": {"path": str(Path(config_path).resolve()), "sha256": sha256_file(config_path)}}
    try:
        save_segmenter_dir(tmp, model, preprocess_config(spec), segmenter_info(spec, vocab, str(config_path)))
        if head is not None:
            from zs.heads import make_head_manifest, save_head

            save_head(head, tmp / "pading_head", make_head_manifest(
                head.cfg, inputs=inputs, source="detectron2 PADing new_fc"))
        write_json_atomic(tmp / "manifest.json", make_manifest(
            "zs-segmenter", config=spec, inputs=inputs, source="detectron2",
            ignored_keys=split.ignored, pading_keys=sorted(split.pading), unknown_config_keys=cfg.unknown_keys))
        _finish(tmp, out)
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise
    log.info("converted %s -> %s", checkpoint_path, out)
    return ConversionResult(out, spec, out / "pading_head" if head is not None else None,
                            split.ignored, sorted(split.pading))
