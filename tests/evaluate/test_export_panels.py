"""`zs export` (standard formats that re-score identically) and the qualitative panels of the reports."""

import base64
import io
import json
import re
import shutil

import numpy as np
import pytest
from PIL import Image

from zs.evaluate.run import EvaluateConfig, evaluate


def _cli(args):
    from click.testing import CliRunner

    from zs.cli import cli

    return CliRunner().invoke(cli, [str(a) for a in args], catch_exceptions=True)


@pytest.fixture(scope="module")
def runs(eval_world, tmp_path_factory):
    """A cached run (all tasks, predictions saved) and a full-image run of the same head."""
    w = eval_world
    root = tmp_path_factory.mktemp("runs")
    evaluate(EvaluateConfig(head=str(w.head_dir), out=str(root / "cached"), store=w.store.url, save_predictions=True,
                            report=False))
    evaluate(EvaluateConfig(head=str(w.head_dir), out=str(root / "full"), full_image=True, segmenter=str(w.seg_dir),
                            data=str(w.root / "data"), tasks=("panoptic",), report=False))
    return root


def _unseen_file(w, path):
    path.write_text("".join(f"{w.vocab.ids[i]}\n" for i in w.vocab.unseen_indices))
    return path


def _without_saved(run, tmp_path):
    """A copy of the run directory without RUN_DIR/predictions: export must redo the inference."""
    shutil.copytree(run, tmp_path / "bare", ignore=shutil.ignore_patterns("predictions"))
    return tmp_path / "bare"


def test_exported_panoptic_rescores_identically_with_zs_metrics(eval_world, runs, tmp_path):
    w = eval_world
    run = _without_saved(runs / "cached", tmp_path)
    r = _cli(["export", run, "--format", "coco-panoptic", "--out", tmp_path / "pan", "--no-progress"])
    assert r.exit_code == 0, r.output
    assert r.output.strip().splitlines()[-1] == f"wrote {tmp_path / 'pan'}"
    pan = json.loads((tmp_path / "pan" / "panoptic.json").read_text())
    assert {"images", "annotations", "categories"} <= set(pan) and len(pan["images"]) == len(w.dataset)
    r = _cli(["metrics", "panoptic", "--gt-json", w.json, "--gt-folder", w.png, "--pred-json",
              tmp_path / "pan" / "panoptic.json", "--pred-folder", tmp_path / "pan" / "panoptic",
              "--unseen", _unseen_file(w, tmp_path / "unseen.txt"), "--out", tmp_path / "rescore.json"])
    assert r.exit_code == 0, r.output
    again = json.loads((tmp_path / "rescore.json").read_text())["panoptic"]
    run_pan = json.loads((run / "metrics.json").read_text())["panoptic"]
    for group in ("all", "seen", "unseen", "things", "stuff"):
        for key in ("pq", "sq", "rq"):
            assert again[group][key] == pytest.approx(run_pan[group][key], abs=1e-12), (group, key)
    for cid, row in run_pan["per_class"].items():
        assert (again["per_class"][cid]["tp"], again["per_class"][cid]["fp"]) == (row["tp"], row["fp"])


def test_redone_predictions_equal_the_saved_ones(runs, tmp_path):
    """Every format: export without RUN_DIR/predictions (inference redone) == export of the saved files."""
    from zs.evaluate.reports.export import export_run

    bare = _without_saved(runs / "cached", tmp_path)
    for fmt in ("coco-panoptic", "semantic", "coco-results"):
        saved = export_run(runs / "cached", fmt, tmp_path / "saved" / fmt)
        redone = export_run(bare, fmt, tmp_path / "redone" / fmt)
        files = sorted(p.relative_to(saved) for p in saved.rglob("*") if p.is_file())
        assert files == sorted(p.relative_to(redone) for p in redone.rglob("*") if p.is_file()) and files
        for rel in files:
            if rel.suffix == ".png":
                assert np.array_equal(np.asarray(Image.open(saved / rel)), np.asarray(Image.open(redone / rel))), rel
            else:
                assert json.loads((saved / rel).read_text()) == json.loads((redone / rel).read_text()), rel
    labels = json.loads((tmp_path / "saved" / "semantic" / "labels.json").read_text())
    sem = [np.asarray(Image.open(p)) for p in (tmp_path / "saved" / "semantic" / "semantic").glob("*.png")]
    assert sem and max(int(s.max()) for s in sem) < labels["num_classes"]
    r = _cli(["metrics", "semantic", "--gt-folder", tmp_path / "saved" / "semantic" / "ground_truth", "--pred-folder",
              tmp_path / "saved" / "semantic" / "semantic", "--num-classes", labels["num_classes"],
              "--out", tmp_path / "sem.json"])
    assert r.exit_code == 0, r.output
    run_sem = json.loads((runs / "cached" / "metrics.json").read_text())["semantic"]["all"]
    assert json.loads((tmp_path / "sem.json").read_text())["semantic"]["all"]["miou"] == pytest.approx(
        run_sem["miou"], abs=1e-12)
    coco = json.loads((tmp_path / "saved" / "coco-results" / "instances.json").read_text())
    results = json.loads((tmp_path / "saved" / "coco-results" / "results.json").read_text())
    assert len(coco["annotations"]) == len(results) > 0
    assert all(len(a["bbox"]) == 4 and a["area"] > 0 for a in coco["annotations"])


def _report_pngs(out_dir):
    """Every image a report references: markdown links (files) and HTML data URIs, decoded."""
    md = (out_dir / "report.md").read_text()
    html = (out_dir / "report.html").read_text()
    links = re.findall(r"!\[[^\]]*\]\(([^)]+)\)", md)
    uris = re.findall(r"src='data:image/png;base64,([^']+)'", html)
    assert "<img" not in re.sub(r"<img alt='[^']*' src='data:image/png;base64,[^']+'>", "", html)
    assert len(links) == len(uris) > 0
    images = []
    for link in links:
        assert (out_dir / link).is_file(), link
        images.append((link, (out_dir / link).read_bytes()))
    images += [("html", base64.b64decode(u)) for u in uris]
    for name, data in images:
        assert data[:8] == b"\x89PNG\r\n\x1a\n", name
        Image.open(io.BytesIO(data)).verify()  # a valid PNG, not just its signature
    return md, links


def test_run_and_batch_reports_reference_only_valid_pngs(runs, tmp_path):
    from zs.evaluate.reports.report import batch_report, write_report

    write_report(runs / "cached", tmp_path / "one")
    md, links = _report_pngs(tmp_path / "one")
    assert "report_files/panels.png" in links and "Qualitative results" in md
    batch_report([runs / "cached", runs / "full"], tmp_path / "batch", labels=["cached", "full image"])
    md, links = _report_pngs(tmp_path / "batch")
    for name in ("panels.png", "metrics_bars.png", "unseen_class_pq.png"):
        assert f"report_files/{name}" in links
    assert "image | ground truth | cached | full image" in md and "Missing" not in md
    grid = Image.open(tmp_path / "batch" / "report_files" / "panels.png")
    assert grid.width <= 1200  # fits the report's page width unscaled


def test_panel_colours_of_a_class_are_the_same_across_methods():
    """Two methods agree on a seen class and differ on an unseen segment: same pixels where they agree,
    the unseen prediction outlined in white, the unseen GT taken for a seen class outlined in red."""
    from zs.evaluate.reports.panels import MISTAKE_OUTLINE, UNSEEN_OUTLINE, PanelStyle

    cats = [{"id": 1, "name": "cow", "isthing": 1}, {"id": 2, "name": "sky", "isthing": 0},
            {"id": 5, "name": "dog", "isthing": 1}]
    style = PanelStyle(cats, unseen_ids=[5], tile=64)
    image = np.random.default_rng(0).integers(0, 255, (32, 32, 3), dtype=np.uint8)
    gt_ids = np.ones((32, 32), np.int64)
    gt_ids[:, 16:] = 2
    gt = (gt_ids, [{"id": 1, "category_id": 2}, {"id": 2, "category_id": 5}])
    sky_and_dog = style.seg_tile(image, gt_ids, [{"id": 1, "category_id": 2}, {"id": 2, "category_id": 5}], gt=gt)
    sky_and_cow = style.seg_tile(image, gt_ids, [{"id": 1, "category_id": 2}, {"id": 2, "category_id": 1}], gt=gt)
    left = (slice(4, 60), slice(4, 20))  # sky in both, away from the outlines and labels
    assert np.array_equal(sky_and_dog[left], sky_and_cow[left])
    expected = (0.4 * style.image_tile(image, (32, 32)).astype(np.float32)
                + 0.6 * np.array(style.colors[2], np.float32)).astype(np.uint8)
    assert np.array_equal(sky_and_dog[left], expected[left])
    assert (sky_and_dog == UNSEEN_OUTLINE).all(-1).sum() > 0 and (sky_and_dog == MISTAKE_OUTLINE).all(-1).sum() == 0
    assert (sky_and_cow == MISTAKE_OUTLINE).all(-1).sum() > 0
    assert style.colors == PanelStyle(list(reversed(cats)), unseen_ids=[]).colors  # by id, not position
    assert PanelStyle([{**cats[0], "color": [1, 2, 3]}], []).colors[1] == (1, 2, 3)  # the table's colour wins


def test_choose_images_puts_unseen_first_and_is_seeded(eval_world):
    from zs.evaluate.evaluation.streaming import PanopticGroundTruth
    from zs.evaluate.reports.panels import choose_images

    w = eval_world
    gt = PanopticGroundTruth(w.json, w.png, w.vocab)
    ids = sorted(gt.by_image)
    present = {i: {s["category_id"] for s in gt.by_image[i]["segments_info"] if not s.get("iscrowd")} for i in ids}
    unseen = [min(set.union(*present.values()), key=lambda c: sum(c in p for p in present.values()))]  # rarest
    holds = {i for i in ids if unseen[0] in present[i]}
    assert 0 < len(holds) < len(ids)
    picked = choose_images(gt, ids, unseen, n=len(ids), seed=3)
    assert set(picked[:len(holds)]) == holds and sorted(picked) == ids
    assert picked == choose_images(gt, ids, unseen, n=len(ids), seed=3)
    assert choose_images(gt, ids, unseen, n=2, seed=3) == picked[:2]


def test_bad_input_is_named_and_the_rest_of_the_report_written(eval_world, runs, tmp_path):
    from zs.evaluate.reports.report import batch_report
    from zs.store import create_store

    w = eval_world
    # an image missing from disk: its tile is grey, the note names the file
    data = tmp_path / "data"
    shutil.copytree(w.root / "data", data)
    missing = sorted((data / "images").glob("*.png"))
    for p in missing:
        p.unlink()
    moved = tmp_path / "moved"
    shutil.copytree(runs / "cached", moved, ignore=shutil.ignore_patterns("predictions"))
    metrics = json.loads((moved / "metrics.json").read_text())
    metrics["provenance"]["dataset"]["images"] = str(data / "images")
    (moved / "metrics.json").write_text(json.dumps(metrics))
    # a run whose store's val split has no masks
    nomask = tmp_path / "nomask"
    shutil.copytree(runs / "cached", nomask, ignore=shutil.ignore_patterns("predictions"))
    empty = create_store(tmp_path / "empty", {"vocabulary": w.vocab.to_dict(),
                                              "segmenter": {"sha256": w.segmenter.sha256}})
    with empty.open_writer("val", num_images=1, num_queries=w.segmenter.num_queries,
                           query_dim=w.segmenter.query_dim, num_classes=w.vocab.num_classes):
        pass
    metrics = json.loads((nomask / "metrics.json").read_text())
    metrics["provenance"]["store"]["url"] = str(tmp_path / "empty")
    (nomask / "metrics.json").write_text(json.dumps(metrics))
    # a run folder without predictions or anything to redo them from
    gone = tmp_path / "gone"
    gone.mkdir()
    (gone / "metrics.json").write_text(json.dumps({"provenance": {}, "panoptic": metrics["panoptic"]}))

    batch_report([moved, nomask, gone], tmp_path / "out", labels=["moved", "no masks", "gone"])
    md, links = _report_pngs(tmp_path / "out")
    assert "report_files/panels.png" in links and "Ablation table" in md
    notes = [line for line in md.splitlines() if line.startswith("Missing: ")]
    assert any(str(missing[0].name) in n and "not found" in n for n in notes)
    assert any(n.startswith("Missing: no masks: ") and "has no masks" in n for n in notes)
    assert any(n.startswith("Missing: gone: ") and "provenance.mode" in n for n in notes)
    assert all("\n" not in n for n in notes)
    # a report whose first run has nothing to draw from: one line, the rest written
    batch_report([gone, moved], tmp_path / "out2", labels=["gone", "moved"])
    md = (tmp_path / "out2" / "report.md").read_text()
    assert "Qualitative panels not drawn: " in md and "Ablation table" in md
    r = _cli(["export", gone, "--format", "coco-panoptic"])
    assert r.exit_code != 0 and "provenance.mode" in str(r.exception)
