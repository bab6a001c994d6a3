"""``fit_generator``: train a generator on the store (schedules ``pading`` and ``two-stage``).

PADing's schedule alternates one generator step (Adam) and one classifier
step (SGD, starting from the store's seen head) per iteration, on the same
batch of images; the classifier is written as a zs head to ``GEN/head``.
``two-stage`` trains the generator alone (heads come from ``zs adapt``).

Checkpoints (``GEN/checkpoint.pt``: modules, optimizers, schedulers, RNG
states, iteration) make an interrupted run resumable; a resumed run replays
the same seeded batch stream, so it ends with the same weights as an
uninterrupted one.
"""

from __future__ import annotations

import copy
import dataclasses
import logging
from pathlib import Path

import torch
from tqdm import tqdm

from zs.checkpoint import CHECKPOINT, Checkpoint, checkpoint_due, stop_step
from zs.errors import ConfigError, ZsError
from zs.generate import objectives as O
from zs.generate.artifact import MANIFEST_KIND, is_generator_dir, save_generator
from zs.generate.config import FitConfig, GeneratorConfig
from zs.generate.data import TrainInputs, batch_stream, load_projector, open_inputs
from zs.generate.models import VaeGenerator, build_generator
from zs.generate.structure import Disentangler
from zs.manifest import make_manifest, to_jsonable
from zs.paths import check_out_dir, disk_full_is_error
from zs.runtime import resolve_device, seed_everything

log = logging.getLogger(__name__)

# fit-config keys that may change between an interrupted run and its resume
_RESUME_FREE = {"resume", "progress", "device", "checkpoint_every", "store", "out", "allow_unseen_in_train"}


@dataclasses.dataclass
class TrainState:
    gen: torch.nn.Module
    dis: torch.nn.Module | None
    classifier: torch.nn.Module | None  # PADing: trained head; two-stage: frozen seen head or None
    projector: torch.nn.Module | None
    opt_g: torch.optim.Optimizer
    opt_c: torch.optim.Optimizer | None
    scheds: list
    ids: dict  # seen / unseen / all index tensors
    class_weight: torch.Tensor | None


def _generator_config(cfg: FitConfig, inputs: TrainInputs) -> GeneratorConfig:
    return dataclasses.replace(
        cfg.generator, kind=cfg.kind, query_dim=inputs.query_dim, text_dim=inputs.text_dim,
        num_classes=inputs.num_classes,
    )


def _load_seen_head(inputs: TrainInputs, device, trainable: bool):
    from zs.heads import check_head_fits, load_head

    path = getattr(inputs.store, "seen_head_path", None)
    if path is None or not Path(str(path)).joinpath("config.json").is_file():
        raise ZsError(f"store {inputs.store.url} has no seen_head/ (zs extract writes it); the PADing schedule starts from it")
    head = load_head(path)
    if head.cfg.kind != "linear":
        raise ZsError(f"{path}: the seen head is a '{head.cfg.kind}' head, PADing's classifier refit needs a linear one")
    check_head_fits(head, inputs.head_target(), where=f"store {inputs.store.url}")
    head = head.to(device).train(trainable)
    head.requires_grad_(trainable)
    return head


def _fused_ok(device) -> bool:
    """torch's fused Adam (CPU and CUDA): the same update as the per-tensor loop, ~3x faster here."""
    return torch.device(device).type in ("cpu", "cuda")


def build_state(cfg: FitConfig, inputs: TrainInputs, device) -> TrainState:
    """Modules and optimizers, freshly initialised from ``cfg.seed``."""
    seed_everything(cfg.seed)
    gen = build_generator(_generator_config(cfg, inputs), torch.from_numpy(inputs.text)).to(device)
    dis = None
    if cfg.disentangle:
        sem_dim = gen.semantic_vectors(torch.zeros(1, dtype=torch.long, device=device)).shape[1]
        dis = Disentangler(inputs.query_dim, sem_dim, cfg.disentangle_dropout).to(device)
    classifier = None
    if cfg.schedule == "pading":
        classifier = _load_seen_head(inputs, device, trainable=True)
    elif cfg.cls_weight:
        classifier = _load_seen_head(inputs, device, trainable=False)
    opt_g, opt_c, scheds = make_optimizers(cfg, gen, dis, classifier if cfg.schedule == "pading" else None, device)
    projector = load_projector(cfg.projector, inputs, device) if cfg.gv2s else None
    t = lambda xs: torch.tensor(xs, dtype=torch.long, device=device)  # noqa: E731
    ids = {"seen": t(inputs.seen_ids), "unseen": t(inputs.unseen_ids), "all": t(list(range(inputs.num_classes)))}
    cw = O.classifier_class_weights(inputs.num_classes, ids["unseen"], cfg) if classifier is not None else None
    return TrainState(gen, dis, classifier, projector, opt_g, opt_c, scheds, ids, cw)


def make_optimizers(cfg: FitConfig, gen, dis, classifier, device):
    """(Adam over generator + disentangler, SGD over ``classifier`` or None, [LR schedulers]).

    As PADing's released code: only the generator side's Adam follows the LR
    schedule (``cfg.lr_schedule``); the classifier's SGD keeps ``cfg.cls_lr``.
    """
    params = list(gen.parameters()) + (list(dis.parameters()) if dis is not None else [])
    opt_g = torch.optim.Adam(params, lr=cfg.lr, fused=_fused_ok(device))  # fused: same update, one kernel
    opt_c = None
    if classifier is not None:
        opt_c = torch.optim.SGD(classifier.parameters(), lr=cfg.cls_lr, momentum=cfg.cls_momentum,
                                weight_decay=cfg.cls_weight_decay)
    sched = generator_lr_scheduler(cfg, opt_g)
    return opt_g, opt_c, [sched] if sched is not None else []


def generator_lr_scheduler(cfg: FitConfig, opt):
    """``cfg.lr_schedule`` for the generator's optimiser (stepped once per iteration), or None (constant).

    multistep: x0.1 at each fraction ``cfg.lr_steps`` of the iterations (detectron2's
    WarmupMultiStepLR with warm-up factor 1); poly: (1 - it / iterations) ** ``cfg.poly_power``
    (WarmupPolyLR with warm-up factor 1).
    """
    if cfg.lr_schedule == "multistep":
        milestones = sorted({int(round(f * cfg.iterations)) for f in cfg.lr_steps if 0 < f < 1})
        return torch.optim.lr_scheduler.MultiStepLR(opt, milestones, gamma=0.1)
    if cfg.lr_schedule == "poly":
        return torch.optim.lr_scheduler.PolynomialLR(opt, total_iters=cfg.iterations, power=cfg.poly_power)
    return None


def _modules(st: TrainState) -> dict:
    mods = {"gen": st.gen, "opt_g": st.opt_g}
    if st.dis is not None:
        mods["dis"] = st.dis
    if st.opt_c is not None:
        mods.update(classifier=st.classifier, opt_c=st.opt_c)
    mods.update({f"sched{i}": s for i, s in enumerate(st.scheds)})
    return mods


def _trained(st: TrainState) -> dict:
    return {k: m for k, m in (("gen", st.gen), ("dis", st.dis), ("classifier", st.classifier)) if m is not None}


def _device_of(st: TrainState) -> torch.device:
    return next(st.gen.parameters()).device


def _checkpoint(cfg: FitConfig, out: Path, device) -> Checkpoint:
    keys = {k: v for k, v in to_jsonable(cfg).items() if k not in _RESUME_FREE}
    return Checkpoint(out / CHECKPOINT, stage="fit-generator", resume_keys=keys, device=device,
                      hint="use the first run's options, or start a new --out",
                      resume_hint="free some space and rerun with --resume")


def _restore(st: TrainState, blob: dict, ck: Checkpoint) -> int:
    log.info("resuming %s at iteration %d", ck.path, blob["step"])
    for k, m in _modules(st).items():
        m.load_state_dict(blob[k])
    return int(blob["step"])


def _step_inputs(batch: dict, st: TrainState) -> O.StepInputs:
    return O.StepInputs(real=batch["real"], labels=batch["labels"], unmatched=batch["unmatched"],
                        unseen_ids=st.ids["unseen"], seen_ids=st.ids["seen"], all_ids=st.ids["all"])


def train_step(cfg: FitConfig, st: TrainState, batch: dict, generator=None) -> dict[str, float]:
    """One iteration: generator step, then (PADing) classifier step. Returns the losses.

    ``generator``: where the random draws come from (None: torch's global RNG; see
    :class:`zs.generate.models.RecordedDraws`).
    """
    parts: dict[str, torch.Tensor] = {}  # detached 0-d tensors, read back to floats once at the end
    min_real = 2 if isinstance(st.gen, VaeGenerator) else 1  # BatchNorm needs 2 rows
    if batch["real"].shape[0] >= min_real:
        st.gen.train()
        if st.dis is not None:
            st.dis.train()
        st.opt_g.zero_grad(set_to_none=True)
        loss, parts = O.generator_loss(cfg, st.gen, _step_inputs(batch, st), dis=st.dis,
                                       classifier=st.classifier, projector=st.projector, generator=generator)
        loss.backward()
        st.opt_g.step()
        parts["gen"] = loss.detach()
    if st.opt_c is not None:
        st.opt_c.zero_grad(set_to_none=True)
        loss_c = O.classifier_loss(cfg, st.gen, st.classifier, batch["all_embed"], batch["all_labels"],
                                   st.ids["unseen"], st.class_weight, generator)
        loss_c.backward()
        st.opt_c.step()
        parts["clf"] = loss_c.detach()
    for s in st.scheds:
        s.step()
    if not parts:
        return {}
    values = torch.stack([v.float().reshape(()) for v in parts.values()]).tolist()  # one device -> host copy
    return dict(zip(parts, values))


def _prepare_out(cfg: FitConfig) -> Path:
    out = Path(cfg.out)
    if not cfg.out:
        raise ConfigError("--out is required (the generator directory to write)")
    if is_generator_dir(out):
        raise ZsError(f"{out} already holds a finished generator; choose another --out")
    if out.exists() and any(out.iterdir()) and not cfg.resume:
        raise ZsError(f"{out} exists and is not empty; pass --resume to continue an interrupted run")
    out.mkdir(parents=True, exist_ok=True)
    return out


def _manifest(cfg: FitConfig, inputs: TrainInputs, iteration: int, losses: dict) -> dict:
    store = inputs.store
    ident = store.identity
    return make_manifest(
        MANIFEST_KIND, config=cfg, seed=cfg.seed,
        inputs={"store": {"path": str(store.url), "sha256": store.sha256}, "text": inputs.text_sha256},
        store_sha256=ident.store_sha256, vocab_sha256=ident.vocab_sha256, segmenter_sha256=ident.segmenter_sha256,
        text_name=inputs.text_name, text_sha256=inputs.text_sha256, split=cfg.split,
        iterations=iteration, final_losses=losses, vocabulary=store.vocab.to_dict(),
    )


def _save_head(st: TrainState, cfg: FitConfig, inputs: TrainInputs, out: Path, losses: dict) -> None:
    from zs.heads import make_head_manifest, save_head

    head = copy.deepcopy(st.classifier).cpu().eval()
    store = inputs.store
    head.cfg = dataclasses.replace(head.cfg, method="pading", gamma=0.0, store_sha256=store.sha256,
                                   vocab_sha256=store.vocab.sha256)
    m = make_head_manifest(head.cfg, seed=cfg.seed, store={"path": str(store.url), "sha256": store.sha256},
                           generator={"path": str(out)}, final_losses=losses)
    save_head(head, out / "head", m)


def fit_generator(cfg: FitConfig, *, stop_after: int | None = None) -> Path:
    """Train a generator on ``cfg.store``; returns the artifact directory ``cfg.out``.

    ``stop_after`` (testing / time-boxing): stop after that many iterations
    with a checkpoint written and no artifact; rerun with ``resume=True``.
    """
    cfg = cfg.resolved()
    check_out_dir(cfg.out, writes=MANIFEST_KIND)
    device = resolve_device(cfg.device)
    inputs = open_inputs(cfg)
    st = build_state(cfg, inputs, device)  # (may still refuse a seen head/projector: before --out is made)
    out = _prepare_out(cfg)
    ck = _checkpoint(cfg, out, _device_of(st))
    blob = ck.load(cfg.resume)
    start = _restore(st, blob, ck) if blob is not None else 0
    stream = batch_stream(cfg, inputs, device, skip=start)
    end = stop_step(start, cfg.iterations, stop_after)
    losses: dict[str, float] = {}
    bar = tqdm(total=cfg.iterations, initial=start, disable=not cfg.progress, desc=f"fit {cfg.kind}", unit="it")
    for it in range(start, end):
        losses = train_step(cfg, st, next(stream))
        ck.watch.losses(it + 1, losses)
        bar.update(1)
        if it % 10 == 0:
            bar.set_postfix({k: f"{v:.4g}" for k, v in losses.items() if k in ("mmd", "gen", "clf", "structure")})
        if checkpoint_due(it + 1, cfg.checkpoint_every, end, cfg.iterations):
            ck.save(it + 1, {k: m.state_dict() for k, m in _modules(st).items()}, check=_trained(st))
    bar.close()
    if end < cfg.iterations:
        return out
    ck.watch.params(cfg.iterations, _trained(st))
    with disk_full_is_error(f"generator {out}", "free some space and rerun with --resume"):
        if st.opt_c is not None:
            _save_head(st, cfg, inputs, out, losses)
        save_generator(st.gen, out, _manifest(cfg, inputs, cfg.iterations, losses))
    ck.remove()
    log.info("generator %s written to %s (losses %s)", cfg.kind, out, losses)
    return out
