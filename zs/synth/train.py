"""``zs train-segmenter``: train a transformers Mask2Former on the seen classes of a panoptic dataset.

Uses Mask2Former's own Hungarian-matched losses (``mask_labels`` /
``class_labels``). The label space is the full vocabulary (``num_labels = K``),
so the class head has rows for unseen classes that are never trained (the
"seen-only" baseline). Checkpoints every ``checkpoint_every`` steps to
``OUT/checkpoint.pt`` (atomic); a restart with the same arguments resumes from
it, and the data order depends only on (seed, step), so a resumed run sees
the same batches as an uninterrupted one. The finished directory is a
segmenter directory (``save_pretrained`` + ``preprocessor_config.json`` +
``zs_segmenter.json`` + ``manifest.json``).
"""

from __future__ import annotations

import dataclasses
import logging
from pathlib import Path

import numpy as np

from zs.checkpoint import CHECKPOINT, Checkpoint, checkpoint_due, stop_step
from zs.errors import ZsError
from zs.manifest import make_manifest, read_json, write_json_atomic
from zs.synth.segmenter_config import SegmenterConfig, build_mask2former_config
from zs.synth.train_data import (
    IMAGENET_MEAN,
    IMAGENET_STD,
    collate,
    load_target,
    load_vocabulary,
    read_seen_split,
)

log = logging.getLogger(__name__)


@dataclasses.dataclass(frozen=True)
class TrainResult:
    out: Path
    steps: int
    losses: list  # (step, loss) every ``log_every`` steps


def _batch_indices(n: int, step: int, batch_size: int, seed: int) -> list[int]:
    """Indices of ``step``'s batch: epoch-wise permutations seeded by (seed, epoch)."""
    out = []
    for k in range(step * batch_size, (step + 1) * batch_size):
        epoch, pos = divmod(k, n)
        perm = np.random.default_rng([seed, epoch]).permutation(n)
        out.append(int(perm[pos]))
    return out


def _lr_at(step: int, cfg: SegmenterConfig) -> float:
    """Linear warmup, then Mask2Former's poly(0.9) decay."""
    if step < cfg.warmup_steps:
        return cfg.lr * (step + 1) / cfg.warmup_steps
    return cfg.lr * (1 - step / max(cfg.steps, 1)) ** 0.9


def _make_batch(split, vocab, cfg: SegmenterConfig, step: int, seed: int, device):
    idx = _batch_indices(len(split.annotations), step, cfg.batch_size, seed)
    flips = np.random.default_rng([seed, 1_000_003, step]).random(len(idx)) < 0.5
    samples = [load_target(split, i, vocab, cfg.image_size, cfg.max_size, cfg.hflip and f) for i, f in zip(idx, flips)]
    pixels, pixel_mask, masks, labels = collate(samples, cfg.size_divisor)
    return pixels.to(device), pixel_mask.to(device), [m.to(device) for m in masks], [c.to(device) for c in labels]


def _resume(ck: Checkpoint, model, opt) -> tuple[int, list]:
    """(step, losses) of the checkpoint in OUT restored into ``model``/``opt``, or (0, []) for a fresh run."""
    blob = ck.load()
    if blob is None:
        return 0, []
    model.load_state_dict(blob["model"])
    opt.load_state_dict(blob["optim"])
    log.info("resuming %s at step %d", ck.path, blob["step"])
    return int(blob["step"]), list(blob["losses"])


def _check_out(out: Path) -> None:
    if (out / "manifest.json").is_file() and read_json(out / "manifest.json").get("kind") == "zs-segmenter":
        raise ZsError(f"--out {out}: already holds a trained segmenter; choose a new folder")
    if out.exists() and any(out.iterdir()) and not (out / CHECKPOINT).is_file():
        raise ZsError(f"--out {out}: exists, is not empty and holds no train-segmenter checkpoint")


def train_segmenter(
    data_dir: str | Path,
    out: str | Path,
    cfg: SegmenterConfig,
    *,
    seed: int = 0,
    device: str = "auto",
    split: str = "train",
    vocab_path: str | Path | None = None,
    progress: bool = False,
    stop_after: int | None = None,
    log_every: int = 10,
    init_backbone: str | Path | None = None,
) -> TrainResult:
    """Train on the seen classes of ``data_dir/split``; write a segmenter directory to ``out``.

    ``stop_after`` ends the run (checkpoint written) after that many steps of this
    call, as an interruption would; the next call resumes.
    """
    import torch
    from tqdm import tqdm
    from transformers import Mask2FormerForUniversalSegmentation

    from zs.runtime import resolve_device, seed_everything

    from zs.paths import check_out_dir

    out = check_out_dir(out)
    _check_out(out)
    dev = resolve_device(device)
    vocab = load_vocabulary(data_dir, vocab_path)
    data = read_seen_split(data_dir, split, vocab)
    seed_everything(seed)
    model = Mask2FormerForUniversalSegmentation(build_mask2former_config(cfg, vocab.names))
    init = None
    if init_backbone is not None:
        from zs.manifest import sha256_file
        from zs.synth.pretrain import load_backbone_into

        load_backbone_into(model, init_backbone)
        init = {"path": str(Path(init_backbone).resolve()), "sha256": sha256_file(init_backbone)}
    model.to(dev)
    backbone = model.model.pixel_level_module.encoder
    bb_ids = {id(p) for p in backbone.parameters()}
    bb_mult = cfg.backbone_lr_multiplier if init is not None else 1.0  # a backbone from scratch: full lr
    groups = [{"params": list(backbone.parameters()), "lr_mult": bb_mult},
              {"params": [p for p in model.parameters() if id(p) not in bb_ids], "lr_mult": 1.0}]
    opt = torch.optim.AdamW(groups, lr=cfg.lr, weight_decay=cfg.weight_decay)
    identity = {"config": dataclasses.asdict(cfg), "seed": seed, "data_json_sha256": data.json_sha256,
                "vocab_sha256": vocab.sha256, "init_backbone": init and init["sha256"]}
    out.mkdir(parents=True, exist_ok=True)
    ck = Checkpoint(out / CHECKPOINT, stage="train-segmenter", resume_keys=identity,
                    device=next(model.parameters()).device, hint="use a new --out")
    step, losses = _resume(ck, model, opt)  # (its matcher syncs anyway)
    end = stop_step(step, cfg.steps, stop_after, per_call=True)
    model.train()
    bar = tqdm(total=cfg.steps, initial=step, desc="train-segmenter", disable=not progress)
    while step < end:
        for group in opt.param_groups:
            group["lr"] = _lr_at(step, cfg) * group["lr_mult"]
        pixels, pixel_mask, masks, labels = _make_batch(data, vocab, cfg, step, seed, dev)
        loss = model(pixel_values=pixels, pixel_mask=pixel_mask, mask_labels=masks, class_labels=labels).loss
        ck.watch.losses(step + 1, {"loss": loss.detach()})
        opt.zero_grad(set_to_none=True)
        loss.backward()
        torch.nn.utils.clip_grad_norm_(model.parameters(), cfg.grad_clip)
        opt.step()
        step += 1
        if step % log_every == 0 or step == end:
            losses.append((step, loss.item()))
            bar.set_postfix(loss=f"{losses[-1][1]:.3f}")
        if checkpoint_due(step, cfg.checkpoint_every, end, cfg.steps):
            ck.save(step, {"model": model.state_dict(), "optim": opt.state_dict(), "losses": losses},
                    check={"model": model})
        bar.update(1)
    bar.close()
    if step >= cfg.steps:
        _finalise(out, model, cfg, vocab, data, seed, losses, init)
    return TrainResult(out, step, losses)


def _finalise(out: Path, model, cfg: SegmenterConfig, vocab, data, seed: int, losses: list, init=None) -> None:
    """Write the segmenter directory and drop the checkpoint."""
    from zs.extract.segmenter import PreprocessConfig, save_segmenter_dir

    prep = PreprocessConfig(shortest_edge=cfg.image_size, longest_edge=cfg.max_size, size_divisor=cfg.size_divisor,
                            image_mean=tuple(IMAGENET_MEAN), image_std=tuple(IMAGENET_STD), input_format="RGB")
    save_segmenter_dir(out, model.cpu().eval(), prep, {"label_names": vocab.names, "vocabulary": vocab.to_dict(),
                                                       "trained_on": "seen classes only"})
    write_json_atomic(out / "train_log.json", {"losses": losses})
    manifest = make_manifest(
        "zs-segmenter", config=cfg, seed=seed,
        inputs={"train_json": {"path": str(data.json_path.resolve()), "sha256": data.json_sha256}},
        vocab_sha256=vocab.sha256, num_train_images=len(data.annotations), init_backbone=init,
    )
    write_json_atomic(out / "manifest.json", manifest)
    (out / CHECKPOINT).unlink(missing_ok=True)
