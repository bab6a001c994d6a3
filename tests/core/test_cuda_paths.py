"""GPU readiness on a GPU host (ZS_TEST_GPU=1, run by benchmarks/gpu_check.sh); skipped elsewhere."""

import pytest
import torch

from zs import runtime
from zs.errors import ConfigError, ZsError

pytestmark = pytest.mark.gpu


def test_device_resolution_and_precision_policy():
    n = torch.cuda.device_count()
    with pytest.raises(ZsError, match=rf"--device cuda:{n}: this machine has {n} CUDA device"):
        runtime.resolve_device(f"cuda:{n}")
    torch.backends.cudnn.allow_tf32 = True
    assert runtime.resolve_device("auto").type == "cuda"
    assert not torch.backends.cudnn.allow_tf32 and not torch.backends.cuda.matmul.allow_tf32
    entry = runtime.compute_entry(runtime.resolve_device("cuda:0"))
    assert entry["device"] == "cuda:0" and entry["tf32"] is False and entry["device_name"] and entry["cuda"]
    assert runtime.worker_device("cuda", n + 1) == f"cuda:{(n + 1) % n}"


def test_sampling_is_the_same_on_cpu_and_cuda():
    from zs.generate.config import GeneratorConfig
    from zs.generate.models import build_generator

    for kind in ("gmmn", "primitive", "vae"):
        torch.manual_seed(0)
        cfg = GeneratorConfig(kind=kind, query_dim=32, text_dim=16, num_classes=6, num_primitives=16)
        gen = build_generator(cfg, torch.randn(6, 16)).eval()
        ids = torch.tensor([1, 4, 5])
        a = gen.sample(ids, 7, generator=torch.Generator().manual_seed(3))
        b = gen.cuda().sample(ids.cuda(), 7, generator=torch.Generator().manual_seed(3)).cpu()
        torch.testing.assert_close(a, b, atol=1e-5, rtol=1e-5, msg=kind)


def test_fit_generator_checkpoint_on_cuda(tmp_path):
    from tests.generate.conftest import TOY, small_cfg
    from zs.generate.train import CHECKPOINT, fit_generator
    from toyworld.store import write_toy_store

    store = str(tmp_path / "store")
    write_toy_store(store, **TOY)
    full = fit_generator(small_cfg(store, tmp_path / "full", iterations=6, device="cuda"))
    part = tmp_path / "part"
    fit_generator(small_cfg(store, part, iterations=6, device="cuda"), stop_after=3)
    blob = torch.load(part / CHECKPOINT, weights_only=False)
    assert blob["device"].startswith("cuda") and "device" in blob["rng"]
    with pytest.raises(ConfigError, match=r"cannot resume on cpu, the checkpoint was written on cuda"):
        fit_generator(small_cfg(store, part, iterations=6, device="cpu", resume=True))
    fit_generator(small_cfg(store, part, iterations=6, device="cuda", resume=True))
    a = torch.load(full / "weights.pt", weights_only=True)
    b = torch.load(part / "weights.pt", weights_only=True)
    for k in a:  # same RNG streams replayed; float atomics aside, the same weights
        torch.testing.assert_close(a[k], b[k], atol=1e-5, rtol=1e-5, msg=k)


def test_real_out_of_memory_is_a_failed_stage(tmp_path):
    from zs.pipelines.run import RunConfig, run

    spec = tmp_path / "spec.yaml"
    spec.write_text("stages:\n  big: {type: oom, params: {real: true}}\n  small: {type: make, params: {value: 1}}\n")
    res = run(RunConfig(str(spec), str(tmp_path / "out"), types_ref="zs.pipelines.testing:TYPES", progress=False,
                        device="cuda"))
    assert res.reports["big"].status == "failed" and res.reports["small"].status == "ran"
    assert res.reports["big"].error.startswith("out of CUDA memory in stage big on --device cuda: ")
    torch.empty(1 << 20, device="cuda")  # the device is still usable


def test_dask_stage_workers_take_one_gpu_each(tmp_path):
    from zs.pipelines.run import RunConfig, run

    spec = tmp_path / "spec.yaml"
    spec.write_text("grid:\n  seed: [0, 1, 2, 3]\nvariant_stages:\n  d: {type: device, params: {seed: \"${seed}\"}}\n")
    res = run(RunConfig(str(spec), str(tmp_path / "out"), types_ref="zs.pipelines.testing:TYPES", progress=False,
                        device="cuda", dask_workers=2))
    devices = {r.result["device"] for r in res.reports.values()}
    n = torch.cuda.device_count()
    assert devices <= {f"cuda:{i}" for i in range(n)}, devices
    assert len(devices) == min(2, n), devices
    # a stage's own device setting maps the same way
    spec.write_text("grid:\n  seed: [0, 1, 2, 3]\nvariant_stages:\n"
                    "  d: {type: device, params: {seed: \"${seed}\", device: cuda}}\n")
    res = run(RunConfig(str(spec), str(tmp_path / "out2"), types_ref="zs.pipelines.testing:TYPES", progress=False,
                        device="cpu", dask_workers=2))
    devices = {r.result["device"] for r in res.reports.values()}
    assert devices <= {f"cuda:{i}" for i in range(n)} and len(devices) == min(2, n), devices
