"""Single-run reports, batch (ablation) reports and the terminal table."""

import base64
import json

import pytest

from tests.conftest import run_cli
from zs.errors import ZsError
from zs.evaluate.metrics import PanopticEvaluator, SemSegEvaluator
from zs.evaluate.reports.report import batch_report, write_report
from zs.evaluate.reports.report_batch import paper_row
from zs.manifest import write_json_atomic
from zs.text_table import format_table

CATS = [{"id": 1, "name": "cow", "isthing": 1}, {"id": 2, "name": "sky", "isthing": 0},
        {"id": 3, "name": "dog", "isthing": 1}]


def _metrics(seed, pq_scale=1.0, config="a"):
    import numpy as np

    pan = PanopticEvaluator(CATS, unseen_ids=[1])
    gt = np.array([[5, 5, 5, 6, 6, 6, 7, 7]])
    pred = np.array([[8, 8, 8, 9, 9, 0, 4, 4]])
    pan.process(gt, [{"id": 5, "category_id": 1, "iscrowd": 0, "area": 3},
                     {"id": 6, "category_id": 2, "iscrowd": 0, "area": 3},
                     {"id": 7, "category_id": 3, "iscrowd": 0, "area": 2}],
                pred, [{"id": 8, "category_id": 1}, {"id": 9, "category_id": 2}, {"id": 4, "category_id": 1}])
    sem = SemSegEvaluator(3, unseen=[0], names=["cow", "sky", "dog"])
    sem.process(np.array([[0, 0, 1, 2]]), np.array([[0, 1, 1, 2]]))
    p = pan.evaluate()
    p["hm"] = {k: (v * pq_scale if v is not None else v) for k, v in p["hm"].items()}
    return {"provenance": {"mode": "cached", "seed": seed, "config": {"method": config},
                           "head": {"path": f"/runs/h{seed}", "sha256": f"{seed:064d}"},
                           "timing": {"seconds": 1.0 + seed}},
            "panoptic": p, "semantic": sem.evaluate(), "unseen_confusion": pan.unseen_confusion()}


def test_write_report_files(tmp_path):
    run = tmp_path / "run"
    write_json_atomic(run / "metrics.json", _metrics(0))
    write_json_atomic(run / "diagnostics" / "diagnostics.json", {"knn": {"unseen_acc": 0.4321}})
    (run / "diagnostics" / "tsne.png").write_bytes(b"\x89PNG fake")
    paths = write_report(run)
    md, html = paths["md"].read_text(), paths["html"].read_text()
    assert "| PQ seen | PQ unseen | PQ HM |" in md and "mIoU HM" in md
    row = paper_row(_metrics(0))
    assert f"| {row['PQ seen']:.1f} | {row['PQ unseen']:.1f} |" in md
    assert "Per-class panoptic quality" in md and "| 1 | cow | thing | unseen |" in md
    assert "Where did unseen segments go?" in md and "knn.unseen_acc" in md
    assert (run / "report_files" / "per_class_pq.png").read_bytes()[:4] == b"\x89PNG"
    assert (run / "report_files" / "unseen_confusion.png").is_file()
    assert "src='data:image/png;base64," in html and "report_files/" not in html  # self-contained
    assert base64.b64encode(b"\x89PNG fake").decode() in html  # diagnostics PNG inlined
    assert "<table>" in html and "PQ HM" in html


def test_write_report_missing_metrics(tmp_path):
    with pytest.raises(ZsError, match="metrics.json"):
        write_report(tmp_path)


def test_batch_report_groups_seeds_mean_std(tmp_path):
    dirs = []
    for name, seed, scale, config in (("gmmn_s0", 0, 1.0, "gmmn"), ("gmmn_s1", 1, 0.5, "gmmn"),
                                      ("pading", 0, 1.0, "pading")):
        write_json_atomic(tmp_path / name / "metrics.json", _metrics(seed, scale, config))
        dirs.append(tmp_path / name)
    summary = batch_report(dirs, tmp_path / "out")
    rows = {r["label"]: r for r in summary["rows"]}
    assert set(rows) == {"gmmn", "pading"}
    g = rows["gmmn"]
    hm = [paper_row(_metrics(s, sc))["PQ HM"] for s, sc in ((0, 1.0), (1, 0.5))]
    assert g["n"] == 2 and g["seeds"] == [0, 1]
    assert g["mean"]["PQ HM"] == pytest.approx(sum(hm) / 2)
    assert g["std"]["PQ HM"] == pytest.approx(abs(hm[0] - hm[1]) / 2 ** 0.5)
    assert g["std"]["PQ seen"] == 0.0 and rows["pading"]["std"]["PQ seen"] is None
    text = summary["table_text"]
    assert "±" in text and "gmmn" in text and "pading" in text
    assert json.loads((tmp_path / "out" / "summary.json").read_text())["rows"][0]["n"] == 2
    md = (tmp_path / "out" / "report.md").read_text()
    assert f"{g['mean']['PQ HM']:.1f} ± {g['std']['PQ HM']:.1f}" in md
    assert (tmp_path / "out" / "report.html").is_file() and (tmp_path / "out" / "manifest.json").is_file()


def test_batch_report_labels(tmp_path):
    for name in ("x", "y"):
        write_json_atomic(tmp_path / name / "metrics.json", _metrics(0, 1.0, name))
    summary = batch_report([tmp_path / "x", tmp_path / "y"], tmp_path / "out", labels=["same", "same"])
    assert len(summary["rows"]) == 1 and summary["rows"][0]["n"] == 2
    with pytest.raises(ZsError, match="labels"):
        batch_report([tmp_path / "x"], tmp_path / "out", labels=["a", "b"])


def test_format_table():
    text = format_table([{"run": "a", "PQ": 12.345, "n": 2}, {"run": "bb", "PQ": None}])
    lines = text.splitlines()
    assert lines[0].split() == ["run", "PQ", "n"]
    assert "12.3" in lines[2] and "–" in lines[3]
    assert len({len(line) for line in lines[:3]}) == 1  # aligned


def test_report_cli(tmp_path):
    for name, seed in (("r_seed0", 0), ("r_seed1", 1)):
        write_json_atomic(tmp_path / name / "metrics.json", _metrics(seed))
    r = run_cli(["report", tmp_path / "r_seed0"])
    assert r.exit_code == 0, r.output
    assert (tmp_path / "r_seed0" / "report.html").is_file()
    r = run_cli(["report", tmp_path / "r_seed0", tmp_path / "r_seed1", "--out", tmp_path / "abl"])
    assert r.exit_code == 0, r.output
    lines = r.output.splitlines()
    assert "PQ HM" in lines[0]
    assert lines[2].split()[:2] == ["r", "2"]  # r_seed0 + r_seed1 -> one row "r", 2 runs
    assert (tmp_path / "abl" / "summary.json").is_file()


def test_batch_report_lines_up_diagnostics(tmp_path):
    for name, seed, acc in (("gen_s0", 0, 0.10), ("gen_s1", 1, 0.30), ("seen_only", 0, None)):
        write_json_atomic(tmp_path / name / "metrics.json", _metrics(seed, 1.0, "gen" if acc is not None else "so"))
        if acc is not None:
            write_json_atomic(tmp_path / name / "diagnostics" / "diagnostics.json",
                              {"summary": {"prototype_acc_with_seen": acc, "text_ridge_acc_with_seen": 0.05,
                                           "mmd_mean": 0.5}})
    summary = batch_report([tmp_path / n for n in ("gen_s0", "gen_s1", "seen_only")], tmp_path / "out")
    diag = summary["diagnostics"]
    assert [r["label"] for r in diag["rows"]] == ["gen"]  # the run without diagnostics has no row
    row = diag["rows"][0]
    assert row["n"] == 2 and row["mean"]["nearest centre (with seen)"] == pytest.approx(20.0)
    assert row["mean"]["text-ridge probe"] == pytest.approx(5.0) and row["mean"]["MMD (mean)"] == 0.5
    assert row["mean"]["oracle centres"] is None  # absent figure -> "–"
    md = (tmp_path / "out" / "report.md").read_text()
    assert "Synthetic unseen features (zs diagnose)" in md and "20.00 ± 14.14" in md
