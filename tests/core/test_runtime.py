"""Device resolution, precision policy, deterministic mode, per-worker devices, manifests."""

import sys

import pytest
import torch

from tests.conftest import run_cli
from zs import runtime
from zs.errors import ZsError
from zs.manifest import make_manifest


@pytest.mark.parametrize("name,message", [
    ("cuda:7", "--device cuda:7: CUDA is not available"),
    ("cuda", "--device cuda: CUDA is not available"),
    ("gpu", "--device gpu: expected auto, cpu, cuda or cuda:N"),
    ("cpu:x", "expected auto, cpu, cuda or cuda:N"),
])
def test_bad_devices_are_one_line_errors(name, message):
    with pytest.raises(ZsError) as e:
        runtime.resolve_device(name)
    assert message in str(e.value) and "\n" not in str(e.value)


def test_cuda_index_past_the_device_count_is_refused(monkeypatch):
    monkeypatch.setattr(torch.cuda, "is_available", lambda: True)
    monkeypatch.setattr(torch.cuda, "device_count", lambda: 2)
    with pytest.raises(ZsError, match=r"--device cuda:2: this machine has 2 CUDA device\(s\) \(cuda:0, cuda:1\)"):
        runtime.resolve_device("cuda:2")
    assert runtime.resolve_device("cuda:1") == torch.device("cuda:1")  # resolves, touches no GPU


def test_auto_and_cpu_resolve_and_turn_tf32_off():
    torch.backends.cuda.matmul.allow_tf32 = True
    torch.backends.cudnn.allow_tf32 = True
    assert runtime.resolve_device("auto") == torch.device("cpu")
    assert runtime.resolve_device(torch.device("cpu")) == torch.device("cpu")
    assert not torch.backends.cuda.matmul.allow_tf32 and not torch.backends.cudnn.allow_tf32
    assert torch.get_float32_matmul_precision() == "highest"
    entry = runtime.compute_entry()
    assert entry["device"] == "cpu" and entry["tf32"] is False and entry["float32_matmul_precision"] == "highest"


def test_deterministic_mode_from_the_environment(monkeypatch):
    monkeypatch.setenv("ZS_DETERMINISTIC", "1")
    monkeypatch.delenv("CUBLAS_WORKSPACE_CONFIG", raising=False)
    try:
        runtime.resolve_device("cpu")
        assert torch.are_deterministic_algorithms_enabled() and torch.backends.cudnn.deterministic
        import os

        assert os.environ["CUBLAS_WORKSPACE_CONFIG"] == ":4096:8"
        m = make_manifest("zs-test")
        assert m["compute"]["deterministic"] is True and m["compute"]["device"] == "cpu"
    finally:
        torch.use_deterministic_algorithms(False)
        torch.backends.cudnn.deterministic = False


def test_deterministic_flag_of_the_cli_sets_the_environment(monkeypatch):
    monkeypatch.delenv("ZS_DETERMINISTIC", raising=False)
    r = run_cli(["--deterministic", "run", "--list"])
    assert r.exit_code == 0, r.output
    import os

    assert os.environ.pop("ZS_DETERMINISTIC") == "1"


def test_manifest_records_compute_and_caller_wins():
    runtime.resolve_device("cpu")
    assert make_manifest("zs-test")["compute"]["tf32"] is False
    assert make_manifest("zs-test", compute={"device": "elsewhere"})["compute"] == {"device": "elsewhere"}


def test_one_gpu_per_dask_worker(monkeypatch):
    assert runtime.worker_device("auto", 3) == "auto"  # no CUDA here: unchanged
    monkeypatch.setattr(torch.cuda, "is_available", lambda: True)
    monkeypatch.setattr(torch.cuda, "device_count", lambda: 2)
    assert [runtime.worker_device("cuda", i) for i in range(4)] == ["cuda:0", "cuda:1", "cuda:0", "cuda:1"]
    assert runtime.worker_device("auto", "5") == "cuda:1"
    assert runtime.worker_device("cuda", "tcp-worker-a") == "cuda:0"  # dask-cuda: one visible GPU
    monkeypatch.setitem(sys.modules, "dask_cuda", object())  # dask-cuda: each worker's own GPU is its cuda:0
    assert [runtime.worker_device("cuda", i) for i in range(3)] == ["cuda:0"] * 3
    assert runtime.worker_device("cuda:1", 0) == "cuda:1" and runtime.worker_device("cpu", 1) == "cpu"
    assert runtime.current_worker_name() is None


def test_run_refuses_a_missing_gpu_before_any_stage(tmp_path, capsys):
    from zs.cli import main

    with pytest.raises(SystemExit) as e:
        main(["run", "demo", "--out", str(tmp_path / "o"), "--device", "cuda:3"])
    assert e.value.code == 2 and not (tmp_path / "o").exists()
    err = capsys.readouterr().err.strip()
    assert err == "error: --device cuda:3: CUDA is not available on this machine (use --device cpu)"
