"""Stand-in stage types for testing the pipeline engine (importable on dask workers)."""

from __future__ import annotations

import json
from pathlib import Path

from zs.pipelines.runner import REQUIRED, StageType


def _make(params, inputs, out: Path, ctx):
    """A 'source' stage: writes value.json = {"value": params.value}."""
    (out / "value.json").write_text(json.dumps({"value": params["value"]}))
    _log(out, "make")
    return {"value": params["value"]}


def _add(params, inputs, out: Path, ctx):
    """value = input value + params.delta (+ optional second input)."""
    v = inputs["a"]["value"] + params["delta"] + (inputs["b"]["value"] if inputs.get("b") else 0)
    (out / "value.json").write_text(json.dumps({"value": v}))
    _log(out, "add")
    return {"value": v}


def _collect(params, inputs, out: Path, ctx):
    vals = sorted(r["value"] for r in inputs["runs"])
    (out / "values.json").write_text(json.dumps(vals))
    return {"values": vals}


def _fail(params, inputs, out, ctx):
    from zs.errors import ZsError

    raise ZsError("this stage always fails")


def _oom(params, inputs, out, ctx):
    """What a stage sees when the GPU runs out of memory (constructible without a GPU), if ``fail``."""
    import torch

    if not params["fail"]:
        return {"value": 0}
    if params["real"]:  # on a GPU host: ask the device for 1 PiB
        torch.empty(1 << 50, dtype=torch.uint8, device=params["device"] or ctx.device)
    raise torch.cuda.OutOfMemoryError("CUDA out of memory. Tried to allocate 20.00 GiB.\nGPU 0 has a total "
                                      "capacity of 139.81 GiB of which 1.00 GiB is free.")


def _device(params, inputs, out, ctx):
    """Reports the device the stage was given, its own setting first (one GPU per dask worker)."""
    return {"device": params["device"] or ctx.device, "seed": params["seed"]}


def _crash(params, inputs, out, ctx):
    raise RuntimeError("a bug")


def _log(out: Path, what: str) -> None:
    # runs.log one level above the stage dirs counts executions (for caching tests)
    with open(Path(out).parents[2] / "runs.log", "a") as f:
        f.write(f"{what} {out.parent.name}\n")


TYPES = {
    "make": StageType(_make, {"value": ((int, float), REQUIRED)}, {}),
    "add": StageType(_add, {"delta": ((int, float), 1), "seed": ((int,), 0)}, {"a": True, "b": False}),
    "collect": StageType(_collect, {}, {"runs": True}),
    "fail": StageType(_fail, {}, {"a": False}),
    "oom": StageType(_oom, {"device": ((str,), None), "fail": ((bool,), True), "real": ((bool,), False)},
                     {"a": False}),
    "crash": StageType(_crash, {}, {}),
    "device": StageType(_device, {"seed": ((int,), 0), "device": ((str,), None)}, {}),
}
