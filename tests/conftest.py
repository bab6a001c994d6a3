"""Shared pytest fixtures. Tests run on CPU with tiny models and generated data."""

import os
from pathlib import Path

import pytest

# Tests run on the CPU: GPUs are hidden unless ZS_TEST_GPU=1 (benchmarks/gpu_check.sh sets it
# to run the tests marked `gpu` on a GPU host; the other tests still pass --device cpu).
if os.environ.get("ZS_TEST_GPU") != "1":
    os.environ.setdefault("CUDA_VISIBLE_DEVICES", "")
os.environ.setdefault("HF_HUB_OFFLINE", "1")  # never reach a hub
os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")

SHARED = Path(__file__).resolve().parents[1].parent / "shared"
REFERENCE = SHARED / "reference"


def pytest_collection_modifyitems(config, items):
    """Tests marked `gpu` skip unless ZS_TEST_GPU=1; with it and no CUDA device, the run stops."""
    if os.environ.get("ZS_TEST_GPU") == "1":
        import torch

        if not torch.cuda.is_available():
            raise pytest.UsageError("ZS_TEST_GPU=1 but torch sees no CUDA device")
        return
    skip = pytest.mark.skip(reason="GPU test: run with ZS_TEST_GPU=1 on a CUDA host (benchmarks/gpu_check.sh)")
    for item in items:
        if item.get_closest_marker("gpu") is not None:
            item.add_marker(skip)


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
