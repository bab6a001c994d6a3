"""Hand-made tiny cases for each panopticapi rule, merging, and bad input."""

import json

import numpy as np
import pytest
from PIL import Image

from zs.errors import ZsError
from zs.evaluate.metrics import PanopticEvaluator, evaluate_panoptic_files

CATS = [{"id": 1, "name": "a", "isthing": 1}, {"id": 2, "name": "b", "isthing": 1},
        {"id": 3, "name": "c", "isthing": 0}, {"id": 4, "name": "never", "isthing": 0}]


def seg(i, cat, area=None, crowd=0):
    d = {"id": i, "category_id": cat, "iscrowd": crowd}
    if area is not None:
        d["area"] = area
    return d


def one(gt, gts, pred, preds, unseen=()):
    ev = PanopticEvaluator(CATS, unseen)
    ev.process(np.array(gt), gts, np.array(pred), preds)
    return ev.evaluate()


def counts(res, cid):
    r = res["per_class"][str(cid)]
    return r["tp"], r["fp"], r["fn"]


def test_iou_exactly_half_is_not_a_match():
    gt = [[5, 5, 5, 5, 0, 0]]
    pred = [[7, 7, 0, 0, 0, 0]]  # I=2, |p|=2, |g|=4: IoU 2/4 = 0.5
    res = one(gt, [seg(5, 1, 4)], pred, [seg(7, 1)])
    assert counts(res, 1) == (0, 1, 1)
    assert res["per_class"]["1"]["pq"] == 0.0


def test_iou_above_half_matches():
    gt = [[5, 5, 5, 5, 0, 0]]
    pred = [[7, 7, 7, 0, 0, 0]]  # IoU 3/4
    res = one(gt, [seg(5, 1, 4)], pred, [seg(7, 1)])
    assert counts(res, 1) == (1, 0, 0)
    assert res["per_class"]["1"]["sq"] == pytest.approx(0.75, abs=1e-15)
    assert res["per_class"]["1"]["pq"] == pytest.approx(0.75, abs=1e-15)


def test_void_removed_from_union():
    gt = [[5, 5, 0, 0]]
    pred = [[7, 7, 7, 7]]  # raw IoU 2/4 = 0.5, but 2 pred px on VOID: IoU = 2 / (4 + 2 - 2 - 2) = 1
    res = one(gt, [seg(5, 1, 2)], pred, [seg(7, 1)])
    assert counts(res, 1) == (1, 0, 0)
    assert res["per_class"]["1"]["iou_sum"] == 1.0


def test_unmatched_prediction_on_void():
    gt = [[0, 0, 0, 6, 6, 6, 6, 6]]
    mostly_void = [[7, 7, 7, 7, 0, 0, 0, 0]]  # 3/4 on VOID -> ignored
    half_void = [[0, 7, 7, 7, 7, 0, 0, 0]]  # 2/4 on VOID (not > 0.5) -> FP
    res = one(gt, [seg(6, 3, 5)], mostly_void, [seg(7, 2)])
    assert counts(res, 2) == (0, 0, 0)
    res = one(gt, [seg(6, 3, 5)], half_void, [seg(7, 2)])
    assert counts(res, 2) == (0, 1, 0)


def test_crowd_rules():
    gt = [[9, 9, 9, 9, 6, 6, 6, 6]]  # 9: crowd of class 1
    gts = [seg(9, 1, 4, crowd=1), seg(6, 3, 4)]
    # same class inside the crowd -> ignored; crowd GT is never a FN
    res = one(gt, gts, [[7, 7, 7, 0, 8, 8, 8, 8]], [seg(7, 1), seg(8, 3)])
    assert counts(res, 1) == (0, 0, 0)
    assert counts(res, 3) == (1, 0, 0)
    # another class inside the crowd -> FP
    res = one(gt, gts, [[7, 7, 7, 0, 8, 8, 8, 8]], [seg(7, 2), seg(8, 3)])
    assert counts(res, 2) == (0, 1, 0)
    # a crowd segment cannot be matched, even by a perfect prediction
    res = one(gt, gts, [[7, 7, 7, 7, 8, 8, 8, 8]], [seg(7, 1), seg(8, 3)])
    assert counts(res, 1) == (0, 0, 0)


def test_void_and_crowd_are_summed():
    gt = [[9, 9, 0, 0, 6, 6, 6, 6, 6, 6]]  # crowd (class 1) 2 px, VOID 2 px
    pred = [[0, 7, 7, 7, 7, 0, 0, 0, 0, 0]]  # 1 px crowd + 2 px VOID of 4 = 0.75 -> ignored
    res = one(gt, [seg(9, 1, 2, crowd=1), seg(6, 3, 6)], pred, [seg(7, 1)])
    assert counts(res, 1) == (0, 0, 0)
    assert counts(res, 3) == (0, 0, 1)


def test_class_absent_everywhere_is_excluded_and_prediction_only_counts():
    gt = [[5, 5, 5, 5]]
    pred = [[7, 7, 7, 8]]
    res = one(gt, [seg(5, 1, 4)], pred, [seg(7, 1), seg(8, 2)], unseen=[2, 4])
    assert res["per_class"]["4"]["counted"] is False  # no GT and no prediction anywhere
    assert res["per_class"]["2"]["counted"] is True  # prediction only: PQ 0, counted
    assert res["all"]["n"] == 2 and res["things"]["n"] == 2
    assert res["stuff"] == {"pq": None, "sq": None, "rq": None, "n": 0}  # no stuff class occurs: no 0/0
    assert res["all"]["pq"] == pytest.approx(0.75 / 2)
    assert res["unseen"]["n"] == 1 and res["unseen"]["pq"] == 0.0
    assert res["hm"]["pq"] == 0.0  # either side 0 -> 0
    assert res["seen"]["pq"] == pytest.approx(0.75)


def _random_image(rng, h=24, w=32):
    gt = np.zeros((h, w), np.int64)
    pred = np.zeros((h, w), np.int64)
    gts, preds = [], []
    for k in range(1, 5):
        y, x = rng.integers(0, h - 8), rng.integers(0, w - 8)
        gt[y:y + 8, x:x + 8] = 10 + k
        dy, dx = rng.integers(-2, 3, size=2)
        pred[max(0, y + dy):y + dy + 8, max(0, x + dx):x + dx + 8] = 20 + k
    for k in range(1, 5):
        if (gt == 10 + k).any():
            gts.append(seg(10 + k, int(rng.integers(1, 4)), int((gt == 10 + k).sum()), crowd=int(k == 4)))
        if (pred == 20 + k).any():
            preds.append(seg(20 + k, int(rng.integers(1, 4))))
    return gt, gts, pred, preds


def test_streaming_merge_equals_single_pass():
    rng = np.random.default_rng(0)
    images = [_random_image(rng) for _ in range(9)]
    single = PanopticEvaluator(CATS, unseen_ids=["b"])
    for im in images:
        single.process(*im)
    parts = [PanopticEvaluator(CATS, unseen_ids=[2]) for _ in range(3)]
    for i, im in enumerate(images):
        parts[i % 3].process(*im)
    merged = parts[0]
    merged += parts[1]
    merged += parts[2]
    a, b = single.evaluate(), merged.evaluate()
    for cid in a["per_class"]:
        for k in ("tp", "fp", "fn"):
            assert a["per_class"][cid][k] == b["per_class"][cid][k]
        assert abs(a["per_class"][cid]["pq"] - b["per_class"][cid]["pq"]) < 1e-12
    assert abs(a["all"]["pq"] - b["all"]["pq"]) < 1e-12 and a["all"]["n"] == b["all"]["n"] > 0
    assert b["num_images"] == 9
    single.reset()
    assert single.evaluate()["num_images"] == 0


def test_unseen_confusion_counts_segments():
    gt = [[5, 5, 6, 6, 6, 6]]
    pred = [[7, 7, 7, 0, 0, 0]]  # gt 5 (cat 2) -> pred cat 1; gt 6 (cat 2) -> overlapped by 7 on one px
    ev = PanopticEvaluator(CATS, unseen_ids=[2])
    ev.process(np.array(gt), [seg(5, 2, 2), seg(6, 2, 4)], np.array(pred), [seg(7, 1)])
    conf = ev.unseen_confusion()
    assert conf["gt_labels"] == ["b"] and conf["pred_labels"][-1] == "(none)"
    assert conf["matrix"] == [[2, 0, 0, 0, 0]]


@pytest.mark.parametrize("case, message", [
    ("size", "size"),
    ("png_id", "in the PNG but not in segments_info"),
    ("json_id", "not in the PNG"),
    ("category", "unknown category_id 99"),
])
def test_bad_input_in_memory(case, message):
    gt, gts = np.array([[5, 5, 0]]), [seg(5, 1, 2)]
    pred, preds = np.array([[7, 7, 0]]), [seg(7, 1)]
    if case == "size":
        pred = np.array([[7, 7]])
    elif case == "png_id":
        pred = np.array([[7, 8, 0]])
    elif case == "json_id":
        preds = [seg(7, 1), seg(8, 1)]
    elif case == "category":
        preds = [seg(7, 99)]
    ev = PanopticEvaluator(CATS)
    with pytest.raises(ZsError, match=message):
        ev.process(gt, gts, pred, preds, image_id=42)


def _write_png(path, ids):
    ids = np.asarray(ids, dtype=np.uint32)
    rgb = np.stack([ids % 256, ids // 256 % 256, ids // 65536], axis=-1).astype(np.uint8)
    Image.fromarray(rgb).save(path)


def _files(tmp_path, pred_ids=None, drop_pred_ann=False, drop_png=False):
    for d in ("gt", "pred"):
        (tmp_path / d).mkdir(exist_ok=True)
    gt_ids = np.array([[300, 300, 0], [70000, 70000, 70000]])  # ids use G and B channels
    _write_png(tmp_path / "gt" / "1.png", gt_ids)
    if not drop_png:
        _write_png(tmp_path / "pred" / "1.png", gt_ids if pred_ids is None else pred_ids)
    gt = {"images": [{"id": 1, "file_name": "1.jpg"}], "categories": CATS,
          "annotations": [{"image_id": 1, "file_name": "1.png",
                           "segments_info": [seg(300, 1, 2), seg(70000, 3, 3)]}]}
    pred = {"annotations": [] if drop_pred_ann else gt["annotations"]}
    (tmp_path / "gt.json").write_text(json.dumps(gt))
    (tmp_path / "pred.json").write_text(json.dumps(pred))
    return tmp_path / "gt.json", tmp_path / "gt", tmp_path / "pred.json", tmp_path / "pred"


def test_files_perfect_prediction(tmp_path):
    res = evaluate_panoptic_files(*_files(tmp_path))
    assert res["all"]["pq"] == 1.0 and res["all"]["n"] == 2


@pytest.mark.parametrize("kind, message", [
    ("missing_ann", "no prediction for 1 ground-truth images"),
    ("missing_png", "1.png: prediction/ground-truth PNG not found"),
    ("size", "prediction size"),
    ("png_id", "segment id 5 is in the PNG"),
])
def test_files_bad_input_names_the_file(tmp_path, kind, message):
    kw = {"missing_ann": {"drop_pred_ann": True}, "missing_png": {"drop_png": True},
          "size": {"pred_ids": np.array([[300, 300], [70000, 70000]])},
          "png_id": {"pred_ids": np.array([[300, 5, 0], [70000, 70000, 70000]])}}[kind]
    with pytest.raises(ZsError, match=message) as e:
        evaluate_panoptic_files(*_files(tmp_path, **kw))
    assert "\n" not in str(e.value)
    if kind in ("size", "png_id"):
        assert "pred/1.png" in str(e.value)
