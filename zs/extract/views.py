"""Image views: the test-time view and seeded augmented views for training.

A :class:`View` says how one stored row was made from its image: a crop in
original pixels, an optional horizontal flip, and a scale factor applied to the
test-time shortest-edge size. ``view 0`` of every image is the plain
test-time view; ``--views K`` adds K-1 seeded augmented views (PADing's
generator sees several random views of each training image).
"""

from __future__ import annotations

import dataclasses

import numpy as np


@dataclasses.dataclass(frozen=True)
class View:
    view: int = 0
    flip: bool = False
    crop_x0: int = 0
    crop_y0: int = 0
    crop_h: int = 0  # 0 = full height
    crop_w: int = 0  # 0 = full width
    scale: float = 1.0  # multiplies the test-time shortest edge / longest edge


@dataclasses.dataclass(frozen=True)
class AugmentConfig:
    """Seeded augmentation of training views (flip, scale jitter, crop)."""

    flip_prob: float = 0.5
    scale_range: tuple[float, float] = (0.75, 1.25)
    crop_range: tuple[float, float] = (0.6, 1.0)  # relative crop side, detectron2 "relative_range"


def full_view(height: int, width: int) -> View:
    return View(view=0, flip=False, crop_x0=0, crop_y0=0, crop_h=height, crop_w=width, scale=1.0)


def sample_views(height: int, width: int, k: int, *, seed: int, image_id: int,
                 cfg: AugmentConfig = AugmentConfig()) -> list[View]:
    """View 0 (test-time) plus k-1 augmented views, reproducible from (seed, image_id)."""
    views = [full_view(height, width)]
    rng = np.random.default_rng([int(seed) % (2**32), int(image_id) % (2**32)])
    for v in range(1, k):
        rel_h, rel_w = rng.uniform(*cfg.crop_range, size=2)
        ch, cw = max(1, int(round(height * rel_h))), max(1, int(round(width * rel_w)))
        y0 = int(rng.integers(0, height - ch + 1))
        x0 = int(rng.integers(0, width - cw + 1))
        flip = bool(rng.random() < cfg.flip_prob)
        scale = float(rng.uniform(*cfg.scale_range))
        views.append(View(view=v, flip=flip, crop_x0=x0, crop_y0=y0, crop_h=ch, crop_w=cw, scale=scale))
    return views


def apply_view(array: np.ndarray, view: View | None) -> np.ndarray:
    """Crop then flip an [H, W, ...] array (image or segment map) as ``view`` says."""
    if view is None:
        return array
    h = view.crop_h or array.shape[0]
    w = view.crop_w or array.shape[1]
    out = array[view.crop_y0: view.crop_y0 + h, view.crop_x0: view.crop_x0 + w]
    if view.flip:
        out = out[:, ::-1]
    return np.ascontiguousarray(out)
