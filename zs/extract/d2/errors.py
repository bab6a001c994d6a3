"""Errors of the detectron2 converter: they name the file and the offending keys."""

from __future__ import annotations

from typing import Iterable

from zs.errors import ConfigError, ZsError

MAX_LISTED = 12  # keys shown in one message; the rest are counted


def format_keys(keys: Iterable[str], limit: int = MAX_LISTED) -> str:
    """'a, b, c' or 'a, b, ... (+N more)'."""
    keys = sorted(keys)
    shown = ", ".join(keys[:limit])
    return shown + (f", ... (+{len(keys) - limit} more)" if len(keys) > limit else "")


class D2ConfigError(ConfigError):
    """A detectron2 config cannot be read, has unknown keys, or asks for an unsupported model."""


class UnsupportedModelError(D2ConfigError):
    """The config describes a backbone/pixel decoder/decoder the converter cannot express."""


class CheckpointMismatchError(ZsError):
    """Checkpoint and config do not fit: missing/unexpected keys or shape mismatches."""

    def __init__(self, source: str, *, missing=(), unexpected=(), shapes=()):
        self.missing = sorted(missing)
        self.unexpected = sorted(unexpected)
        self.shapes = list(shapes)  # [(key, got, expected)]
        parts = []
        if self.missing:
            parts.append(f"missing keys ({len(self.missing)}): {format_keys(self.missing)}")
        if self.unexpected:
            parts.append(f"unexpected keys ({len(self.unexpected)}): {format_keys(self.unexpected)}")
        if self.shapes:
            listed = "; ".join(f"{k} {tuple(g)} != expected {tuple(e)}" for k, g, e in self.shapes[:MAX_LISTED])
            more = f"; ... (+{len(self.shapes) - MAX_LISTED} more)" if len(self.shapes) > MAX_LISTED else ""
            parts.append(f"shape mismatches ({len(self.shapes)}): {listed}{more}")
        super().__init__(f"{source} does not fit its config: " + " | ".join(parts))
