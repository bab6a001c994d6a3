"""Shared fixtures: fixture A converted once per session; a tiny random spec for round trips."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import torch

FIXTURE_A = Path(__file__).resolve().parents[2].parent / "shared" / "reference" / "d2-mask2former" / "A"


@pytest.fixture(scope="session")
def fixture_a() -> Path:
    if not (FIXTURE_A / "model_final.pth").is_file():
        pytest.fail(f"reference fixture A not found at {FIXTURE_A}")
    return FIXTURE_A


@pytest.fixture(scope="session")
def manifest_a(fixture_a) -> dict:
    return json.loads((fixture_a / "manifest.json").read_text())


@pytest.fixture(scope="session")
def converted_a(fixture_a, tmp_path_factory) -> Path:
    """zs convert-checkpoint of fixture A (once per test session)."""
    from zs.extract.d2 import convert_checkpoint

    torch.set_num_threads(1)
    out = tmp_path_factory.mktemp("convert") / "segA"
    convert_checkpoint(fixture_a / "config.yaml", fixture_a / "model_final.pth", out)
    return out


@pytest.fixture(scope="session")
def segmenter_a(converted_a):
    from zs.extract.segmenter import load_segmenter

    return load_segmenter(converted_a, device="cpu")
