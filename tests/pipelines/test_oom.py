"""CUDA out-of-memory in a stage is that stage's failure; the other variants finish; exit status 1."""

import pytest

from zs.pipelines.run import RunConfig, run

REF = "zs.pipelines.testing:TYPES"
SPEC = """\
vars: {big: false}
stages:
  src: {type: make, params: {value: 1}}
grid:
  size:
    small: {big: false}
    large: {big: true}
variant_stages:
  train: {type: oom, inputs: {a: src}, params: {device: "cuda:1", fail: "${big}"}}
  step: {type: add, inputs: {a: src}}
  after: {type: add, inputs: {a: train}}
"""


def _spec(tmp_path, text=SPEC):
    p = tmp_path / "spec.yaml"
    p.write_text(text)
    return p


def test_out_of_memory_fails_one_stage_and_the_rest_runs(tmp_path):
    res = run(RunConfig(str(_spec(tmp_path)), str(tmp_path / "out"), types_ref=REF, progress=False))
    st = {n: r.status for n, r in res.reports.items()}
    train = [n for n in st if n.startswith("train")]
    failed = [n for n in train if st[n] == "failed"]
    assert len(failed) == 1 and all(st[n] in ("ran", "cached") for n in st if n.startswith("step"))
    assert [st[n] for n in train if n not in failed] == ["ran"]
    assert not res.ok and [r.name for r in res.failures()][0] == failed[0]
    err = res.reports[failed[0]].error
    assert err == (f"out of CUDA memory in stage {failed[0]} on --device cuda:1: "
                   "CUDA out of memory. Tried to allocate 20.00 GiB.")
    blocked = [n for n in st if st[n] == "blocked"]
    assert len(blocked) == 1 and blocked[0].startswith("after") and "large" in blocked[0]


def test_cli_exits_non_zero_after_the_other_stages(tmp_path, capsys):
    from zs.pipelines.cli import _execute  # what `zs run` calls, here with the stand-in stage types

    with pytest.raises(SystemExit) as e:
        _execute(RunConfig(str(_spec(tmp_path)), str(tmp_path / "o"), types_ref=REF, device="cpu"))
    assert e.value.code == 1
    err = capsys.readouterr().err
    assert "out of CUDA memory in stage train" in err and "[    ran] step" in err


def test_other_exceptions_are_still_bugs(tmp_path):
    text = "stages:\n  a: {type: crash}\n"
    with pytest.raises(RuntimeError, match="a bug"):
        run(RunConfig(str(_spec(tmp_path, text)), str(tmp_path / "out"), types_ref=REF, progress=False))
