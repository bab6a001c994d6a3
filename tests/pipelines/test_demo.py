"""The built-in demo pipeline end to end, at a reduced size (the real stages, shipped models)."""

import json
from pathlib import Path

import pytest

from zs.pipelines.run import RunConfig, run

SMALL = {"train_images": "48", "val_images": "12", "gen_iterations": "20", "head_steps": "20"}
METHODS = ["seen-only", "projection", "gmmn", "primitive", "pading", "semantic-centric"]


@pytest.mark.slow
def test_demo_small_end_to_end_and_cached(tmp_path):
    out = tmp_path / "demo"
    res = run(RunConfig("demo", str(out), dict(SMALL), progress=False))
    failed = {n: r.error for n, r in res.reports.items() if r.status in ("failed", "blocked")}
    assert not failed, failed
    # every method of the grid was evaluated, and the batch report lines them up
    evals = {n.split("method=")[1].split(",")[0]: r for n, r in res.reports.items() if n.startswith("eval@")}
    assert sorted(evals) == sorted(METHODS)
    summary = (out / "summary.txt").read_text()
    for m in METHODS:
        assert m in summary
    assert (out / "report" / "report.html").is_file()
    metrics = {m: json.loads(Path(r.result["run"], "metrics.json").read_text()) for m, r in evals.items()}
    for m in METHODS:
        assert {"panoptic", "semantic", "instance"} <= set(metrics[m])
    # the seen-only head never predicts an unseen class
    assert (metrics["seen-only"]["semantic"]["unseen"]["miou"] or 0.0) == 0.0
    # generator-based rows have diagnostics attached to their runs
    assert (Path(evals["pading"].result["run"]) / "diagnostics" / "diagnostics.json").is_file()
    # the full-image pass of the picked head agrees with its cached evaluation (0.1 PQ point)
    full = res.reports["full"].result
    picked = full["picked"].split("method=")[1].split(",")[0]
    full_pq = json.loads(Path(full["run"], "metrics.json").read_text())["panoptic"]["all"]["pq"]
    assert abs(full_pq - metrics[picked]["panoptic"]["all"]["pq"]) <= 0.001
    # a second run of the unchanged spec does nothing
    again = run(RunConfig("demo", str(out), dict(SMALL), progress=False))
    assert {r.status for r in again.reports.values()} <= {"cached", "disabled"}
