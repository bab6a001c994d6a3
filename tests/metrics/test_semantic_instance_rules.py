"""Tiny cases for the detectron2 mIoU rules and the COCOeval wrapper."""

import numpy as np
import pytest
from PIL import Image

from zs.errors import ZsError
from zs.evaluate.metrics import SemSegEvaluator, evaluate_semantic_files, instance_metrics


def test_class_absent_from_gt_is_excluded_even_when_predicted():
    ev = SemSegEvaluator(4, unseen=[2, 3])
    gt = np.array([[0, 0, 1, 1, 255, 255]])
    pred = np.array([[0, 2, 1, 1, 3, 3]])  # class 2 predicted but absent from GT; class 3 only on ignore
    ev.process(gt, pred)
    res = ev.evaluate()
    pc = res["per_class"]
    assert pc["2"]["iou"] is None and pc["2"]["pos_pred"] == 1
    assert pc["3"]["iou"] is None and pc["3"]["pos_pred"] == 0  # predictions on ignore do not count
    assert pc["0"]["iou"] == pytest.approx(0.5)  # the wrong class-2 pixel lowers class 0
    assert pc["1"]["iou"] == 1.0
    assert res["all"]["miou"] == pytest.approx(0.75)
    assert res["all"]["pacc"] == pytest.approx(3 / 4)
    assert res["unseen"] == {"miou": None, "n": 0, "pacc": None}
    assert res["hm"]["miou"] is None


def test_gt_class_never_predicted_counts_zero():
    ev = SemSegEvaluator(3)
    ev.process(np.array([[0, 0, 1, 2]]), np.array([[0, 0, 0, 2]]))
    res = ev.evaluate()
    assert res["per_class"]["1"]["iou"] == 0.0
    assert res["all"]["miou"] == pytest.approx((2 / 3 + 0 + 1) / 3)


def test_semantic_merge_equals_single_pass():
    rng = np.random.default_rng(1)
    pairs = [(rng.integers(0, 5, (7, 9)), rng.integers(0, 5, (7, 9))) for _ in range(6)]
    for gt, _ in pairs:
        gt[gt == 4] = 255
    single, a, b = SemSegEvaluator(5), SemSegEvaluator(5), SemSegEvaluator(5)
    for i, (g, p) in enumerate(pairs):
        single.process(g, p)
        (a if i % 2 else b).process(g, p)
    a += b
    assert (a.conf == single.conf).all()
    assert a.evaluate() == single.evaluate()


@pytest.mark.parametrize("gt, pred, message", [
    (np.zeros((2, 2)), np.zeros((2, 3)), "size"),
    (np.zeros((2, 2)), np.full((2, 2), 7), "predicted label 7"),
    (np.full((2, 2), 9), np.zeros((2, 2)), "ground-truth label 9"),
])
def test_semantic_bad_input(gt, pred, message):
    with pytest.raises(ZsError, match=message):
        SemSegEvaluator(3).process(gt, pred)


def test_semantic_files_missing_prediction(tmp_path):
    for d in ("gt", "pred"):
        (tmp_path / d).mkdir()
    Image.fromarray(np.zeros((3, 3), np.uint8)).save(tmp_path / "gt" / "a.png")
    Image.fromarray(np.zeros((3, 3), np.uint8)).save(tmp_path / "gt" / "b.png")
    Image.fromarray(np.zeros((3, 3), np.uint8)).save(tmp_path / "pred" / "a.png")
    with pytest.raises(ZsError, match="b.png: prediction missing"):
        evaluate_semantic_files(tmp_path / "gt", tmp_path / "pred", 2)


def _gt():
    return {"images": [{"id": 1, "height": 20, "width": 20}],
            "categories": [{"id": 1, "name": "a"}, {"id": 2, "name": "b"}],
            "annotations": [{"id": 1, "image_id": 1, "category_id": 1, "bbox": [0, 0, 10, 10], "area": 100,
                             "iscrowd": 0},
                            {"id": 2, "image_id": 1, "category_id": 2, "bbox": [10, 10, 5, 5], "area": 25,
                             "iscrowd": 0}]}


def test_instance_bbox_perfect_and_missed():
    dets = [{"image_id": 1, "category_id": 1, "bbox": [0, 0, 10, 10], "score": 0.9}]
    res = instance_metrics(_gt(), dets, "bbox", unseen_ids=["b", 99])  # 99: not an instance category (stuff)
    assert res["per_class"]["1"]["ap"] == pytest.approx(1.0)
    assert res["per_class"]["2"]["ap"] == 0.0  # GT never detected -> AP 0
    assert res["seen"]["ap50"] == pytest.approx(1.0) and res["unseen"]["ap50"] == 0.0
    assert res["hm"]["ap50"] == 0.0
    assert "Average Precision" in res["summary_text"]


def test_instance_no_detections():
    res = instance_metrics(_gt(), [], "bbox")
    assert res["per_class"]["1"]["ap"] == 0.0 and res["num_detections"] == 0


@pytest.mark.parametrize("det, message", [
    ({"image_id": 5, "category_id": 1, "bbox": [0, 0, 1, 1], "score": 0.5}, "image_id 5"),
    ({"image_id": 1, "category_id": 7, "bbox": [0, 0, 1, 1], "score": 0.5}, "category_id 7"),
    ({"image_id": 1, "category_id": 1, "score": 0.5}, "missing 'bbox'"),
])
def test_instance_bad_input(det, message):
    with pytest.raises(ZsError, match=message):
        instance_metrics(_gt(), [det], "bbox")


def test_unknown_unseen_name_is_an_error():
    with pytest.raises(ZsError, match="'zebra'"):
        instance_metrics(_gt(), [], "bbox", unseen_ids=["zebra"])
