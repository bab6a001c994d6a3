"""adapt checkpoints: the training device's RNG only; a resume on another kind of device is refused."""

import pytest
import torch

from toyworld.adapt import make_adapt_store
from zs.adapt import AdaptConfig, adapt
from zs.errors import ConfigError

torch.set_num_threads(1)


def test_cpu_checkpoint_rng_and_cross_device_resume(tmp_path):
    store, gen = make_adapt_store(tmp_path / "store", n_train=8, n_val=2)
    kw = dict(store=store, method="classifier", generator=gen, steps=6, images_per_batch=4, device="cpu",
              out=tmp_path / "h")
    adapt(AdaptConfig(stop_after=2, **kw))
    path = tmp_path / "h" / "checkpoint.pt"
    state = torch.load(path, weights_only=False)
    assert state["device"] == "cpu"
    assert set(state["rng"]) == {"torch", "sampler"}  # no CUDA state on a CPU run
    assert state["rng"]["sampler"].dtype == torch.uint8  # the sampler is a CPU generator
    state["device"] = "cuda:1"
    torch.save(state, path)
    with pytest.raises(ConfigError, match=r"cannot resume on cpu, the checkpoint was written on cuda:1"):
        adapt(AdaptConfig(**kw))
    assert path.is_file()


def test_head_manifest_records_compute(tmp_path):
    import json

    store, gen = make_adapt_store(tmp_path / "store", n_train=4, n_val=2)
    out = adapt(AdaptConfig(store=store, method="classifier", generator=gen, steps=2, images_per_batch=4,
                            device="cpu", out=tmp_path / "h"))
    compute = json.loads((out / "manifest.json").read_text())["compute"]
    assert compute["device"] == "cpu" and compute["tf32"] is False and compute["deterministic"] is False
