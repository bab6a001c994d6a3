"""Rendering one synthetic image: textured stuff regions, then occluding shape instances.

Pure numpy, deterministic from the ``numpy.random.Generator`` passed in.
Returns the RGB image, the segment-id map (0 = void, never used here: every
pixel belongs to a stuff region or a thing) and COCO panoptic segments_info.
"""

from __future__ import annotations

import colorsys
import dataclasses

import numpy as np

from zs.synth.world import ALL_COLOURS, WorldClass


@dataclasses.dataclass(frozen=True)
class RenderConfig:
    size: int = 64
    min_things: int = 2
    max_things: int = 5
    min_radius: float = 0.09  # fraction of the image side
    max_radius: float = 0.19
    max_regions: int = 3
    min_visible: float = 0.55  # every instance keeps at least this share of its area visible
    noise_std: float = 6.0


def _grid(size: int) -> tuple[np.ndarray, np.ndarray]:
    ys, xs = np.mgrid[0:size, 0:size].astype(np.float32) + 0.5
    return xs, ys  # [H,W] each


# -- stuff ---------------------------------------------------------------------
def _direction_coords(direction: str, xs, ys, rng) -> tuple[np.ndarray, np.ndarray]:
    """(across, along): the coordinate the texture varies with, and the one it runs along."""
    if direction == "horizontal":  # bands run left-right: vary with y
        return ys, xs
    if direction == "vertical":
        return xs, ys
    sign = 1.0 if rng.random() < 0.5 else -1.0  # either diagonal
    return (xs + sign * ys) / np.sqrt(2), (xs - sign * ys) / np.sqrt(2)


def _stuff_tones(rng) -> tuple[np.ndarray, np.ndarray]:
    """Two desaturated tones of a random tint (tint is a nuisance, not a class cue)."""
    hue, sat = rng.random(), rng.uniform(0.05, 0.3)
    light = rng.uniform(0.62, 0.85)
    dark = light - rng.uniform(0.25, 0.4)
    a = np.array(colorsys.hsv_to_rgb(hue, sat, light)) * 255
    b = np.array(colorsys.hsv_to_rgb(hue, sat, dark)) * 255
    return a.astype(np.float32), b.astype(np.float32)


def render_texture(cls: WorldClass, size: int, rng) -> np.ndarray:
    """[H,W,3] float32 texture of a stuff class over the whole canvas."""
    xs, ys = _grid(size)
    across, along = _direction_coords(cls.attributes["direction"], xs, ys, rng)
    period = rng.uniform(0.09, 0.15) * size
    phase = rng.uniform(0, 2 * np.pi)
    pattern = cls.attributes["pattern"]
    if pattern == "waves":
        amp, wavelength = rng.uniform(0.35, 0.6) * period, rng.uniform(0.25, 0.4) * size
        across = across + amp * np.sin(2 * np.pi * along / wavelength + rng.uniform(0, 2 * np.pi))
    if pattern == "zigzag":  # lines bent into a triangle wave (sharp corners, shorter than waves)
        amp, wavelength = rng.uniform(0.35, 0.6) * period, rng.uniform(0.12, 0.2) * size
        t = along / wavelength + rng.random()
        across = across + amp * (4 * np.abs(t - np.floor(t + 0.5)) - 1)
    band = np.sin(2 * np.pi * across / period + phase) > 0  # [H,W] bool
    if pattern == "dashes":  # lines broken into dashes along their direction
        dash = rng.uniform(2.5, 3.5) * period
        band &= np.sin(2 * np.pi * along / dash + rng.uniform(0, 2 * np.pi)) > -0.6
    if pattern == "dots":  # rows of round dots, twice as dense along the row as across
        step = 0.5 * period
        u = (across + phase * period / (2 * np.pi)) / period
        v = (along + rng.uniform(0, step)) / step
        band = (u - np.round(u)) ** 2 + 0.25 * (v - np.round(v)) ** 2 < 0.06
    a, b = _stuff_tones(rng)
    return np.where(band[..., None], a, b)  # [H,W,3]


def _regions(n: int, size: int, rng) -> np.ndarray:
    """[H,W] int region index in 0..n-1: Voronoi cells of n random seeds."""
    xs, ys = _grid(size)
    seeds = rng.uniform(0.1, 0.9, size=(n, 2)) * size  # [n,2]
    d = (xs[None] - seeds[:, 0, None, None]) ** 2 + (ys[None] - seeds[:, 1, None, None]) ** 2  # [n,H,W]
    return np.argmin(d, axis=0)


# -- things --------------------------------------------------------------------
def shape_mask(shape: str, cx: float, cy: float, r: float, theta: float, size: int) -> np.ndarray:
    """[H,W] bool mask of a rotated shape centred at (cx, cy) with radius r."""
    xs, ys = _grid(size)
    dx, dy = xs - cx, ys - cy
    c, s = np.cos(theta), np.sin(theta)
    u, v = c * dx + s * dy, -s * dx + c * dy  # local coordinates
    if shape == "circle":
        return u**2 + v**2 <= r**2
    if shape == "square":
        return (np.abs(u) <= 0.85 * r) & (np.abs(v) <= 0.85 * r)
    if shape == "cross":
        arm = 0.36 * r
        return ((np.abs(u) <= r) & (np.abs(v) <= arm)) | ((np.abs(v) <= r) & (np.abs(u) <= arm))
    if shape == "triangle":
        big = 1.25 * r  # circumradius
        inside = np.ones_like(u, dtype=bool)
        for k in range(3):
            a = np.pi / 2 + 2 * np.pi * k / 3
            inside &= (u * np.cos(a) + v * np.sin(a)) <= big / 2
        return inside
    return _extra_shape_mask(shape, u, v, r)


def _extra_shape_mask(shape: str, u: np.ndarray, v: np.ndarray, r: float) -> np.ndarray:
    """The catalogue's extra shapes (``world.EXTRA_SHAPES``) in local coordinates."""
    d2 = u**2 + v**2
    if shape == "ring":
        return (d2 <= r**2) & (d2 >= (0.55 * r) ** 2)
    if shape == "bar":
        return (np.abs(u) <= 1.15 * r) & (np.abs(v) <= 0.38 * r)
    if shape == "semicircle":
        return (d2 <= (1.1 * r) ** 2) & (v >= -0.25 * r)
    if shape == "star":  # five points: radius between 0.45 r and 1.15 r by angle
        angle = np.arctan2(v, u)
        edge = 0.45 * r + 0.7 * r * np.abs(np.cos(2.5 * angle)) ** 3
        return np.sqrt(d2) <= edge
    raise ValueError(f"unknown shape {shape!r}")


def _thing_colour(cls: WorldClass, rng) -> np.ndarray:
    base = np.array(ALL_COLOURS[cls.attributes["colour"]], np.float32)
    return np.clip(base + rng.uniform(-22, 22, size=3) + rng.uniform(-18, 18), 0, 255)


def _place_things(classes: list[WorldClass], cfg: RenderConfig, rng) -> list[tuple[WorldClass, np.ndarray]]:
    """Sample instances (painter's order) so that each keeps >= min_visible of its area."""
    n = int(rng.integers(cfg.min_things, cfg.max_things + 1))
    placed: list[tuple[WorldClass, np.ndarray]] = []
    for _ in range(n):
        for _try in range(20):
            cls = classes[int(rng.integers(len(classes)))]
            r = rng.uniform(cfg.min_radius, cfg.max_radius) * cfg.size
            cx, cy = rng.uniform(r * 0.6, cfg.size - r * 0.6, size=2)
            m = shape_mask(cls.attributes["shape"], cx, cy, r, rng.uniform(0, 2 * np.pi), cfg.size)
            if m.sum() < 12:
                continue
            cover = m.copy()
            ok = True
            for j in range(len(placed) - 1, -1, -1):  # later instances cover earlier ones
                full = placed[j][1]
                if (full & ~cover).sum() < cfg.min_visible * full.sum():
                    ok = False
                    break
                cover |= full
            if ok:
                placed.append((cls, m))
                break
    return placed


# -- the image -----------------------------------------------------------------
def _bbox(mask: np.ndarray) -> list[int]:
    ys, xs = np.nonzero(mask)
    return [int(xs.min()), int(ys.min()), int(xs.max() - xs.min() + 1), int(ys.max() - ys.min() + 1)]


def render_image(
    things: list[WorldClass], stuff: list[WorldClass], cfg: RenderConfig, rng
) -> tuple[np.ndarray, np.ndarray, list[dict]]:
    """(image uint8 [H,W,3], segment ids int32 [H,W], segments_info) for one image."""
    size = cfg.size
    n_regions = int(rng.integers(1, min(cfg.max_regions, len(stuff)) + 1))
    region_classes = [stuff[i] for i in rng.choice(len(stuff), size=n_regions, replace=False)]
    region = _regions(n_regions, size, rng)  # [H,W]
    image = np.zeros((size, size, 3), np.float32)
    ids = np.zeros((size, size), np.int32)
    segments: list[tuple[WorldClass, int]] = []
    for k, cls in enumerate(region_classes):
        m = region == k
        image[m] = render_texture(cls, size, rng)[m]
        segments.append((cls, len(segments) + 1))
        ids[m] = segments[-1][1]
    for cls, m in _place_things(things, cfg, rng):
        image[m] = _thing_colour(cls, rng)
        segments.append((cls, len(segments) + 1))
        ids[m] = segments[-1][1]
    image += rng.normal(0, cfg.noise_std, size=image.shape)
    info = []
    for cls, sid in segments:
        m = ids == sid
        if not m.any():  # a stuff region fully covered by things
            continue
        info.append({"id": sid, "category_id": cls.id, "iscrowd": 0, "area": int(m.sum()), "bbox": _bbox(m)})
    return np.clip(image, 0, 255).round().astype(np.uint8), ids, info


def ids_to_rgb(ids: np.ndarray) -> np.ndarray:
    """COCO panoptic encoding: id = R + 256 G + 256^2 B -> [H,W,3] uint8."""
    return np.stack([ids % 256, (ids // 256) % 256, ids // 65536], axis=-1).astype(np.uint8)


def rgb_to_ids(rgb: np.ndarray) -> np.ndarray:
    rgb = rgb.astype(np.int64)
    return (rgb[..., 0] + 256 * rgb[..., 1] + 65536 * rgb[..., 2]).astype(np.int32)
