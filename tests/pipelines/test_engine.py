"""The pipeline engine on stand-in stage types (zs.pipelines.testing)."""

import json
from pathlib import Path

import pytest

from zs.errors import ConfigError
from zs.pipelines.run import RunConfig, run
from zs.pipelines.runner import plan, validate
from zs.pipelines.spec import load_spec
from zs.pipelines.testing import TYPES

REF = "zs.pipelines.testing:TYPES"

SPEC = """\
name: toy
vars:
  base: 10
  delta: 1
  seed: 0
stages:
  src: {type: make, params: {value: "${base}"}}
grid:
  method:
    small: {delta: 1}
    big: {delta: 100}
  seed: [0, 1]
variant_stages:
  step: {type: add, inputs: {a: src}, params: {delta: "${delta}", seed: "${seed}"}}
  step2: {type: add, inputs: {a: step}, params: {delta: 0}}
final_stages:
  all: {type: collect, inputs: {runs: "step2@*"}}
"""


def _write(tmp_path, text=SPEC, name="spec.yaml"):
    p = tmp_path / name
    p.write_text(text)
    return p


def _runs(out: Path) -> list[str]:
    log = out / "runs.log"
    return log.read_text().split("\n")[:-1] if log.exists() else []


def _cfg(spec, out, **kw):
    return RunConfig(str(spec), str(out), types_ref=REF, progress=False, **kw)


def test_grid_expansion_and_order(tmp_path):
    spec = load_spec(_write(tmp_path), known_types=TYPES)
    names = list(spec.stages)
    assert len(spec.variants) == 4
    assert names[0] == "src" and names[-1] == "all"
    assert "step@method=big,seed=1" in names
    assert names.index("step@method=big,seed=1") < names.index("step2@method=big,seed=1")
    assert spec.stages["all"].inputs["runs"] == [n for n in names if n.startswith("step2@")]


def test_run_caches_and_reruns_only_downstream(tmp_path):
    spec, out = _write(tmp_path), tmp_path / "out"
    res = run(_cfg(spec, out))
    assert res.ok
    vals = json.loads(Path(res.reports["all"].dir, "values.json").read_text())
    assert vals == [11, 11, 110, 110]
    first = _runs(out)
    assert len(first) == 1 + 4 + 4  # src once, shared by every variant
    res2 = run(_cfg(spec, out))
    assert all(r.status == "cached" for r in res2.reports.values())
    assert _runs(out) == first  # nothing re-ran
    # change one var of the big preset: only the big variants re-run (and the final stage)
    _write(tmp_path, SPEC.replace("big: {delta: 100}", "big: {delta: 50}"))
    res3 = run(_cfg(spec, out))
    ran = sorted(n for n, r in res3.reports.items() if r.status == "ran")
    assert ran == ["all", "step2@method=big,seed=0", "step2@method=big,seed=1",
                   "step@method=big,seed=0", "step@method=big,seed=1"]
    # --force re-runs the named stage only
    res4 = run(_cfg(spec, out, force=("src",)))
    assert [n for n, r in res4.reports.items() if r.status == "ran"] == ["src"]


def test_set_override_and_type_check(tmp_path):
    spec, out = _write(tmp_path), tmp_path / "out"
    res = run(_cfg(spec, out, set={"base": "20"}))
    assert json.loads(Path(res.reports["src"].dir, "value.json").read_text())["value"] == 20
    with pytest.raises(ConfigError, match="--set base=abc: expected a number"):
        run(_cfg(spec, out, set={"base": "abc"}))
    with pytest.raises(ConfigError, match="no var 'nope'"):
        run(_cfg(spec, out, set={"nope": "1"}))


@pytest.mark.parametrize("bad, message", [
    ("  src: {type: mak, params: {value: 1}}", r"spec.yaml:7: stage 'src': unknown stage type 'mak'"),
    ("  src: {type: make, params: {valu: 1}}", r"spec.yaml:7: stage 'src': unknown parameter 'valu'"),
    ("  src: {type: make, params: {value: abc}}", r"spec.yaml:7: stage 'src': parameter 'value' = 'abc' should be"),
    ("  src: {type: make}", r"spec.yaml:7: stage 'src': parameter 'value' is required"),
])
def test_errors_name_the_line(tmp_path, bad, message):
    text = SPEC.replace('  src: {type: make, params: {value: "${base}"}}', bad)
    with pytest.raises(ConfigError, match=message):
        run(_cfg(_write(tmp_path, text), tmp_path / "out", dry_run=True))


def test_missing_input_and_cycle(tmp_path):
    text = "stages:\n  a: {type: add, inputs: {a: b}}\n  b: {type: add, inputs: {a: a}}\n"
    with pytest.raises(ConfigError, match="spec.yaml:2: dependency cycle: a -> b -> a"):
        load_spec(_write(tmp_path, text), known_types=TYPES)
    text = "stages:\n  a: {type: make, params: {value: 1}}\n  b: {type: add, inputs: {a: zz}}\n"
    with pytest.raises(ConfigError, match="spec.yaml:3: stage 'b' input 'a': no stage named 'zz'"):
        load_spec(_write(tmp_path, text), known_types=TYPES)
    text = "stages:\n  a: {type: make, params: {value: 1}}\n  b: {type: add}\n"
    spec = load_spec(_write(tmp_path, text), known_types=TYPES)
    with pytest.raises(ConfigError, match="spec.yaml:3: stage 'b': input 'a' is required"):
        validate(spec, TYPES)
    with pytest.raises(ConfigError, match=r"spec.yaml:\d+: invalid YAML"):
        load_spec(_write(tmp_path, "stages:\n  a: [\n"), known_types=TYPES)


def test_failure_blocks_dependents_and_resume(tmp_path):
    text = ("stages:\n  a: {type: make, params: {value: 1}}\n  f: {type: fail, inputs: {a: a}}\n"
            "  g: {type: add, inputs: {a: f}}\n  h: {type: add, inputs: {a: a}}\n")
    res = run(_cfg(_write(tmp_path, text), tmp_path / "out"))
    st = {n: r.status for n, r in res.reports.items()}
    assert st == {"a": "ran", "f": "failed", "g": "blocked", "h": "ran"}
    assert "always fails" in res.reports["f"].error and not res.ok
    res2 = run(_cfg(_write(tmp_path, text), tmp_path / "out"))
    assert res2.reports["a"].status == "cached" and res2.reports["h"].status == "cached"


def test_disabled_stage_gives_none_input(tmp_path):
    text = ("vars: {use: false}\nstages:\n  a: {type: make, params: {value: 1}}\n"
            "  b: {type: make, params: {value: 5}, enabled: \"${use}\"}\n"
            "  c: {type: add, inputs: {a: a, b: b}}\n")
    res = run(_cfg(_write(tmp_path, text), tmp_path / "out"))
    assert res.reports["b"].status == "disabled" and res.reports["c"].result["value"] == 2
    res = run(_cfg(_write(tmp_path, text), tmp_path / "out", set={"use": "true"}))
    assert res.reports["c"].result["value"] == 7


def test_dask_grid_equals_sequential(tmp_path):
    spec = _write(tmp_path)
    seq = run(_cfg(spec, tmp_path / "seq"))
    par = run(_cfg(spec, tmp_path / "par", dask_workers=2))
    assert par.ok
    for name in seq.reports:
        assert seq.reports[name].result == par.reports[name].result
        assert Path(seq.reports[name].dir).name == Path(par.reports[name].dir).name  # same keys


def test_stage_manifest_names_spec_and_key(tmp_path):
    res = run(_cfg(_write(tmp_path), tmp_path / "out"))
    rec = json.loads(Path(res.reports["src"].dir, "stage.json").read_text())
    assert rec["spec"] == "toy" and rec["key"] == Path(res.reports["src"].dir).name
    p = plan(load_spec(_write(tmp_path), known_types=TYPES), tmp_path / "out", TYPES)
    assert p["src"].key == rec["key"]


def test_grid_override_picks_presets_sets_values_and_adds_axes(tmp_path):
    path = _write(tmp_path)
    spec = load_spec(path, known_types=TYPES, grid={"method": ["big"], "seed": ["0", "1", "2"]})
    assert [v["label"] for v in spec.variants] == ["method=big,seed=0", "method=big,seed=1", "method=big,seed=2"]
    assert spec.variants[2]["vars"] == {"method": "big", "delta": 100, "seed": 2}  # values parsed as YAML
    spec = load_spec(path, known_types=TYPES, grid={"base": ["1", "2"]})  # a var becomes a new axis
    assert len(spec.variants) == 8 and spec.variants[0]["axes"]["base"] == "1"
    with pytest.raises(ConfigError, match="no preset huge in grid axis 'method'"):
        load_spec(path, known_types=TYPES, grid={"method": ["small", "huge"]})
    with pytest.raises(ConfigError, match="no grid axis or var 'colour'"):
        load_spec(path, known_types=TYPES, grid={"colour": ["red"]})
    res = run(_cfg(path, tmp_path / "out", grid={"method": ["small"], "seed": ["3"]}))
    assert res.ok and sorted(n for n in res.reports if n.startswith("step@")) == ["step@method=small,seed=3"]


def test_cli_grid_option(tmp_path):
    from tests.conftest import run_cli

    r = run_cli(["run", str(_write(tmp_path)), "--grid", "method", "--dry-run"])
    assert r.exit_code != 0 and "AXIS=V1,V2" in str(r.exception or r.output)
    assert "--grid" in run_cli(["demo", "--help"]).output


def test_report_labels_pool_seeds_only():
    from zs.pipelines.stages import _variant_label

    assert _variant_label("eval@method=gmmn,seed=1", ["method"]) == "gmmn"
    # an axis added with --grid stays in the label, so its settings are not pooled
    assert _variant_label("eval@method=gmmn,head_steps=500,seed=1", ["method"]) == "gmmn, head_steps=500"
    assert _variant_label("eval@lr=0.1,seed=2", ["method"]) == "lr=0.1"
    assert _variant_label("eval@seed=2", ["method"]) == "seed=2"
    assert _variant_label("full", ["method"]) == "full"


def test_stage_device_setting_stays_out_of_the_key_and_maps_to_the_workers_gpu(tmp_path, monkeypatch):
    """A stage's own ``device`` does not change its cache key (as ``--device`` does not), and on a dask
    worker it maps to that worker's GPU like ``--device`` (worker 1 of 2 GPUs -> cuda:1)."""
    import torch

    from zs import runtime
    from zs.pipelines.runner import RunContext, _remote_stage

    text = "stages:\n  d: {type: device%s}\n"
    keys = [plan(load_spec(_write(tmp_path, text % extra), known_types=TYPES), tmp_path / "o", TYPES)["d"].key
            for extra in ("", ", params: {device: cuda}", ", params: {device: cpu}")]
    assert len(set(keys)) == 1
    planned = plan(load_spec(_write(tmp_path, text % ", params: {device: cuda}"), known_types=TYPES),
                   tmp_path / "o", TYPES)
    monkeypatch.setattr(torch.cuda, "is_available", lambda: True)
    monkeypatch.setattr(torch.cuda, "device_count", lambda: 2)
    monkeypatch.setattr(runtime, "current_worker_name", lambda: "1")
    ctx = RunContext(str(tmp_path / "o"), device="cpu", progress=False, types_ref=REF)
    assert _remote_stage(planned["d"], ctx).result["device"] == "cuda:1"


def test_stage_json_records_the_stage_own_device_only(tmp_path):
    """compute.device of stage.json is what that stage resolved, not an earlier stage's device."""
    from zs.runtime import resolve_device

    resolve_device("cpu")  # as an earlier stage of this process would (and torch is loaded: compute is recorded)
    res = run(_cfg(_write(tmp_path, "stages:\n  src: {type: make, params: {value: 1}}\n"), tmp_path / "o"))
    stage = json.loads((Path(res.reports["src"].dir) / "stage.json").read_text())
    assert stage["compute"]["device"] is None
