"""``run(cfg) -> ExtractResult``: checks before work, then the serial or dask runner."""

from __future__ import annotations

import dataclasses
import logging
import time
import uuid

from zs.errors import ZsError
from zs.paths import check_store_out, disk_full_is_error
from zs.extract.job import (Context, ExtractConfig, ExtractResult, inputs_identity, mask_shape_for, plan_rows,
                            process_rows)

log = logging.getLogger(__name__)

_CACHE: dict = {}  # per-process: heavy objects reused across dask tasks


def build_vocab(cfg: ExtractConfig, ds):
    """Vocabulary from --vocab, else the dataset's categories with --unseen (or PADing's 14 if present)."""
    from zs.vocab import PADING_UNSEEN_IDS, Vocabulary, read_class_list

    if cfg.vocab:
        vocab = Vocabulary.load(cfg.vocab)
    else:
        if cfg.unseen:
            unseen = read_class_list(cfg.unseen)
            if not unseen:
                log.warning("--unseen %s lists no class: every class is seen (a supervised store)", cfg.unseen)
        else:
            ids = {int(c["id"]) for c in ds.categories}
            unseen = [str(i) for i in PADING_UNSEEN_IDS] if set(PADING_UNSEEN_IDS) <= ids else []
        vocab = Vocabulary.from_coco_categories(ds.categories, unseen, name=ds.format)
    missing = sorted(ds.category_ids() - set(vocab.ids))
    if missing:
        raise ZsError(f"{cfg.json}: category ids {missing[:10]} are not in the vocabulary "
                      f"'{vocab.name}' ({cfg.vocab or 'from the JSON categories'})")
    return vocab


def vocab_source(cfg: ExtractConfig) -> str:
    """The file the run's vocabulary comes from (--vocab, else the dataset JSON's categories)."""
    return str(cfg.vocab or cfg.json)


def release_device_models() -> None:
    """Drop the cached segmenter and CLIP models that live on a GPU and give their memory back, so
    the stages that follow in this process get it (CPU models stay cached)."""
    import torch

    from zs.runtime import release_cuda_cache

    if torch.cuda.is_available():
        for key in [k for k in _CACHE if k[0] in ("seg", "clip") and k[-1] != "cpu"]:
            del _CACHE[key]
        release_cuda_cache()


def _cached(key, build):
    if key not in _CACHE:
        _CACHE[key] = build()
    return _CACHE[key]


def _compute(cfg: ExtractConfig) -> dict:
    """The store's record of the device and precision policy (dask: the workers' device kind)."""
    from zs.runtime import compute_entry, resolve_device

    if cfg.dask_scheduler:  # remote workers resolve the device themselves; the coordinator may have no GPU
        entry = compute_entry("cpu")
        entry.update(device=str(cfg.device), dask="device resolved on each worker")
        return entry
    entry = compute_entry(resolve_device(cfg.device))
    if cfg.dask_workers:
        entry["dask"] = "one device per worker" if entry["device"].startswith("cuda") else "cpu workers"
    return entry


def _device(cfg: ExtractConfig) -> str:
    """Dask runs: workers compute (one GPU each), the coordinator keeps its models on the CPU."""
    if cfg.dask_workers or cfg.dask_scheduler:
        return "cpu"
    from zs.runtime import current_worker_name, worker_device

    name = current_worker_name()
    return cfg.device if name is None else worker_device(cfg.device, name)


def build_context(cfg: ExtractConfig) -> Context:
    """Load dataset, vocabulary, segmenter, CLIP; every input check happens here."""
    from zs.extract.datasets import CocoPanoptic
    from zs.extract.segmenter import load_segmenter

    ds = _cached(("ds", cfg.images, cfg.json, cfg.png), lambda: CocoPanoptic(cfg.images, cfg.json, cfg.png))
    vocab = build_vocab(cfg, ds)
    device = _device(cfg)
    seg = _cached(("seg", cfg.segmenter, device), lambda: load_segmenter(cfg.segmenter, device))
    if seg.num_classes != vocab.num_classes:
        raise ZsError(f"segmenter {cfg.segmenter} predicts {seg.num_classes} classes but the vocabulary "
                      f"({vocab_source(cfg)}) has {vocab.num_classes}")
    clip = None
    if cfg.clip_model or cfg.clip_weights:
        if not (cfg.clip_model and cfg.clip_weights):
            raise ZsError("--clip-model and --clip-weights go together (or use --no-clip)")
        from zs.extract.clip import load_clip

        clip = _cached(("clip", cfg.clip_model, cfg.clip_weights, device),
                       lambda: load_clip(cfg.clip_model, cfg.clip_weights, device))
    rows = plan_rows(ds, cfg)
    if not rows:
        raise ZsError(f"{cfg.json}: no images to extract")
    mask_shape = mask_shape_for(ds, rows, seg) if cfg.with_masks else None
    return Context(cfg=cfg, ds=ds, vocab=vocab, seg=seg, clip=clip, rows=rows, mask_shape=mask_shape)


def split_params(ctx: Context) -> dict:
    cfg = ctx.cfg
    return dict(num_images=len(ctx.rows), num_queries=ctx.seg.num_queries, query_dim=ctx.seg.query_dim,
                num_classes=ctx.vocab.num_classes, clip_dim=ctx.clip.dim if ctx.clip else None,
                mask_shape=ctx.mask_shape, chunk_images=cfg.chunk_images,
                inputs_sha256=inputs_identity(cfg, ctx.ds, len(ctx.rows)))


def extract_range(cfg: ExtractConfig, rows: tuple[int, int], owner: str | None = None) -> list[dict]:
    """One dask task: open a range writer on the prepared split, process its pending rows.

    ``owner`` (the coordinator's token) lets a retry of this task take over the lock of an attempt
    whose worker died, on any host.
    """
    from zs.store import open_store

    ctx = build_context(cfg)
    store = open_store(cfg.store, mode="a")
    with store.open_writer(cfg.split, rows=rows, owner=owner) as writer:
        failures = process_rows(ctx, writer, writer.pending(), writer.meta["chunk_images"], progress=cfg.progress)
    return failures


def _dask_ranges(n: int, chunk: int, parts: int) -> list[tuple[int, int]]:
    chunks = -(-n // chunk)
    per = max(1, -(-chunks // parts))
    return [(a * chunk, min(n, (a + per) * chunk)) for a in range(0, chunks, per)]


def _run_dask(cfg: ExtractConfig, meta: dict) -> list[dict]:
    from dask.distributed import Client, LocalCluster

    from zs.runtime import connect_dask

    cluster = None
    if cfg.dask_scheduler:
        client = connect_dask(cfg.dask_scheduler)
    else:
        cluster = LocalCluster(n_workers=cfg.dask_workers, threads_per_worker=1, processes=cfg.dask_processes,
                               dashboard_address=None)
        client = Client(cluster)
    try:
        n_workers = max(1, len(client.scheduler_info().get("workers", {})) or cfg.dask_workers)
        ranges = _dask_ranges(meta["num_images"], meta["chunk_images"], 2 * n_workers)
        worker_cfg = dataclasses.replace(cfg, progress=False, dask_workers=0, dask_scheduler=None)
        owner = uuid.uuid4().hex  # this run's token on its range locks
        futures = [client.submit(extract_range, worker_cfg, r, owner, pure=False) for r in ranges]
        failures = [f for part in client.gather(futures) for f in part]
    finally:
        client.close()
        if cluster is not None:
            cluster.close()
    return failures


def run(cfg: ExtractConfig) -> ExtractResult:
    """Extract one split into the store (creating it on first use); see ``zs extract --help``."""
    check_store_out(cfg.store)
    with disk_full_is_error(f"store {cfg.store}", "finished chunks are kept; free some space and rerun the "
                            "same command to resume"):
        return _run(cfg)


def _run(cfg: ExtractConfig) -> ExtractResult:
    from zs.extract.store_setup import open_or_create_store, write_failures, write_seen_head
    from zs.store.layout import Location
    from zs.store.reach import check_reachable

    if cfg.views < 1:
        raise ZsError(f"--views {cfg.views}: must be >= 1")
    if cfg.shard and (cfg.dask_workers or cfg.dask_scheduler):
        raise ZsError("--shard runs one writer per process: drop --dask-workers/--dask-scheduler")
    check_reachable(Location(cfg.store))  # a bad endpoint or bucket fails before any model loads
    if cfg.dask_scheduler:  # so does a scheduler that cannot be reached (before the store is created)
        from zs.runtime import connect_dask

        connect_dask(cfg.dask_scheduler).close()
    t0 = time.perf_counter()
    ctx = build_context(cfg)
    store = open_or_create_store(cfg.store, seg=ctx.seg, vocab=ctx.vocab, clip=ctx.clip, split=cfg.split,
                                 ds=ctx.ds, num_images=len(ctx.rows), vocab_source=vocab_source(cfg),
                                 compute=_compute(cfg))
    write_seen_head(store, ctx.seg, ctx.vocab)
    params = split_params(ctx)
    meta = store.prepare_split(cfg.split, **params)
    if cfg.shard:
        return _run_shard(cfg, ctx, store, meta, t0)
    if cfg.dask_workers or cfg.dask_scheduler:
        failures = _run_dask(cfg, meta)
        store.finalize_split(cfg.split)
    else:
        with store.open_writer(cfg.split, **params) as writer:
            todo = writer.pending()
            failures = process_rows(ctx, writer, todo, meta["chunk_images"], progress=cfg.progress)
    write_failures(store, cfg.split, failures)
    done = _count_done(store, cfg.split)
    if failures:
        log.warning("%d image(s) failed; see %s/%s/extract_failures.json", len(failures), store.url, cfg.split)
    return ExtractResult(store=store.url, split=cfg.split, num_rows=len(ctx.rows), written=done,
                         failures=failures, seconds=time.perf_counter() - t0)


def _run_shard(cfg: ExtractConfig, ctx: Context, store, meta: dict, t0: float) -> ExtractResult:
    """One of N independent writers: its chunk-aligned rows only, no consolidation (see zs.extract.shards)."""
    from zs.extract.shards import check_plan, failures_name, shard_rows

    a, b = shard_rows(meta["num_images"], meta["chunk_images"], cfg.shard)
    check_plan(store, cfg.split, cfg.shard)
    with store.open_writer(cfg.split, rows=(a, b)) as writer:
        failures = process_rows(ctx, writer, writer.pending(), meta["chunk_images"], progress=cfg.progress)
    done = (b - a) - len(writer.pending())
    store.write_json(failures, cfg.split, failures_name(cfg.shard))
    return ExtractResult(store=store.url, split=cfg.split, num_rows=b - a, written=done, failures=failures,
                         seconds=time.perf_counter() - t0, rows=(a, b))


def _count_done(store, split: str) -> int:
    from zs.store import open_store

    return len(open_store(store.url).split(split).images(columns=["row"]))
