"""Qualitative panels: the same validation images segmented by each method, as PNG.

A panel row is one image: the image, its ground truth, then one prediction
per column (a run, or a method's first run in a batch report). Segments are
filled with their category's colour (the ground-truth JSON's ``color`` when
the category table has one, else a fixed colour per category id), so a class
has one colour in every column. Unseen-class segments are outlined in white
and labelled; an unseen ground-truth segment that a prediction gives to a
seen class is outlined in red and labelled with that seen class: the
mistake zero-shot methods make most.

Images are a fixed, seeded choice (:func:`choose_images`): those holding an
unseen class first.
"""

from __future__ import annotations

import colorsys
import dataclasses
import functools

import numpy as np

UNSEEN_OUTLINE = (255, 255, 255)
MISTAKE_OUTLINE = (230, 30, 30)
ALPHA = 0.6  # weight of the class colour over the image
HEADER_H = 22
MIN_LABEL_PX = 30  # segments smaller than this (at tile size) are outlined but not labelled


@dataclasses.dataclass
class Column:
    """One column of a panel grid: a title and per image (seg [H, W], segments) or a one-line problem."""

    title: str
    panoptic: dict = dataclasses.field(default_factory=dict)  # image_id -> (seg, segments)
    problem: str | None = None  # why this column has no predictions (drawn as a grey tile)


@dataclasses.dataclass
class Row:
    """One image: the picture (None if it could not be read), its ground truth."""

    image_id: int
    name: str
    image: np.ndarray | None  # [H, W, 3] uint8
    gt: tuple  # (ids [H, W], segments)
    problem: str | None = None


def choose_images(gt_reader, image_ids, unseen_ids, n: int = 8, seed: int = 0) -> list[int]:
    """``n`` image ids: a seeded shuffle of those holding an unseen (non-crowd) segment, then of the rest."""
    unseen = {int(u) for u in unseen_ids}
    rng = np.random.default_rng(seed)
    has, rest = [], []
    for i in sorted(int(i) for i in image_ids):
        ann = gt_reader.by_image.get(i) or {}
        segs = ann.get("segments_info", [])
        (has if any(int(s["category_id"]) in unseen and not s.get("iscrowd") for s in segs) else rest).append(i)
    return ([has[j] for j in rng.permutation(len(has))] + [rest[j] for j in rng.permutation(len(rest))])[:n]


def category_colors(categories: list[dict]) -> dict[int, tuple[int, int, int]]:
    """category id -> RGB: the table's ``color`` if given, else a fixed colour per id (golden-ratio hues)."""
    out = {}
    for c in categories:
        cid = int(c["id"])
        if c.get("color") and len(c["color"]) == 3:
            out[cid] = tuple(int(v) for v in c["color"])
        else:
            h = (cid * 0.618033988749895) % 1.0
            s, v = (0.65, 0.95) if c.get("isthing", 1) else (0.45, 0.75)
            out[cid] = tuple(int(255 * x) for x in colorsys.hsv_to_rgb(h, s, v))
    return out


@functools.lru_cache(maxsize=8)
def _font(size: int):
    from matplotlib import font_manager
    from PIL import ImageFont

    return ImageFont.truetype(font_manager.findfont("DejaVu Sans"), size)


class PanelStyle:
    """Colours, names and the unseen set of a vocabulary; draws tiles."""

    def __init__(self, categories: list[dict], unseen_ids, tile: int = 200):
        self.colors = category_colors(categories)
        self.names = {int(c["id"]): str(c["name"]) for c in categories}
        self.unseen = {int(u) for u in unseen_ids}
        self.tile = int(tile)

    def size(self, hw) -> tuple[int, int]:
        """Tile (height, width): the longer side is ``tile`` pixels."""
        h, w = int(hw[0]), int(hw[1])
        s = self.tile / max(h, w)
        return max(1, round(h * s)), max(1, round(w * s))

    def image_tile(self, image: np.ndarray | None, hw, note: str | None = None) -> np.ndarray:
        from PIL import Image

        th, tw = self.size(hw)
        if image is None:
            return _note(np.full((th, tw, 3), 200, np.uint8), note or "image missing")
        return np.asarray(Image.fromarray(image).resize((tw, th), Image.BILINEAR))

    def seg_tile(self, image: np.ndarray | None, seg: np.ndarray, segments: list[dict],
                 gt: tuple | None = None) -> np.ndarray:
        """Colour fill of ``seg`` over the image; unseen outlined + labelled; with ``gt``: mistakes in red."""
        th, tw = self.size(seg.shape)
        ids = _resize_ids(seg, (th, tw))  # [th, tw]
        cat = {int(s["id"]): int(s["category_id"]) for s in segments}
        lut_ids = np.array(sorted(cat), dtype=np.int64)
        classes = _map(ids, cat, fill=-1)  # [th, tw] category per pixel, -1 void
        fill = np.zeros((th, tw, 3), np.float32)
        for cid in set(cat.values()):
            fill[classes == cid] = self.colors.get(cid, (128, 128, 128))
        base = self.image_tile(image, seg.shape).astype(np.float32) if image is not None else np.full(
            (th, tw, 3), 90, np.float32)
        labelled = classes >= 0
        out = np.where(labelled[..., None], (1 - ALPHA) * base + ALPHA * fill, 0.35 * base).astype(np.uint8)
        labels = []
        for sid in lut_ids:
            if cat[int(sid)] in self.unseen:
                region = ids == sid
                _outline(out, region, UNSEEN_OUTLINE)
                labels.append((region, self.names.get(cat[int(sid)], str(cat[int(sid)])), (0, 0, 0), (255, 255, 255)))
        if gt is not None:
            labels += self._mistakes(out, classes, gt)
        return _draw_labels(out, labels)

    def _mistakes(self, out: np.ndarray, classes: np.ndarray, gt: tuple) -> list:
        """Unseen GT segments whose pixels are mostly predicted as one seen class: red outline + that class."""
        gt_ids = _resize_ids(gt[0], classes.shape)
        found = []
        for s in gt[1]:
            cid = int(s["category_id"])
            if cid not in self.unseen or s.get("iscrowd"):
                continue
            region = gt_ids == int(s["id"])
            pred = classes[region]
            pred = pred[pred >= 0]
            if pred.size == 0:
                continue
            values, counts = np.unique(pred, return_counts=True)
            top = int(values[counts.argmax()])
            if top not in self.unseen and counts.max() * 2 >= region.sum():
                _outline(out, region, MISTAKE_OUTLINE)
                found.append((region, f"{self.names.get(top, top)} ✗", (255, 255, 255), MISTAKE_OUTLINE))
        return found


def _map(ids: np.ndarray, table: dict[int, int], fill: int) -> np.ndarray:
    out = np.full(ids.shape, fill, dtype=np.int64)
    for k, v in table.items():
        out[ids == k] = v
    return out


def _resize_ids(ids: np.ndarray, hw) -> np.ndarray:
    """Nearest-neighbour resize of a label map to (h, w)."""
    h, w = ids.shape
    ys = np.minimum((np.arange(hw[0]) + 0.5) * h / hw[0], h - 1).astype(np.int64)
    xs = np.minimum((np.arange(hw[1]) + 0.5) * w / hw[1], w - 1).astype(np.int64)
    return ids[ys][:, xs]


def _outline(out: np.ndarray, region: np.ndarray, color) -> None:
    """Paint the 2-pixel inner border of ``region`` with ``color`` (in place)."""
    inner = region.copy()
    for _ in range(2):
        shrunk = inner.copy()
        shrunk[1:] &= inner[:-1]
        shrunk[:-1] &= inner[1:]
        shrunk[:, 1:] &= inner[:, :-1]
        shrunk[:, :-1] &= inner[:, 1:]
        inner = shrunk
    out[region & ~inner] = color


def _draw_labels(tile: np.ndarray, labels: list) -> np.ndarray:
    """Text boxes at each region's most central pixel (regions too small are skipped)."""
    from PIL import Image, ImageDraw

    img = Image.fromarray(tile)
    draw = ImageDraw.Draw(img)
    font = _font(11)
    placed: list[tuple[int, int, int, int]] = []
    for region, text, fg, bg in labels:
        if region.sum() < MIN_LABEL_PX:
            continue
        ys, xs = np.nonzero(region)
        k = int(np.argmin((ys - ys.mean()) ** 2 + (xs - xs.mean()) ** 2))
        x0, y0, x1, y1 = draw.textbbox((0, 0), text, font=font)
        w, h = x1 - x0 + 4, y1 - y0 + 2
        x = int(np.clip(xs[k] - w // 2, 0, max(0, tile.shape[1] - w)))
        y = _free_y(placed, x, int(ys[k] - h // 2), w, h, tile.shape[0])
        placed.append((x, y, x + w, y + h))
        draw.rectangle((x, y, x + w, y + h), fill=bg)
        draw.text((x + 2 - x0, y + 1 - y0), text, fill=fg, font=font)
    return np.asarray(img)


def _free_y(placed, x: int, y: int, w: int, h: int, height: int) -> int:
    """A y near ``y`` where a w x h box at x overlaps no placed box (else ``y`` clipped to the tile)."""
    for dy in (0, h + 1, -(h + 1), 2 * (h + 1), -2 * (h + 1)):
        yy = int(np.clip(y + dy, 0, max(0, height - h)))
        if not any(x < bx1 and bx0 < x + w and yy < by1 and by0 < yy + h for bx0, by0, bx1, by1 in placed):
            return yy
    return int(np.clip(y, 0, max(0, height - h)))


def _note(tile: np.ndarray, text: str) -> np.ndarray:
    """A grey tile with ``text`` wrapped onto it."""
    import textwrap

    from PIL import Image, ImageDraw

    img = Image.fromarray(tile)
    draw = ImageDraw.Draw(img)
    width = max(8, tile.shape[1] // 7)
    draw.multiline_text((4, 4), "\n".join(textwrap.wrap(text, width)[:8]), fill=(60, 0, 0), font=_font(11))
    return np.asarray(img)


def render_grid(rows: list[Row], columns: list[Column], style: PanelStyle) -> bytes:
    """PNG: a header of column titles, then per image: image | ground truth | each column."""
    from PIL import Image, ImageDraw

    titles = ["image", "ground truth", *(c.title for c in columns)]
    tiles = [_row_tiles(r, columns, style) for r in rows]
    heights = [max(t.shape[0] for t in row) for row in tiles]
    width = style.tile
    gap = 4
    canvas = Image.new("RGB", (len(titles) * (width + gap) + gap, HEADER_H + sum(h + gap for h in heights) + gap),
                       (255, 255, 255))
    draw = ImageDraw.Draw(canvas)
    font = _font(12)
    for j, title in enumerate(titles):
        draw.text((gap + j * (width + gap), 4), _fit(draw, title, font, width), fill=(0, 0, 0), font=font)
    y = HEADER_H
    for row, h in zip(tiles, heights):
        for j, tile in enumerate(row):
            canvas.paste(Image.fromarray(tile), (gap + j * (width + gap), y))
        y += h + gap
    import io

    buf = io.BytesIO()
    canvas.save(buf, format="PNG")
    return buf.getvalue()


def _fit(draw, text: str, font, width: int) -> str:
    """``text`` shortened with '…' to fit ``width`` pixels."""
    if draw.textlength(text, font=font) <= width:
        return text
    while text and draw.textlength(text + "…", font=font) > width:
        text = text[:-1]
    return text + "…"


def _row_tiles(row: Row, columns: list[Column], style: PanelStyle) -> list[np.ndarray]:
    hw = row.gt[0].shape
    tiles = [style.image_tile(row.image, hw, row.problem), style.seg_tile(row.image, row.gt[0], row.gt[1])]
    for col in columns:
        pred = col.panoptic.get(row.image_id)
        if pred is None:
            tiles.append(_note(np.full((*style.size(hw), 3), 220, np.uint8), col.problem or "not evaluated"))
        else:
            tiles.append(style.seg_tile(row.image, pred[0], pred[1], gt=row.gt))
    return tiles
