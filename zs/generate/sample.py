"""``zs sample``: synthetic features from a generator artifact, written as ``.npz``."""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np

from zs.errors import ConfigError, ZsError
from zs.generate.artifact import generator_manifest, load_generator, read_generator_config
from zs.vocab import Vocabulary


def resolve_classes(vocab: Vocabulary, classes: str) -> list[int]:
    """'unseen' | 'seen' | 'all' | comma-separated dataset category ids -> contiguous indices."""
    if classes == "unseen":
        out = vocab.unseen_indices
    elif classes == "seen":
        out = vocab.seen_indices
    elif classes == "all":
        out = list(range(vocab.num_classes))
    else:
        try:
            ids = [int(x) for x in classes.split(",") if x.strip()]
        except ValueError:
            raise ConfigError(f"--classes '{classes}': expected unseen, seen, all or comma-separated category ids") from None
        out = [vocab.index_of_id(i) for i in ids]
    if not out:
        raise ConfigError(f"--classes {classes}: no classes selected in vocabulary '{vocab.name}'")
    return list(out)


def sample_to_file(generator: str | os.PathLike, classes: str, per_class: int, out: str | os.PathLike,
                   *, seed: int = 0, device: str = "auto") -> Path:
    """Write ``features [M*N, D] float32``, ``labels [M*N]`` (contiguous), ``category_ids``,
    ``class_names`` to ``out`` (.npz); returns the path."""
    import torch

    from zs.paths import check_out_file
    from zs.runtime import resolve_device

    if per_class <= 0:
        raise ConfigError(f"--per-class {per_class} must be > 0")
    check_out_file(out)
    read_generator_config(generator)  # a folder that is not a generator (or is a head) is named first
    m = generator_manifest(generator)
    if "vocabulary" not in m:
        raise ZsError(f"{generator}/manifest.json has no vocabulary (not written by zs fit-generator?)")
    vocab = Vocabulary.from_dict(m["vocabulary"], source=f"{generator}/manifest.json")
    idx = resolve_classes(vocab, classes)
    dev = resolve_device(device)
    gen = load_generator(generator, dev)
    rng = torch.Generator().manual_seed(seed)  # draws on the CPU, then moved: same features on any device
    feats = gen.sample(torch.tensor(idx, device=dev), per_class, generator=rng).cpu().numpy()  # [M*N, D]
    labels = np.repeat(np.asarray(idx, np.int64), per_class)
    out = Path(out)
    out.parent.mkdir(parents=True, exist_ok=True)
    tmp = out.with_name(f".{out.name}.tmp.npz")
    np.savez(tmp, features=feats.astype(np.float32), labels=labels,
             category_ids=np.asarray(vocab.ids, np.int64)[labels], class_names=np.asarray(vocab.names)[labels])
    os.replace(tmp, out)
    return out
