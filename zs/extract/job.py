"""The extraction job: reader -> mapper -> writer under a runner (serial or dask).

* reader: decode images + panoptic PNGs on a thread pool, preprocess (views);
* mapper: batched segmenter forward (images of the same padded size together,
  as detectron2 runs test time), Hungarian matching, CLIP tokens;
* writer: ``SplitWriter.write`` per image (resumable: only ``pending()`` rows run).

A row is one (image, view). Everything a row needs is known before any work
(views are seeded per image), so rows can be sharded over dask workers as
disjoint chunk-aligned ranges of the same store; the result is identical to a
single-process run. Corrupt/missing inputs go to a failures table; their rows
stay pending and are retried by the next run.
"""

from __future__ import annotations

import concurrent.futures as cf
import dataclasses
import logging

import numpy as np
import torch

from zs.extract.datasets import ImageReadError
from zs.extract.forward import forward_images, intra_op_threads
from zs.extract.matching import MatchConfig, match_image
from zs.extract.views import View, full_view, sample_views
from zs.manifest import hash_obj

log = logging.getLogger(__name__)


@dataclasses.dataclass
class ExtractConfig:
    split: str
    store: str
    segmenter: str
    images: str
    json: str
    png: str
    vocab: str | None = None  # vocab.json; default: the dataset's categories + unseen list
    unseen: str | None = None  # class list file (ids or names); default PADing's 14 if present
    clip_model: str | None = None
    clip_weights: str | None = None
    masks: bool | None = None  # None: on for val, off otherwise
    views: int = 1
    batch_size: int = 4
    workers: int = 4  # image-decoding threads
    device: str = "cpu"
    seed: int = 0
    limit: int | None = None
    num_points: int = 12544
    chunk_images: int | None = None
    dask_workers: int = 0
    dask_scheduler: str | None = None
    dask_processes: bool = True
    shard: tuple[int, int] | None = None  # (I, N): write only shard I of N (zs.extract.shards)
    progress: bool = False

    @property
    def with_masks(self) -> bool:
        return self.split == "val" if self.masks is None else bool(self.masks)


@dataclasses.dataclass
class ExtractResult:
    store: str
    split: str
    num_rows: int
    written: int
    failures: list[dict]
    seconds: float
    rows: tuple[int, int] | None = None  # a shard's row range

    @property
    def images_per_second(self) -> float:
        return self.written / self.seconds if self.seconds > 0 else float("nan")


# -- context: everything built once per process ------------------------------------
@dataclasses.dataclass
class Context:
    cfg: ExtractConfig
    ds: object
    vocab: object
    seg: object
    clip: object | None
    rows: list[tuple[int, View]]  # row -> (dataset index, view)
    mask_shape: tuple[int, int] | None


def plan_rows(ds, cfg: ExtractConfig) -> list[tuple[int, View]]:
    n = len(ds) if cfg.limit is None else min(len(ds), int(cfg.limit))
    rows = []
    for i in range(n):
        info = ds.image_infos[i]
        h, w = int(info["height"]), int(info["width"])
        views = sample_views(h, w, cfg.views, seed=cfg.seed, image_id=int(info["id"])) if cfg.views > 1 \
            else [full_view(h, w)]
        rows.extend((i, v) for v in views)
    return rows


def planned_padded_size(ds, seg, index: int, view: View) -> tuple[int, int]:
    """(padded_h, padded_w) the segmenter input of one row will have, from the JSON image size."""
    from zs.extract.segmenter import _round_up, resized_size

    d, p = seg.prep.size_divisor, seg.prep
    info = ds.image_infos[index]
    ch, cw = view.crop_h or int(info["height"]), view.crop_w or int(info["width"])
    rh, rw = resized_size(ch, cw, p.shortest_edge * view.scale, p.longest_edge * view.scale)
    return _round_up(rh, d), _round_up(rw, d)


def mask_shape_for(ds, rows, seg) -> tuple[int, int]:
    """Largest (padded_h/4, padded_w/4) over the planned rows (from the JSON image sizes)."""
    sizes = [planned_padded_size(ds, seg, i, v) for i, v in rows]
    return max(h for h, _ in sizes) // 4, max(w for _, w in sizes) // 4


def inputs_identity(ctx_cfg: ExtractConfig, ds, n_rows: int) -> str:
    from zs.manifest import sha256_file

    return hash_obj({"json": sha256_file(ds.json_path), "views": ctx_cfg.views, "seed": ctx_cfg.seed,
                     "limit": ctx_cfg.limit, "rows": n_rows, "num_points": ctx_cfg.num_points})


# -- reader -------------------------------------------------------------------------
def stand_in(ctx: Context, row: int) -> dict:
    """Zero pixels of a row's planned padded size: it keeps its batch slot without being decoded.

    A segmenter's per-image outputs depend on the batch's shape, not on the other
    images' pixels (checked bit for bit in tests/faults), so a batch holding
    stand-ins for done or failed rows stores every real row exactly as the
    uninterrupted run does."""
    i, view = ctx.rows[row]
    ph, pw = planned_padded_size(ctx.ds, ctx.seg, i, view)
    return {"row": row, "stand_in": True, "pixels": torch.zeros(3, ph, pw),  # [3, Hp, Wp]
            "geometry": {"padded_h": ph, "padded_w": pw}}


def read_row(ctx: Context, row: int) -> dict:
    """Decode + preprocess one row; {'error': ...} instead of raising on bad input."""
    i, view = ctx.rows[row]
    info = ctx.ds.image_infos[i]
    try:
        sample = ctx.ds[i]
        if sample.image.shape[:2] != (int(info["height"]), int(info["width"])):
            raise ImageReadError(f"{info['file_name']}: decoded size {sample.image.shape[:2]} differs from "
                                 f"the JSON's {(info['height'], info['width'])}")
        pixels, geometry = ctx.seg.preprocess(sample.image, view=view)
    except ImageReadError as e:
        return {"row": row, "error": str(e), "image_id": int(info["id"]), "file_name": info["file_name"]}
    return {"row": row, "index": i, "view": view, "sample": sample, "pixels": pixels, "geometry": geometry}


# -- mapper -------------------------------------------------------------------------
def _segments_for_store(segments: list[dict]) -> list[dict]:
    return [{"segment_id": s["id"], "category_id": s["category_id"], "iscrowd": s["iscrowd"],
             "area": s["area"], "bbox": s["bbox"]} for s in segments]


def _mask_canvas(mask_logits: torch.Tensor, geometry: dict, shape: tuple[int, int]) -> np.ndarray:
    """Mask logits of the image's own frame [Q, ph/4, pw/4], placed top-left in [Q, *shape] (0 elsewhere)."""
    h, w = geometry["padded_h"] // 4, geometry["padded_w"] // 4
    canvas = np.zeros((mask_logits.shape[0], *shape), np.float32)  # [Q, mh, mw]
    canvas[:, :h, :w] = mask_logits[:, :h, :w].float().cpu().numpy()
    return canvas


def _clip_tokens(ctx: Context, item: dict, cache: dict) -> tuple[np.ndarray | None, np.ndarray | None]:
    if ctx.clip is None:
        return None, None
    from zs.extract.views import apply_view

    s = item["sample"]
    with intra_op_threads(1):  # numbers independent of the thread count (see zs.extract.forward)
        glob = ctx.clip.encode_images([apply_view(s.image, item["view"])])[0].numpy()  # [Dc]
        if item["index"] not in cache:  # segment tokens: from the original image, shared by its views
            cache.clear()
            masks = [s.segment_map == seg["id"] for seg in s.segments]
            cache[item["index"]] = ctx.clip.encode_segments(s.image, masks).numpy()  # [S, Dc]
    return glob, cache[item["index"]]


def map_batch(ctx: Context, items: list[dict], clip_cache: dict) -> list[tuple[int, object]]:
    """Forward a batch (grouped by padded size), match, CLIP; -> [(row, ImageRecord)]."""
    from zs.store import ImageRecord

    groups: dict[tuple[int, int], list[dict]] = {}
    for it in items:
        groups.setdefault((it["geometry"]["padded_h"], it["geometry"]["padded_w"]), []).append(it)
    out = []
    for group in groups.values():
        res = forward_images(ctx.seg, [it["pixels"] for it in group])  # thread/batch-independent numbers
        embed, logits, masks = res.query_embed.cpu(), res.class_logits.cpu(), res.mask_logits.cpu()
        for b, it in enumerate(group):
            if it.get("stand_in"):
                continue
            s, geo = it["sample"], it["geometry"]
            labels = [ctx.vocab.index_of_id(seg["category_id"]) for seg in s.segments]
            with intra_op_threads(1):  # matching at one thread too: its costs never depend on a BLAS split
                match, cost = match_image(logits[b], masks[b], s.segment_map, s.segments, labels, geo,
                                          seed=ctx.cfg.seed, image_id=s.image_id,
                                          cfg=MatchConfig(num_points=ctx.cfg.num_points))
            glob, seg_clip = _clip_tokens(ctx, it, clip_cache)
            rec = ImageRecord(
                image_id=s.image_id, file_name=s.file_name, height=s.image.shape[0], width=s.image.shape[1],
                geometry=geo, query_embed=embed[b].numpy(), query_logits=logits[b].numpy(),
                mask_logits=_mask_canvas(masks[b], geo, ctx.mask_shape) if ctx.mask_shape else None,
                clip_global=glob, segments=_segments_for_store(s.segments), segment_clip=seg_clip,
                match_segment=match, match_cost=cost)
            out.append((it["row"], rec))
    return sorted(out, key=lambda x: x[0])


# -- runner -------------------------------------------------------------------------
def batches_within_chunks(rows: list[int], batch_size: int, chunk: int) -> list[list[int]]:
    """Consecutive batches that never cross a store chunk (same batches in any sharding)."""
    out: list[list[int]] = []
    for r in rows:
        if out and len(out[-1]) < batch_size and out[-1][0] // chunk == r // chunk:
            out[-1].append(r)
        else:
            out.append([r])
    return out


def original_batches(rows: list[int], span: tuple[int, int], batch_size: int, chunk: int) -> list[list[int]]:
    """The batches an uninterrupted run over rows [span) forms, those holding a row of ``rows``."""
    todo = set(rows)
    return [b for b in batches_within_chunks(list(range(*span)), batch_size, chunk) if todo.intersection(b)]


def process_rows(ctx: Context, writer, rows: list[int], chunk: int, *, progress: bool = False) -> list[dict]:
    """Run reader -> mapper -> writer over ``rows``; returns the failures.

    Rows run in the batches of an uninterrupted run: a row that is done or
    fails keeps its slot as a stand-in, so a resumed or retried row is stored
    bit for bit as an uninterrupted run stores it.
    """
    from tqdm import tqdm

    failures: list[dict] = []
    clip_cache: dict = {}
    todo = set(rows)
    span = getattr(writer, "rows", (min(rows), max(rows) + 1) if rows else (0, 0))
    batches = original_batches(rows, span, ctx.cfg.batch_size, chunk)
    read = lambda r: read_row(ctx, r) if r in todo else stand_in(ctx, r)  # noqa: E731
    bar = tqdm(total=len(rows), unit="img", desc=f"extract {ctx.cfg.split}", disable=not progress)
    with cf.ThreadPoolExecutor(max_workers=max(1, ctx.cfg.workers)) as pool:
        pending = [pool.map(read, b) for b in batches[:2]]  # read ahead
        for k in range(len(batches)):
            items = list(pending.pop(0))
            if k + 2 < len(batches):
                pending.append(pool.map(read, batches[k + 2]))
            failures += [{key: it[key] for key in ("row", "image_id", "file_name", "error")}
                         for it in items if "error" in it]
            items = [stand_in(ctx, it["row"]) if "error" in it else it for it in items]
            if not all(it.get("stand_in") for it in items):
                for row, rec in map_batch(ctx, items, clip_cache):
                    writer.write(row, rec)
            bar.update(sum(1 for it in items if it["row"] in todo))
    bar.close()
    return failures
