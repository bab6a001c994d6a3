"""The shared reference cases (panopticapi, detectron2 SemSegEvaluator, pycocotools), to ~1e-9."""

import json
from concurrent.futures import ThreadPoolExecutor

import pytest

from tests.conftest import run_cli
from zs.evaluate.metrics import evaluate_panoptic_files, evaluate_semantic_files, instance_metrics

TOL = 1e-9


def _close(a, b, scale=1.0):
    if b is None:
        return a is None
    return a is not None and abs(a - b / scale) <= TOL


@pytest.fixture(scope="module")
def pan(reference_dir):
    d = reference_dir / "metrics" / "panoptic_pq"
    return d, json.loads((d / "expected.json").read_text()), json.loads((d / "split.json").read_text())


def _pan_args(d):
    return d / "gt.json", d / "gt", d / "pred.json", d / "pred"


def check_panoptic(res, exp):
    for key, ref in (("all", "All"), ("things", "Things"), ("stuff", "Stuff")):
        for m in ("pq", "sq", "rq"):
            assert _close(res[key][m], exp["summary"][ref][m]), (key, m)
        assert res[key]["n"] == exp["summary"][ref]["n"]
    assert set(res["per_class"]) == set(exp["per_class"])
    for cid, ref in exp["per_class"].items():
        got = res["per_class"][cid]
        for m in ("tp", "fp", "fn"):
            assert got[m] == ref[m], (cid, m)
        for m in ("pq", "sq", "rq", "iou_sum"):
            assert _close(got[m], ref[m]), (cid, m)
        assert got["counted"] == ref["counted_in_average"]
    ov = exp["open_vocab"]
    for m in ("pq", "sq", "rq"):
        assert _close(res["seen"][m], ov[f"{m}_seen"])
        assert _close(res["unseen"][m], ov[f"{m}_unseen"])
        assert _close(res["hm"][m], ov[f"{m}_hm"])
    assert (res["seen"]["n"], res["unseen"]["n"]) == (ov["n_seen"], ov["n_unseen"])


def test_panoptic_reference_serial(pan):
    d, exp, split = pan
    check_panoptic(evaluate_panoptic_files(*_pan_args(d), unseen=split["unseen"]), exp)


def test_panoptic_reference_executor_and_chunks(pan):
    d, exp, split = pan
    with ThreadPoolExecutor(2) as ex:
        res = evaluate_panoptic_files(*_pan_args(d), unseen=split["unseen"], executor=ex, num_chunks=5)
    check_panoptic(res, exp)
    assert res["num_images"] == 12


def test_panoptic_reference_per_image(pan):
    """Every image alone gives the reference's per-image statistics."""
    from zs.evaluate.metrics.panoptic_files import chunk_pq_stat, pair_annotations

    d, exp, _ = pan
    cats, pairs = pair_annotations(str(d / "gt.json"), str(d / "pred.json"))
    for gt_ann, pred_ann in pairs:
        stat = chunk_pq_stat([(gt_ann, pred_ann)], str(d / "gt"), str(d / "pred"), [c["id"] for c in cats])
        ref = exp["per_image"][str(gt_ann["image_id"])]["per_class"]
        got = {str(c): s for c, s in stat.per_cat.items() if s.tp + s.fp + s.fn}
        assert set(got) == set(ref), gt_ann["image_id"]
        for cid, r in ref.items():
            assert (got[cid].tp, got[cid].fp, got[cid].fn) == (r["tp"], r["fp"], r["fn"]), (gt_ann["image_id"], cid)
            assert abs(got[cid].iou - r["iou_sum"]) <= TOL


def test_panoptic_cli_with_unseen_file(pan, tmp_path):
    d, exp, split = pan
    unseen = tmp_path / "unseen.txt"
    unseen.write_text("\n".join(str(u) for u in split["unseen"]) + "\n")
    out = tmp_path / "pq.json"
    r = run_cli(["metrics", "panoptic", "--gt-json", d / "gt.json", "--gt-folder", d / "gt", "--pred-json",
                 d / "pred.json", "--pred-folder", d / "pred", "--unseen", unseen, "--workers", "2", "--out", out])
    assert r.exit_code == 0, r.output
    res = json.loads(out.read_text())
    check_panoptic(res["panoptic"], exp)
    assert res["provenance"]["kind"] == "metrics-panoptic"
    assert "PQ" in r.output


@pytest.fixture(scope="module")
def sem(reference_dir):
    d = reference_dir / "metrics" / "semseg_miou"
    return d, json.loads((d / "expected.json").read_text()), json.loads((d / "meta.json").read_text())


def check_semantic(res, exp):
    for key, ref in (("miou", "mIoU"), ("fwiou", "fwIoU"), ("pacc", "pACC"), ("macc", "mACC")):
        assert _close(res["all"][key], exp[ref], 100), key
    for ref in exp["per_class"]:
        got = res["per_class"][str(ref["index"])]
        assert _close(got["iou"], ref["iou"], 100) and _close(got["acc"], ref["acc"], 100), ref
        assert (got["tp"], got["pos_gt"], got["pos_pred"]) == (ref["tp"], ref["pos_gt"], ref["pos_pred"])
    ov = exp["open_vocab"]
    assert _close(res["seen"]["miou"], ov["mIoU_seen"], 100)
    assert _close(res["unseen"]["miou"], ov["mIoU_unseen"], 100)
    assert _close(res["hm"]["miou"], ov["hIoU"], 100)
    assert _close(res["seen"]["pacc"], ov["pACC_seen"], 100)
    assert _close(res["unseen"]["pacc"], ov["pACC_unseen"], 100)
    assert (res["seen"]["n"], res["unseen"]["n"]) == (ov["n_seen_valid"], ov["n_unseen_valid"])


def test_semantic_reference(sem):
    d, exp, meta = sem
    res = evaluate_semantic_files(d / "gt", d / "pred", meta["num_classes"], ignore_label=meta["ignore_label"],
                                  unseen=meta["unseen"], names=meta["classes"])
    check_semantic(res, exp)


def test_semantic_confusion_matrix_reference(sem):
    from zs.evaluate.metrics import SemSegEvaluator, read_label_png

    d, exp, meta = sem
    ev = SemSegEvaluator(meta["num_classes"])
    for f in meta["files"]:
        ev.process(read_label_png(d / "gt" / f), read_label_png(d / "pred" / f))
    assert ev.conf.tolist() == exp["confusion_matrix"]["matrix"]


def test_semantic_cli_unseen_by_name(sem, tmp_path):
    d, exp, meta = sem
    (tmp_path / "unseen.txt").write_text("\n".join(meta["classes"][i] for i in meta["unseen"]) + "\n")
    (tmp_path / "names.txt").write_text("\n".join(meta["classes"]) + "\n")
    out = tmp_path / "sem.json"
    r = run_cli(["metrics", "semantic", "--gt-folder", d / "gt", "--pred-folder", d / "pred", "--num-classes", 8,
                 "--names", tmp_path / "names.txt", "--unseen", tmp_path / "unseen.txt", "--out", out])
    assert r.exit_code == 0, r.output
    check_semantic(json.loads(out.read_text())["semantic"], exp)


@pytest.fixture(scope="module")
def inst(reference_dir):
    d = reference_dir / "metrics" / "instance_map"
    return (d, json.loads((d / "expected.json").read_text()), json.loads((d / "split.json").read_text()),
            json.loads((d / "gt.json").read_text()), json.loads((d / "detections.json").read_text()))


def check_instance(res, exp):
    assert len(res["stats"]) == 12
    for got, ref in zip(res["stats"], exp["stats"]):
        assert abs(got - ref) <= TOL
    names = ("ap", "ap50", "ap75", "aps", "apm", "apl")
    refs = ("AP", "AP50", "AP75", "APs", "APm", "APl")
    for k, ref in zip(names, refs):
        assert _close(res["all"][k], exp["stats_d2"][ref], 100), k
    for cid, ref in exp["per_category"].items():
        got = res["per_class"][cid]
        for k, rk in (("ap", "AP"), ("ap50", "AP50"), ("ap75", "AP75")):
            assert _close(got[k], ref[rk], 100), (cid, k)
        assert (got["num_gt"], got["num_det"]) == (ref["num_gt_non_crowd"], ref["num_det"])
    ov = exp["open_vocab"]
    assert _close(res["seen"]["ap50"], ov["AP50_seen"], 100)
    assert _close(res["unseen"]["ap50"], ov["AP50_unseen"], 100)
    assert _close(res["hm"]["ap50"], ov["AP50_hm"], 100)
    assert res["summary_text"].splitlines() == exp["summarize_output"]


@pytest.mark.parametrize("iou_type", ["segm", "bbox"])
def test_instance_reference(inst, iou_type, capsys):
    d, exp, split, gt, dets = inst
    res = instance_metrics(gt, dets, iou_type, split["unseen"])
    check_instance(res, exp[iou_type])
    assert capsys.readouterr().out == ""  # pycocotools' prints are captured


def test_instance_cli(inst, tmp_path):
    d, exp, split, _, _ = inst
    (tmp_path / "unseen.txt").write_text("\n".join(map(str, split["unseen"])) + "\n")
    out = tmp_path / "ap.json"
    r = run_cli(["metrics", "instance", "--gt-json", d / "gt.json", "--results-json", d / "detections.json",
                 "--iou-type", "bbox", "--unseen", tmp_path / "unseen.txt", "--out", out])
    assert r.exit_code == 0, r.output
    check_instance(json.loads(out.read_text())["instance"], exp["bbox"])
