"""Shared pytest fixtures. Tests run on CPU with tiny models and generated data."""

import os
from pathlib import Path

import pytest

os.environ.setdefault("CUDA_VISIBLE_DEVICES", "")  # tests force CPU
os.environ.setdefault("HF_HUB_OFFLINE", "1")  # never reach a hub
os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")

SHARED = Path(__file__).resolve().parents[1].parent / "shared"
REFERENCE = SHARED / "reference"


@pytest.fixture(scope="session")
def reference_dir() -> Path:
    if not REFERENCE.is_dir():
        pytest.fail(f"reference fixtures not found at {REFERENCE} (../shared/reference beside the checkout)")
    return REFERENCE


def run_cli(args, expect=0):
    """Run the zs CLI in-process; returns (exit_code, output)."""
    from click.testing import CliRunner

    from zs.cli import cli

    r = CliRunner().invoke(cli, [str(a) for a in args], catch_exceptions=True)
    return r
