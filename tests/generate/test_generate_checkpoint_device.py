"""Checkpoints hold the training device's RNG only and refuse a resume on another kind of device."""

import pytest
import torch

from tests.generate.conftest import small_cfg
from zs.errors import ConfigError
from zs.generate.train import CHECKPOINT, fit_generator


def test_cpu_checkpoint_has_no_cuda_state_and_cross_device_resume_is_refused(toy_store, tmp_path):
    out = tmp_path / "g"
    fit_generator(small_cfg(toy_store, out, iterations=4), stop_after=2)
    blob = torch.load(out / CHECKPOINT, weights_only=False)
    assert blob["device"] == "cpu" and set(blob["rng"]) == {"torch"}  # no CUDA state on a CPU run
    assert torch.equal(blob["rng"]["torch"], blob["rng"]["torch"].to(torch.uint8))
    blob["device"] = "cuda:0"  # as if written on a GPU
    torch.save(blob, out / CHECKPOINT)
    with pytest.raises(ConfigError) as e:
        fit_generator(small_cfg(toy_store, out, iterations=4, resume=True))
    msg = str(e.value)
    assert "cannot resume on cpu, the checkpoint was written on cuda:0" in msg and "\n" not in msg
    assert (out / CHECKPOINT).is_file()  # nothing lost
