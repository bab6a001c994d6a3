"""`zs evaluate` end to end: metrics.json with provenance, predictions, bad input."""

import json

import pytest

import evalworld
from zs.errors import ConfigError, ProvenanceError, StoreError
from zs.evaluate.run import EvaluateConfig, evaluate


def _cli(args):
    from click.testing import CliRunner

    from zs.cli import cli

    return CliRunner().invoke(cli, [str(a) for a in args], catch_exceptions=True)


def test_cli_cached_writes_metrics_with_provenance_and_predictions(eval_world, tmp_path):
    w = eval_world
    r = _cli(["evaluate", "--store", w.store.url, "--head", w.head_dir, "--out", tmp_path / "run", "--no-progress",
              "--save-predictions", "--no-report", "--seed", 7])
    assert r.exit_code == 0, r.output
    assert "panoptic PQ" in r.output
    m = json.loads((tmp_path / "run" / "metrics.json").read_text())
    assert {"provenance", "panoptic", "semantic", "instance", "unseen_confusion"} <= set(m)
    p = m["provenance"]
    assert p["mode"] == "cached" and p["num_images"] == len(w.dataset) and p["seed"] == 7
    assert p["store"]["sha256"] == w.store.sha256
    assert p["segmenter"]["sha256"] == w.segmenter.sha256
    assert p["head"]["manifest"]["kind"] == "zs-head" and p["generator"] == {"path": "gen/", "sha256": "abc"}
    assert p["timing"]["seconds"] > 0
    assert json.loads((tmp_path / "run" / "manifest.json").read_text())["kind"] == "zs-metrics"
    for key in ("seen", "unseen", "hm"):
        assert key in m["panoptic"] and key in m["semantic"]
    pred = tmp_path / "run" / "predictions"
    pan = json.loads((pred / "panoptic.json").read_text())
    assert len(pan["annotations"]) == len(w.dataset)
    assert len(list((pred / "panoptic").glob("*.png"))) == len(w.dataset)
    assert len(list((pred / "semantic").glob("*.png"))) == len(w.dataset)
    results = json.loads((pred / "instances.json").read_text())
    assert results and {"image_id", "category_id", "segmentation", "score"} <= set(results[0])


def test_saved_panoptic_predictions_score_the_same_with_zs_metrics(eval_world, tmp_path):
    """The standard files round-trip: file-level PQ of the saved predictions == the streamed PQ."""
    from zs.evaluate.metrics import evaluate_panoptic_files

    w = eval_world
    res = evaluate(EvaluateConfig(head=str(w.head_dir), out=str(tmp_path / "run"), store=w.store.url,
                                  tasks=("panoptic",), save_predictions=True, report=False))
    pred = tmp_path / "run" / "predictions"
    files = evaluate_panoptic_files(str(w.json), str(w.png), str(pred / "panoptic.json"), str(pred / "panoptic"))
    assert files["all"]["pq"] == pytest.approx(res.metrics["panoptic"]["all"]["pq"], abs=1e-12)


def test_full_image_run_and_limit(eval_world, tmp_path):
    w = eval_world
    res = evaluate(EvaluateConfig(head=str(w.head_dir), out=str(tmp_path / "run"), full_image=True,
                                  segmenter=str(w.seg_dir), data=str(w.root / "data"), tasks=("panoptic",),
                                  limit=2, report=True))
    p = res.metrics["provenance"]
    assert (tmp_path / "run" / "report.md").is_file() and (tmp_path / "run" / "report.html").is_file()
    assert p["mode"] == "full-image" and p["num_images"] == 2 and p["segmenter"]["sha256"] == w.segmenter.sha256
    assert (tmp_path / "run" / "metrics.json").is_file()


def test_bad_tasks_and_missing_mode_inputs(eval_world, tmp_path):
    w = eval_world
    with pytest.raises(ConfigError, match="bogus"):
        evaluate(EvaluateConfig(head=str(w.head_dir), out=str(tmp_path), store=w.store.url, tasks="panoptic,bogus"))
    with pytest.raises(ConfigError, match="--store"):
        evaluate(EvaluateConfig(head=str(w.head_dir), out=str(tmp_path)))
    r = _cli(["evaluate", "--head", w.head_dir, "--out", tmp_path / "x", "--full-image"])
    assert r.exit_code != 0


def test_head_for_another_vocabulary_or_segmenter_is_refused(eval_world, tmp_path):
    import dataclasses

    from zs.evaluate.evaluation.cached import evaluate_cached
    from zs.evaluate.evaluation.full_image import evaluate_full_image

    w = eval_world
    other = evalworld.make_head(w.segmenter, w.vocab)
    other.cfg = dataclasses.replace(other.cfg, vocab_sha256="0" * 64)
    with pytest.raises(ProvenanceError, match="vocabulary"):
        evaluate_cached(w.store, other)
    other.cfg = dataclasses.replace(other.cfg, vocab_sha256=w.vocab.sha256, segmenter_sha256="1" * 64)
    with pytest.raises(ProvenanceError, match="segmenter"):
        evaluate_cached(w.store, other)
    with pytest.raises(ProvenanceError, match="segmenter"):
        evaluate_full_image(w.segmenter, other, w.dataset, w.vocab)


def test_store_without_val_split_or_masks_is_refused(eval_world, tmp_path):
    from zs.evaluate.evaluation.cached import evaluate_cached
    from zs.store import create_store

    w = eval_world
    empty = create_store(tmp_path / "empty", {"vocabulary": w.vocab.to_dict(),
                                              "segmenter": {"sha256": w.segmenter.sha256}})
    with pytest.raises(StoreError, match="no 'val' split"):
        evaluate_cached(empty, w.head)
    with empty.open_writer("val", num_images=1, num_queries=w.segmenter.num_queries,
                           query_dim=w.segmenter.query_dim, num_classes=w.vocab.num_classes):
        pass
    with pytest.raises(StoreError, match="no masks"):
        evaluate_cached(empty, w.head)
    r = _cli(["evaluate", "--store", tmp_path / "empty", "--head", w.head_dir, "--out", tmp_path / "r"])
    assert r.exit_code != 0 and "no masks" in str(r.exception)


def test_cached_evaluation_in_two_processes_equals_one(eval_world, tmp_path):
    """--workers 2: the merged statistics, instance results and prediction files are those of one process."""
    from zs.evaluate.evaluation.cached import chunks

    assert [len(c) for c in chunks(list(range(6)), 2)] == [3, 3]
    assert [len(c) for c in chunks(list(range(100)), 2)] == [9] * 11 + [1]
    w = eval_world
    runs = {}
    for workers in (1, 2):
        res = evaluate(EvaluateConfig(head=str(w.head_dir), out=str(tmp_path / f"w{workers}"), store=w.store.url,
                                      save_predictions=True, report=False, workers=workers))
        runs[workers] = res.metrics
        assert res.metrics["provenance"]["timing"]["workers"] == workers
    one, two = runs[1], runs[2]
    assert two["provenance"]["num_images"] == one["provenance"]["num_images"] == len(w.dataset)
    for task in ("semantic", "instance", "unseen_confusion"):
        assert two[task] == one[task], task
    assert _close(two["panoptic"], one["panoptic"])
    for name in ("panoptic.json", "instances.json"):
        assert (tmp_path / "w2" / "predictions" / name).read_text() == (tmp_path / "w1" / "predictions" / name).read_text()
    for png in (tmp_path / "w1" / "predictions" / "panoptic").glob("*.png"):
        assert (tmp_path / "w2" / "predictions" / "panoptic" / png.name).read_bytes() == png.read_bytes()


def _close(a, b, tol=1e-12) -> bool:
    """Nested dicts equal, floats to ``tol`` (PQ's IoU sums are added in another order across processes)."""
    if isinstance(a, dict):
        return a.keys() == b.keys() and all(_close(a[k], b[k], tol) for k in a)
    if isinstance(a, float) and isinstance(b, float):
        return abs(a - b) <= tol
    return a == b


def test_workers_are_refused_when_they_cannot_apply(eval_world, tmp_path):
    w = eval_world
    with pytest.raises(ConfigError, match="--workers 0"):
        evaluate(EvaluateConfig(head=str(w.head_dir), out=str(tmp_path / "a"), store=w.store.url, workers=0))
    with pytest.raises(ConfigError, match="--workers 2: applies to cached"):
        evaluate(EvaluateConfig(head=str(w.head_dir), out=str(tmp_path / "b"), full_image=True,
                                segmenter=str(w.seg_dir), data=str(w.root / "data"), workers=2))
    assert not (tmp_path / "a").exists() and not (tmp_path / "b").exists()
