"""The models shipped inside the package for the synthetic world.

``zs/assets/synth_segmenter/``: a segmenter directory (tiny Mask2Former trained
on the seen classes of the default world, see docs/synth.md for the command).
``zs/assets/synth_clip/``: ``open_clip_config.json`` + ``weights.pt`` of the
tiny open_clip model trained on the same world.
"""

from __future__ import annotations

from pathlib import Path

from zs.errors import ZsError

ASSETS = Path(__file__).resolve().parents[1] / "assets"
CLIP_CONFIG = "open_clip_config.json"
CLIP_WEIGHTS = "weights.pt"


def default_segmenter_path() -> Path:
    """The shipped synthetic-world segmenter directory."""
    path = ASSETS / "synth_segmenter"
    if not (path / "config.json").is_file():
        raise ZsError(f"{path}: the shipped synthetic segmenter is missing (reinstall zs or train one, docs/synth.md)")
    return path


def default_clip_paths() -> tuple[Path, Path]:
    """(open_clip config JSON, weights file) of the shipped synthetic-world CLIP."""
    root = ASSETS / "synth_clip"
    config, weights = root / CLIP_CONFIG, root / CLIP_WEIGHTS
    if not config.is_file() or not weights.is_file():
        raise ZsError(f"{root}: the shipped synthetic CLIP is missing (reinstall zs or train one, docs/synth.md)")
    return config, weights


def default_world_args() -> dict:
    """``zs synth`` arguments (seed, train, val, size) of the world the shipped models were trained on."""
    from zs.synth.dataset import default_world_args as _args

    return _args()
