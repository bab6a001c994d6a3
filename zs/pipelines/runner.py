"""Run an expanded spec: content-keyed stage caching, sequential or on dask.

Each stage's output directory is ``OUT/stages/<name in spec>/<key>/`` where
``key`` hashes the stage type and version, its resolved parameters, the
identities of path parameters (file sha256 / directory listing) and the keys
of its inputs. A finished stage has ``stage.json`` (its manifest: spec, stage,
key, params, inputs, result); a re-run with an unchanged key does nothing, so
an interrupted ``zs run`` resumes from the last finished stage and variants of
a grid share every upstream stage whose key they share.
"""

from __future__ import annotations

import dataclasses
import hashlib
import logging
import os
import shutil
import sys
import time
from pathlib import Path
from typing import Any, Callable

from zs.errors import ConfigError, ZsError
from zs.manifest import hash_obj, make_manifest, read_json, sha256_file, write_json_atomic
from zs.pipelines.spec import Spec, dependencies as _deps  # works on Planned too (.inputs)
from zs.runtime import connect_dask, forget_device, release_cuda_cache

log = logging.getLogger(__name__)

REQUIRED = object()
MARKER = "stage.json"


@dataclasses.dataclass(frozen=True)
class StageType:
    """How to run one kind of stage: ``fn(params, inputs, out_dir, ctx) -> result dict``."""

    fn: Callable[..., dict]
    params: dict[str, tuple[tuple[type, ...], Any]]  # name -> (accepted types, default | REQUIRED)
    inputs: dict[str, bool]  # role -> required
    path_params: tuple[str, ...] = ()  # params naming files/dirs: their content identity enters the key
    resumable: bool = True  # False: a half-written output dir is wiped before re-running
    version: int = 1


@dataclasses.dataclass
class RunContext:
    out: str
    device: str = "auto"
    progress: bool = True
    spec_name: str = ""
    spec_source: str = ""
    types_ref: str = "zs.pipelines.stages:STAGE_TYPES"  # importable on dask workers


def resolve_types(ref: str) -> dict[str, StageType]:
    import importlib

    module, _, attr = ref.partition(":")
    return getattr(importlib.import_module(module), attr)


@dataclasses.dataclass
class Planned:
    name: str
    template: str
    type: str
    params: dict[str, Any]
    inputs: dict[str, Any]  # role -> upstream name | [names] | None
    key: str | None  # None = disabled
    dir: str | None
    variant: dict | None
    forced: bool = False


@dataclasses.dataclass
class StageReport:
    name: str
    status: str  # "cached" | "ran" | "disabled" | "failed" | "blocked"
    seconds: float = 0.0
    dir: str | None = None
    error: str | None = None
    result: dict | None = None


# --------------------------------------------------------------------------- validation
def validate(spec: Spec, types: dict[str, StageType]) -> None:
    """Unknown params, wrong param types, missing required inputs -> ConfigError naming the line."""
    for st in spec.stages.values():
        stype = types.get(st.type)
        where = f"{spec.source}:{st.line}: stage '{st.template}'"
        if stype is None:
            raise ConfigError(f"{where}: unknown stage type '{st.type}' (known: {', '.join(sorted(types))})")
        for k, v in st.params.items():
            if k == "__enabled__":
                continue
            if k not in stype.params:
                raise ConfigError(f"{where}: unknown parameter '{k}' for {st.type} "
                                  f"(known: {', '.join(sorted(stype.params))})")
            accepted, _ = stype.params[k]
            bad_bool = isinstance(v, bool) and bool not in accepted
            if v is not None and (bad_bool or not isinstance(v, accepted)):
                names = "/".join(t.__name__ for t in accepted)
                raise ConfigError(f"{where}: parameter '{k}' = {v!r} should be {names}")
        for k, (_, default) in stype.params.items():
            if default is REQUIRED and st.params.get(k) is None and st.params.get("__enabled__", True):
                raise ConfigError(f"{where}: parameter '{k}' is required for {st.type}")
        for role in st.inputs:
            if role not in stype.inputs:
                raise ConfigError(f"{where}: unknown input '{role}' for {st.type} "
                                  f"(known: {', '.join(sorted(stype.inputs)) or 'none'})")
        for role, required in stype.inputs.items():
            if required and st.inputs.get(role) is None and st.params.get("__enabled__", True):
                raise ConfigError(f"{where}: input '{role}' is required for {st.type}")


# --------------------------------------------------------------------------- keys
def _path_identity(value: Any) -> Any:
    if not isinstance(value, str) or not value:
        return value
    p = Path(value).expanduser()
    if p.is_file():
        return {"file": sha256_file(p)}
    if p.is_dir():
        h = hashlib.sha256()
        for q in sorted(x for x in p.rglob("*") if x.is_file()):
            st = q.stat()
            h.update(f"{q.relative_to(p).as_posix()}:{st.st_size}".encode())
        return {"dir": h.hexdigest()}
    return {"missing": value}


def plan(spec: Spec, out: str | os.PathLike, types: dict[str, StageType], force=()) -> dict[str, Planned]:
    """Resolve params with defaults and compute every stage's cache key and directory."""
    force = set(force)
    unknown = force - {s.template for s in spec.stages.values()} - set(spec.stages)
    if unknown:
        raise ConfigError(f"--force: no stage named {', '.join(sorted(unknown))} in {spec.source}")
    out = Path(out)
    planned: dict[str, Planned] = {}
    for st in spec.stages.values():
        stype = types[st.type]
        enabled = st.params.get("__enabled__", True)
        params = {k: (st.params[k] if st.params.get(k) is not None else d)
                  for k, (_, d) in stype.params.items() if not (d is REQUIRED and st.params.get(k) is None)}
        params = {k: v for k, v in params.items() if v is not REQUIRED}
        input_keys = {}
        for role, ref in st.inputs.items():
            if isinstance(ref, list):
                input_keys[role] = [planned[r].key for r in ref if planned[r].key]
            else:
                input_keys[role] = planned[ref].key if ref is not None else None
        key = None
        if enabled:
            ident = {
                "type": st.type,
                "version": stype.version,
                "params": {**params, "device": None} if "device" in params else params,  # not the device
                "paths": {k: _path_identity(params.get(k)) for k in stype.path_params},
                "inputs": input_keys,
            }
            key = hash_obj(ident)[:16]
        planned[st.name] = Planned(
            st.name, st.template, st.type, params, dict(st.inputs), key,
            str(out / "stages" / st.template / key) if key else None, st.variant,
            forced=st.template in force or st.name in force,
        )
    return planned


# --------------------------------------------------------------------------- executing one stage
def execute_stage(p: Planned, upstream: dict[str, Any], ctx: RunContext, types: dict[str, StageType] | None = None
                  ) -> StageReport:
    """Run (or reuse) one stage. ``upstream`` maps each input name to its StageReport."""
    if types is None:
        types = resolve_types(ctx.types_ref)
    if p.key is None:
        return StageReport(p.name, "disabled")
    for ref, rep in upstream.items():
        if rep is not None and rep.status in ("failed", "blocked"):
            return StageReport(p.name, "blocked", error=f"input {ref} {rep.status}")
    out = Path(p.dir)
    marker = out / MARKER
    if marker.is_file() and not p.forced:
        rec = read_json(marker)
        if rec.get("key") == p.key:
            return StageReport(p.name, "cached", dir=str(out), result=rec.get("result"))
    stype = types[p.type]
    if marker.exists():
        marker.unlink()
    if out.exists() and (p.forced or not stype.resumable):
        shutil.rmtree(out)
    out.mkdir(parents=True, exist_ok=True)
    inputs = {role: _input_value(ref, upstream) for role, ref in p.inputs.items()}
    t0 = time.perf_counter()
    oom = None
    forget_device()  # stage.json's compute.device: the device this stage resolved, not an earlier stage's
    try:
        result = stype.fn(dict(p.params), inputs, out, ctx) or {}
    except ZsError as e:
        return StageReport(p.name, "failed", time.perf_counter() - t0, str(out), error=str(e))
    except Exception as e:  # noqa: BLE001 - only CUDA out-of-memory is a stage failure; the rest re-raises
        if not _is_cuda_oom(e):
            raise
        oom = (str(e).strip() or type(e).__name__).splitlines()[0]
    if oom is not None:  # outside the except block: the traceback's tensors can be freed now
        release_cuda_cache()
        device = p.params.get("device") or ctx.device
        return StageReport(p.name, "failed", time.perf_counter() - t0, str(out),
                           error=f"out of CUDA memory in stage {p.name} on --device {device}: {oom}")
    seconds = time.perf_counter() - t0
    write_json_atomic(marker, make_manifest(
        "zs-pipeline-stage", config=p.params, inputs={r: _input_ident(ref, upstream) for r, ref in p.inputs.items()},
        seed=p.params.get("seed"), spec=ctx.spec_name, spec_source=ctx.spec_source, stage=p.name,
        stage_type=p.type, key=p.key, variant=p.variant, seconds=round(seconds, 3), result=result,
    ))
    return StageReport(p.name, "ran", seconds, str(out), result=result)


def _is_cuda_oom(e: BaseException) -> bool:
    torch = sys.modules.get("torch")
    return torch is not None and isinstance(e, torch.cuda.OutOfMemoryError)


def _input_value(ref, upstream):
    if ref is None:
        return None
    if isinstance(ref, list):
        return [_input_value(r, upstream) for r in ref if upstream[r].status != "disabled"]
    rep = upstream[ref]
    if rep.status == "disabled":
        return None
    return {"dir": rep.dir, "name": rep.name, **(rep.result or {})}


def _input_ident(ref, upstream):
    if ref is None:
        return None
    if isinstance(ref, list):
        return [_input_ident(r, upstream) for r in ref]
    rep = upstream[ref]
    return {"stage": ref, "dir": rep.dir}


# --------------------------------------------------------------------------- executing a plan
def run_plan(planned: dict[str, Planned], ctx: RunContext, *, dask_workers: int = 0,
             dask_scheduler: str | None = None, on_stage: Callable[[StageReport], None] | None = None
             ) -> dict[str, StageReport]:
    """Run stages in dependency order; on dask when workers or a scheduler are given."""
    if dask_workers or dask_scheduler:
        return _run_dask(planned, ctx, dask_workers, dask_scheduler, on_stage)
    reports: dict[str, StageReport] = {}
    for name, p in planned.items():
        ups = {r: reports[r] for r in _deps(p)}
        rep = execute_stage(p, ups, ctx)
        reports[name] = rep
        if on_stage:
            on_stage(rep)
    return reports


def _remote_stage(p: Planned, ctx: RunContext, *ups: StageReport) -> StageReport:
    """A stage on a dask worker: ``cuda``/``auto`` means this worker's GPU (worker i -> cuda:i mod n)."""
    from zs.runtime import current_worker_name, worker_device

    name = current_worker_name()
    if name is not None:
        ctx = dataclasses.replace(ctx, device=worker_device(ctx.device, name))
        if p.params.get("device"):  # a stage's own device setting maps the same way
            p = dataclasses.replace(p, params={**p.params, "device": worker_device(p.params["device"], name)})
    return execute_stage(p, {u.name: u for u in ups}, ctx)


def _run_dask(planned, ctx, workers, scheduler, on_stage):
    from distributed import Client, LocalCluster, as_completed

    cluster = None
    if scheduler:
        client = connect_dask(scheduler)
    else:
        cluster = LocalCluster(n_workers=workers, threads_per_worker=1, processes=True,
                               dashboard_address=None)
        client = Client(cluster)
    try:
        futures = {}
        for name, p in planned.items():
            deps = [futures[d] for d in _deps(p)]
            futures[name] = client.submit(_remote_stage, p, ctx, *deps, key=f"zs-stage-{name}-{p.key}",
                                          pure=False)
        reports = {}
        for fut in as_completed(list(futures.values())):
            rep = fut.result()
            reports[rep.name] = rep
            if on_stage:
                on_stage(rep)
        return {n: reports[n] for n in planned}
    finally:
        client.close()
        if cluster is not None:
            cluster.close()
