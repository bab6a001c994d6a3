"""Helpers of the fault suite: run the real entry point, check the one-line error, hash what exists."""

from __future__ import annotations

import hashlib
import os
from pathlib import Path

import numpy as np


def zs(args, capsys) -> tuple[int, list[str], str]:
    """Run ``zs ARGS`` through the console entry point; (exit code, stderr lines, stdout)."""
    from zs.cli import main

    capsys.readouterr()
    code = 0
    try:
        main([str(a) for a in args])
    except SystemExit as e:
        code = e.code if isinstance(e.code, int) else 1
    io = capsys.readouterr()
    return code, [ln for ln in io.err.splitlines() if ln.strip()], io.out


def refused(args, capsys, *needles: str, code: int = 2) -> str:
    """Assert ``zs ARGS`` exits ``code`` with exactly one 'error: ...' line containing every needle."""
    got, err, _ = zs(args, capsys)
    text = "\n".join(err)
    assert got == code, f"exit {got}, expected {code}: {text}"
    assert "Traceback" not in text, text
    assert len(err) == 1 and err[0].startswith("error: "), err
    for n in needles:
        assert n in err[0], (n, err[0])
    if os.environ.get("ZS_ERRORS_LOG"):  # collect the messages (docs/errors.md is written from them)
        with open(os.environ["ZS_ERRORS_LOG"], "a") as f:
            f.write(f"{os.environ.get('PYTEST_CURRENT_TEST', '?').split(' ')[0]}\t{err[0]}\n")
    return err[0]


def tree(*roots) -> dict[str, str]:
    """sha256 of every file and a marker for every folder under ``roots`` (missing roots: absent)."""
    out = {}
    for root in map(Path, roots):
        if root.is_file():
            out[str(root)] = hashlib.sha256(root.read_bytes()).hexdigest()
            continue
        if not root.is_dir():
            continue
        out[str(root)] = "dir"
        for p in sorted(root.rglob("*")):
            out[str(p)] = "dir" if p.is_dir() else hashlib.sha256(p.read_bytes()).hexdigest()
    return out


def poison(store_path, split: str, array: str, row: int, value=np.nan) -> None:
    """Write one NaN/Inf into ``array`` at ``row`` of a store split (as a bad disk or a bug would)."""
    import zarr

    arr = zarr.open_array(Path(store_path) / split / "arrays.zarr" / array, mode="r+")
    block = np.asarray(arr[row])
    block.reshape(-1)[min(3, block.size - 1)] = value
    arr[row] = block


def extract_args(coco, store, images=None):
    """``zs extract`` arguments of the fault suite's tiny COCO set (see the ``coco`` fixture) into ``store``."""
    return ["extract", "--images", images or coco["images"], "--json", coco["json"], "--png", coco["png"],
            "--split", "val", "--segmenter", coco["seg"], "--store", store, "--no-clip", "--num-points", 100,
            "--chunk-images", 4, "--batch-size", 4, "--workers", 1, "--no-progress", "--device", "cpu"]
