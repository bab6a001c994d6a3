"""zs.checkpoint: atomic round trip with RNG states, refused resumes, the stop rule."""

import pytest
import torch

from zs.checkpoint import Checkpoint, checkpoint_due, stop_step
from zs.errors import ConfigError
from zs.guard import NonFiniteError


def _ck(path, **keys):
    return Checkpoint(path, stage="test", resume_keys={"lr": 0.1, "seed": 0, **keys}, device="cpu",
                      hint="use another --out", generators={"sampler": torch.Generator().manual_seed(5)})


def test_round_trip_restores_entries_and_every_rng(tmp_path):
    path = tmp_path / "out" / "checkpoint.pt"
    ck = _ck(path)
    lin = torch.nn.Linear(2, 2)
    torch.manual_seed(1)
    ck.save(3, {"model": lin.state_dict(), "history": [1.0]}, check={"model": lin})
    assert sorted(p.name for p in path.parent.iterdir()) == ["checkpoint.pt"]  # no temp file left
    want = torch.rand(3), torch.rand(3, generator=ck.generators["sampler"])
    torch.manual_seed(99)
    again = _ck(path)
    blob = again.load()
    assert blob["step"] == 3 and blob["history"] == [1.0] and blob["device"] == "cpu"
    assert set(blob["rng"]) == {"torch", "sampler"}
    assert torch.equal(torch.rand(3), want[0]) and torch.equal(torch.rand(3, generator=again.generators["sampler"]),
                                                                want[1])
    assert again.watch.last_good == 3
    assert _ck(path).load(resume=False) is None and _ck(tmp_path / "none.pt").load() is None


def test_other_resume_keys_or_device_or_format_are_refused_in_one_line(tmp_path):
    path = tmp_path / "checkpoint.pt"
    _ck(path).save(1, {}, check={})
    with pytest.raises(ConfigError) as e:
        _ck(path, lr=0.2).load()
    assert str(e.value) == (f"{path}: cannot resume, it was written by a run with other settings (different lr); "
                            f"use another --out")
    with pytest.raises(ConfigError, match=r"other settings \(different extra\)"):
        _ck(path, extra=1).load()
    blob = torch.load(path, weights_only=False)
    torch.save({**blob, "device": "cuda:0"}, path)
    with pytest.raises(ConfigError, match="cannot resume on cpu, the checkpoint was written on cuda:0"):
        _ck(path).load()
    torch.save({"iteration": 2}, path)  # an older zs's checkpoint
    with pytest.raises(ConfigError, match="not a checkpoint this zs can resume"):
        _ck(path).load()


def test_save_refuses_reserved_entries_and_nonfinite_modules(tmp_path):
    ck = _ck(tmp_path / "checkpoint.pt")
    with pytest.raises(ValueError, match="reserved"):
        ck.save(1, {"step": 2}, check={})
    lin = torch.nn.Linear(2, 2)
    with torch.no_grad():
        lin.weight[0, 0] = float("nan")
    with pytest.raises(NonFiniteError, match="no checkpoint was written yet"):
        ck.save(1, {}, check={"lin": lin})
    assert not (tmp_path / "checkpoint.pt").exists()


def test_stop_rule():
    assert stop_step(0, 10, None) == 10
    assert stop_step(0, 10, 3) == 3 and stop_step(5, 10, 3) == 6 and stop_step(0, 10, 30) == 10
    assert stop_step(5, 10, 3, per_call=True) == 8 and stop_step(9, 10, 3, per_call=True) == 10
    assert [d for d in range(1, 11) if checkpoint_due(d, 4, 10, 10)] == [4, 8]
    assert [d for d in range(1, 7) if checkpoint_due(d, 4, 6, 10)] == [4, 6]
    assert not checkpoint_due(3, 0, 6, 10) and checkpoint_due(6, None, 6, 10)


def test_a_cuda_checkpoint_names_its_gpu(tmp_path, monkeypatch):
    """``--device cuda`` resolves to the current GPU, so a refusal says "written on cuda:1" (docs/gpu.md)."""
    monkeypatch.setattr(torch.cuda, "current_device", lambda: 1)
    ck = Checkpoint(tmp_path / "checkpoint.pt", stage="test", resume_keys={}, device="cuda", hint="h")
    assert ck.device == torch.device("cuda", 1)
    assert Checkpoint(tmp_path / "c.pt", stage="t", resume_keys={}, device="cuda:0", hint="h").device.index == 0


def test_out_of_gpu_memory_while_loading_is_not_a_corrupt_file(tmp_path, monkeypatch):
    """torch.OutOfMemoryError is a RuntimeError; load_torch_file must not call the file corrupt."""
    from zs.artifact import load_torch_file

    path = tmp_path / "w.pt"
    torch.save({"x": torch.zeros(1)}, path)

    def oom(*a, **k):
        raise torch.OutOfMemoryError("CUDA out of memory. Tried to allocate 2.00 GiB")

    monkeypatch.setattr(torch, "load", oom)
    with pytest.raises(torch.OutOfMemoryError):
        load_torch_file(path, what="head weights")
