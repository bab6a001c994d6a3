"""benchmarks/gpu_check.sh on the CPU: syntax, plan, fail-fast without CUDA, the rehearsal's plumbing."""

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

SCRIPT = Path(__file__).resolve().parents[2] / "benchmarks" / "gpu_check.sh"


def _run(*args, out=None, timeout=60):
    env = {**os.environ, "PYTHON": sys.executable, "CUDA_VISIBLE_DEVICES": "", "OMP_NUM_THREADS": "1"}
    env.pop("OUT", None)
    if out is not None:
        env["OUT"] = str(out)
    return subprocess.run(["bash", str(SCRIPT), *args], capture_output=True, text=True, env=env, timeout=timeout,
                          cwd=out.parent if out is not None else None)


def test_syntax():
    assert subprocess.run(["bash", "-n", str(SCRIPT)], capture_output=True).returncode == 0


def test_dry_run_prints_the_plan(tmp_path):
    r = _run("--dry-run", out=tmp_path / "figs")
    assert r.returncode == 0, r.stderr
    plan = r.stdout
    assert f"figures {tmp_path / 'figs'}/gpu-check.json" in plan
    assert "ZS_TEST_GPU=1" in plan and "-m gpu tests" in plan
    assert "bench_generator.py --device cuda --size 928 --images 12" in plan and "--iterations 20000" in plan
    assert "demo --device cuda" in plan
    assert not (tmp_path / "figs").exists()


def test_without_cuda_it_stops_at_once(tmp_path):
    r = _run(out=tmp_path / "figs")
    assert r.returncode == 2
    assert r.stderr.startswith("error: gpu_check.sh needs a CUDA device") and r.stderr.count("\n") == 1
    assert not (tmp_path / "figs").exists()


def test_unknown_option(tmp_path):
    r = _run("--fast")
    assert r.returncode == 2 and "unknown option '--fast'" in r.stderr


@pytest.mark.slow
def test_rehearsal_runs_every_step_and_gathers_the_figures(tmp_path):
    r = _run("--rehearse", out=tmp_path / "figs", timeout=400)
    assert r.returncode == 0, r.stdout + r.stderr
    fig = json.loads((tmp_path / "figs" / "gpu-check.json").read_text())
    assert set(fig["steps"]) == {"gpu-tests", "bench-generator", "demo"}
    assert all(s["status"] == "ok" for s in fig["steps"].values())
    assert "skipped" in fig["steps"]["gpu-tests"]["summary"]
    bench = fig["steps"]["bench-generator"]["figures"]
    assert bench["run"]["iterations"] == 4 and bench["step"]["store_s"] > 0
    assert fig["compute"]["device"] == "cpu" and "rehearsal" in fig
