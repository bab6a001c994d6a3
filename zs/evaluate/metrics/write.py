"""``zs metrics``: reference metrics of standard files, written to a JSON with their provenance.

Each function checks ``out``, computes, and writes ``{"provenance": manifest,
task: result}``; the manifest's inputs are the files' paths and sha256.
"""

from __future__ import annotations

import contextlib

from zs.manifest import make_manifest, path_inputs, write_json_atomic
from zs.paths import check_out_file


def _unseen(path) -> list[str]:
    from zs.vocab import read_class_list

    return read_class_list(path) if path else []


@contextlib.contextmanager
def _files_named(**files):
    """Messages of the evaluators that say "unseen list: ..." or "detection #i: ..." name the file they came
    from (``unseen``, ``results``: flag and path)."""
    from zs.errors import ZsError

    try:
        yield
    except ZsError as e:
        msg = str(e)
        for prefix, key in (("unseen list:", "unseen"), ("detection #", "results")):
            if msg.startswith(prefix) and files.get(key):
                flag, path = files[key]
                raise ZsError(f"{flag} {path}: {msg.removeprefix('unseen list: ')}") from None
        raise


def _write(out, kind: str, result: dict, config: dict, inputs: dict) -> dict:
    result = {"provenance": make_manifest(kind, config=config, inputs=inputs), **result}
    write_json_atomic(out, result)
    return result


def write_panoptic_metrics(out, gt_json, gt_folder, pred_json, pred_folder, *, unseen=None, workers: int = 1,
                           progress: bool = False) -> dict:
    """PQ of predicted panoptic PNG+JSON against the ground truth -> the dict written to ``out``.

    ``workers`` > 1 spreads the images over that many processes.
    """
    from concurrent.futures import ProcessPoolExecutor

    from zs.errors import ConfigError
    from zs.evaluate.metrics.panoptic_files import evaluate_panoptic_files

    check_out_file(out, inputs={"--gt-json": gt_json, "--pred-json": pred_json, "--unseen": unseen})
    if workers < 1:
        raise ConfigError(f"--workers must be >= 1, got {workers}")
    args = (gt_json, gt_folder, pred_json, pred_folder, _unseen(unseen))
    with _files_named(unseen=("--unseen", unseen)):
        if workers == 1:
            res = evaluate_panoptic_files(*args, progress=progress)
        else:
            with ProcessPoolExecutor(workers) as ex:
                res = evaluate_panoptic_files(*args, executor=ex, progress=progress)
    inputs = path_inputs(gt_json=gt_json, gt_folder=gt_folder, pred_json=pred_json, pred_folder=pred_folder,
                         unseen=unseen)
    return _write(out, "metrics-panoptic", {"panoptic": res}, {"workers": workers}, inputs)


def write_semantic_metrics(out, gt_folder, pred_folder, num_classes: int, *, ignore_label: int = 255, names=None,
                           unseen=None, progress: bool = False) -> dict:
    """mIoU and friends of predicted label PNGs against the ground truth -> the dict written to ``out``."""
    from zs.evaluate.metrics.semantic import evaluate_semantic_files
    from zs.vocab import read_class_list

    check_out_file(out, inputs={"--names": names, "--unseen": unseen})
    class_names = read_class_list(names) if names else None
    if class_names is not None and len(class_names) != num_classes:
        from zs.errors import ZsError

        raise ZsError(f"--names {names}: {len(class_names)} names for --num-classes {num_classes}")
    with _files_named(unseen=("--unseen", unseen)):
        res = evaluate_semantic_files(gt_folder, pred_folder, num_classes, ignore_label=ignore_label,
                                      unseen=_unseen(unseen), names=class_names, progress=progress)
    config = {"num_classes": num_classes, "ignore_label": ignore_label}
    return _write(out, "metrics-semantic", {"semantic": res}, config,
                  path_inputs(gt_folder=gt_folder, pred_folder=pred_folder, names=names, unseen=unseen))


def write_instance_metrics(out, gt_json, results_json, *, iou_type: str = "segm", unseen=None) -> dict:
    """COCO AP of a results list against the instances ground truth -> the dict written to ``out``."""
    from zs.errors import ZsError
    from zs.evaluate.metrics.instance import instance_metrics
    from zs.manifest import read_json

    check_out_file(out, inputs={"--gt-json": gt_json, "--results-json": results_json, "--unseen": unseen})
    gt, results = read_json(gt_json), read_json(results_json)
    if not isinstance(gt, dict) or not all(isinstance(gt.get(k), list) for k in ("images", "annotations", "categories")):
        raise ZsError(f"{gt_json}: not a COCO instances JSON (needs lists images, annotations, categories)")
    bad = next((i for i, a in enumerate(gt["annotations"])
                if not isinstance(a, dict) or not {"id", "image_id", "category_id"} <= set(a)), None)
    if bad is not None:
        raise ZsError(f"{gt_json}: annotation #{bad} lacks id/image_id/category_id (a panoptic JSON? convert it "
                      f"with `zs prepare` or give the instances JSON)")
    if not isinstance(results, list):
        raise ZsError(f"{results_json}: expected a COCO results list, got {type(results).__name__}")
    with _files_named(unseen=("--unseen", unseen), results=("--results-json", results_json)):
        res = instance_metrics(gt, results, iou_type, _unseen(unseen))
    return _write(out, "metrics-instance", {"instance": res}, {"iou_type": iou_type},
                  path_inputs(gt_json=gt_json, results_json=results_json, unseen=unseen))
