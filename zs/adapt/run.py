"""``adapt(cfg) -> Path``: open the inputs, dispatch to one function per method."""

from __future__ import annotations

import logging
from pathlib import Path

from zs.adapt.config import AdaptConfig
from zs.adapt.loop import TrainingStopped
from zs.errors import ZsError

log = logging.getLogger(__name__)


def _method_function(method: str):
    from zs.adapt.baselines import fit_projection, fit_seen_only
    from zs.adapt.classifier import fit_classifier
    from zs.adapt.cpa import fit_cpa
    from zs.adapt.v2c import fit_v2c

    return {"seen-only": fit_seen_only, "projection": fit_projection, "classifier": fit_classifier,
            "v2c": fit_v2c, "cpa": fit_cpa}[method]


def _arrays_read(method: str) -> tuple[str, ...]:
    """Store arrays a method trains on (image batches carry the CLIP tokens; V2C reads segment tokens)."""
    return ("query_embed", "clip_global", "clip_segment") if method == "v2c" else ("query_embed", "clip_global")


def adapt(cfg: AdaptConfig) -> Path:
    """Fit the head of ``cfg.method`` on ``cfg.store``; write it to ``cfg.out``; return that directory.

    With ``cfg.stop_after`` the run stops after that many steps (checkpoint in
    ``cfg.out``, no head written) and a later run with ``resume`` continues it.
    """
    from zs.adapt.inputs import open_input_store
    from zs.runtime import resolve_device, seed_everything

    from zs.heads import HEAD_MANIFEST_KIND
    from zs.paths import artifact_kind, check_out_dir, no_empty_dirs_on_error
    from zs.store.finite import require_finite

    check_out_dir(cfg.out, writes=HEAD_MANIFEST_KIND)
    if artifact_kind(cfg.out) == HEAD_MANIFEST_KIND:  # the manifest is written last: a finished head
        raise ZsError(f"--out {cfg.out}: already holds a finished head; choose another --out")
    device = resolve_device(cfg.device)
    seed_everything(cfg.seed)
    store = open_input_store(cfg.store)
    if cfg.method != "seen-only":  # every other method trains on the split's queries
        from zs.store.unseen import check_no_unseen_matched

        check_no_unseen_matched(store, cfg.split, allow=cfg.allow_unseen_in_train)
    if cfg.split in store.splits:  # a missing split is named by the method's check
        require_finite(store.split(cfg.split), _arrays_read(cfg.method), stage=f"adapt --method {cfg.method}")
    try:
        with no_empty_dirs_on_error(cfg.out):
            Path(cfg.out).mkdir(parents=True, exist_ok=True)
            out = _method_function(cfg.method)(cfg, store, device)
    except TrainingStopped as e:
        log.info("%s", e)
        return Path(cfg.out)
    log.info("wrote %s head to %s", cfg.method, out)
    return Path(out)
