"""`zs run` / `zs demo`: load a spec (built-in name or file), plan, run, summarise."""

from __future__ import annotations

import dataclasses
from pathlib import Path
from typing import Any, Callable

from zs.errors import ConfigError
from zs.paths import check_out_dir
from zs.pipelines.runner import RunContext, StageReport, plan, resolve_types, run_plan, validate
from zs.pipelines.spec import Spec, load_spec

SPEC_DIR = Path(__file__).with_name("specs")


def list_specs() -> dict[str, str]:
    """Built-in spec name -> its description."""
    import yaml

    out = {}
    for p in sorted(SPEC_DIR.glob("*.yaml")):
        out[p.stem] = str((yaml.safe_load(p.read_text()) or {}).get("description", "")).strip()
    return out


def spec_path(name_or_path: str) -> Path:
    p = Path(name_or_path)
    if p.suffix in (".yaml", ".yml") or p.exists():
        if not p.is_file():
            raise ConfigError(f"{p}: spec file not found")
        return p
    builtin = SPEC_DIR / f"{name_or_path}.yaml"
    if not builtin.is_file():
        raise ConfigError(f"'{name_or_path}' is neither a spec file nor a built-in spec "
                          f"(built-in: {', '.join(list_specs())})")
    return builtin


@dataclasses.dataclass
class RunConfig:
    spec: str  # built-in name or YAML path
    out: str | None = None  # default: ./zs-runs/<spec name>
    set: dict[str, Any] = dataclasses.field(default_factory=dict)
    grid: dict[str, list[str]] = dataclasses.field(default_factory=dict)  # --grid AXIS=V1,V2
    force: tuple[str, ...] = ()
    dask_workers: int = 0
    dask_scheduler: str | None = None
    device: str = "auto"
    progress: bool = True
    dry_run: bool = False
    types_ref: str = "zs.pipelines.stages:STAGE_TYPES"


@dataclasses.dataclass
class RunResult:
    spec: Spec
    out: Path
    reports: dict[str, StageReport]

    @property
    def ok(self) -> bool:
        return all(r.status in ("ran", "cached", "disabled") for r in self.reports.values())

    def failures(self) -> list[StageReport]:
        return [r for r in self.reports.values() if r.status in ("failed", "blocked")]


def load(cfg: RunConfig) -> tuple[Spec, Path, dict]:
    types = resolve_types(cfg.types_ref)
    path = spec_path(cfg.spec)
    spec = load_spec(path, overrides=cfg.set, known_types=types, grid=cfg.grid)
    validate(spec, types)
    out = Path(cfg.out or Path("zs-runs") / spec.name).resolve()
    return spec, out, types


def run(cfg: RunConfig, on_stage: Callable[[StageReport], None] | None = None) -> RunResult:
    """Run a pipeline spec; returns every stage's report (failures included, not raised)."""
    if not cfg.dask_scheduler:  # a remote cluster's workers may have GPUs this machine lacks
        from zs.runtime import resolve_device

        resolve_device(cfg.device)  # a bad --device fails here, before any stage runs
    spec, out, types = load(cfg)
    check_out_dir(out)
    planned = plan(spec, out, types, force=cfg.force)
    if cfg.dry_run:
        return RunResult(spec, out, {n: StageReport(n, "planned", dir=p.dir) for n, p in planned.items()})
    out.mkdir(parents=True, exist_ok=True)
    ctx = RunContext(str(out), cfg.device, cfg.progress, spec.name, str(spec_path(cfg.spec)), cfg.types_ref)
    reports = run_plan(planned, ctx, dask_workers=cfg.dask_workers, dask_scheduler=cfg.dask_scheduler,
                       on_stage=on_stage)
    return RunResult(spec, out, reports)
