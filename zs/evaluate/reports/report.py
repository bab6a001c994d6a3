"""Reports: one run (``write_report``) and an ablation table over many (``batch_report``).

``RUN_DIR/metrics.json`` = ``{"provenance": {...}, "panoptic": {...}, "semantic": {...},
"instance": {...}, "unseen_confusion": {"gt_labels", "pred_labels", "matrix"}}`` (any
block may be absent; blocks as ``zs.evaluate.metrics`` returns them, fractions).
Reports show percentages. A report is a list of blocks rendered twice: markdown
(plots as PNG files beside it) and a self-contained HTML page (plots inlined).
"""

from __future__ import annotations

import logging
import os
from pathlib import Path
from typing import Sequence

from zs.errors import ZsError
from zs.evaluate.evaluation.predict import load_run
from zs.evaluate.reports.report_batch import paper_row
from zs.evaluate.reports.report_render import fmt_pct, pct, render_html, render_md, table_block
from zs.manifest import read_json

log = logging.getLogger(__name__)

__all__ = ["write_report", "batch_report", "format_metrics_summary"]

DIAG_MAX_ROWS = 80
DIAG_MAX_IMAGES = 12
PANEL_IMAGES = 8


def format_metrics_summary(metrics: dict) -> str:
    """A few terminal lines: each task's headline metric for all / seen / unseen / hm."""
    lines = []
    for task, key in (("panoptic", "pq"), ("semantic", "miou"), ("instance", "ap50")):
        block = metrics.get(task)
        if not block:
            continue
        parts = [f"{g} {fmt_pct(pct((block.get(g) or {}).get(key)), 2)}" for g in ("all", "seen", "unseen", "hm")
                 if g in block]
        lines.append(f"{task} {key.upper()}: " + ", ".join(parts))
    return "\n".join(lines)


# -- single run ---------------------------------------------------------------------------------

def write_report(run_dir: str | os.PathLike, out_dir: str | os.PathLike | None = None,
                 panels: int = PANEL_IMAGES) -> dict[str, Path]:
    """Write ``report.md`` (+ ``report_files/*.png``) and a self-contained ``report.html``.

    Reads ``RUN_DIR/metrics.json`` and, if present, ``RUN_DIR/diagnostics/diagnostics.json``
    (or ``RUN_DIR/diagnostics.json``) and the PNGs beside it; ``panels`` validation images
    are drawn as image | ground truth | prediction (:mod:`zs.evaluate.reports.report_panels`; 0: none).
    Returns the two paths.
    """
    from zs.evaluate.reports.report_panels import panel_blocks

    run_dir = Path(run_dir)
    out_dir = Path(out_dir) if out_dir is not None else run_dir
    metrics = load_run(run_dir)
    blocks = run_blocks(metrics, title=f"zs report: {run_dir.resolve().name}")
    blocks += panel_blocks([("prediction", run_dir)], n=panels)
    blocks += diagnostics_blocks(run_dir)
    return _write_both(blocks, out_dir)


def _write_both(blocks: list, out_dir: Path) -> dict[str, Path]:
    out_dir.mkdir(parents=True, exist_ok=True)
    md, html = out_dir / "report.md", out_dir / "report.html"
    _atomic_text(md, render_md(blocks, out_dir, "report_files"))
    _atomic_text(html, render_html(blocks))
    return {"md": md, "html": html}


def _atomic_text(path: Path, text: str) -> None:
    tmp = path.with_name(f".{path.name}.tmp-{os.getpid()}")
    tmp.write_text(text, encoding="utf-8")
    os.replace(tmp, path)


def run_blocks(metrics: dict, title: str) -> list:
    """All blocks of a single-run report (diagnostics excluded)."""
    blocks: list = [("h", 1, title)]
    blocks += provenance_blocks(metrics.get("provenance") or {})
    row = paper_row(metrics)
    if row:
        blocks += [("h", 2, "Summary (%)"), table_block(list(row), [[fmt_pct(v) for v in row.values()]])]
    blocks += overall_blocks(metrics)
    if metrics.get("panoptic"):
        blocks += panoptic_class_blocks(metrics["panoptic"])
    if metrics.get("semantic"):
        blocks += semantic_class_blocks(metrics["semantic"])
    if metrics.get("instance"):
        blocks += instance_class_blocks(metrics["instance"])
    if metrics.get("unseen_confusion"):
        blocks += confusion_blocks(metrics["unseen_confusion"])
    return blocks


def provenance_blocks(prov: dict) -> list:
    """Key identities of the run: mode, store, head, generator, seeds, images, version."""
    if not prov:
        return []
    rows = [[k, _short(v)] for k, v in _flatten(prov, skip=("manifest", "thresholds", "dataset"), depth=2)]
    return [("h", 2, "Provenance"), table_block(["field", "value"], rows)]


def _flatten(d: dict, prefix: str = "", skip: Sequence[str] = (), depth: int = 2):
    for k, v in d.items():
        if k in skip:
            continue
        key = f"{prefix}{k}"
        if isinstance(v, dict) and depth > 1:
            yield from _flatten(v, f"{key}.", skip, depth - 1)
        elif not isinstance(v, dict):
            yield key, v


def _short(v) -> str:
    s = ", ".join(map(str, v)) if isinstance(v, list) else str(v)
    if len(s) == 64 and all(c in "0123456789abcdef" for c in s):
        return s[:12]  # a sha256
    return s if len(s) <= 120 else s[:117] + "..."


def overall_blocks(metrics: dict) -> list:
    """All/Things/Stuff (panoptic), overall mIoU etc. (semantic), COCO stats (instance)."""
    blocks: list = []
    pan = metrics.get("panoptic")
    if pan:
        groups = [g for g in ("all", "things", "stuff", "seen", "unseen", "hm") if g in pan]
        rows = [[g, *(fmt_pct(pct(pan[g].get(k))) for k in ("pq", "sq", "rq")), str(pan[g].get("n", ""))]
                for g in groups]
        blocks += [("h", 2, "Panoptic (%)"), table_block(["group", "PQ", "SQ", "RQ", "#classes"], rows)]
    sem = metrics.get("semantic")
    if sem:
        a = sem.get("all") or {}
        rows = [[fmt_pct(pct(a.get(k))) for k in ("miou", "fwiou", "pacc", "macc")]]
        blocks += [("h", 2, "Semantic (%)"), table_block(["mIoU", "fwIoU", "pAcc", "mAcc"], rows)]
    inst = metrics.get("instance")
    if inst:
        a = inst.get("all") or {}
        keys = ("ap", "ap50", "ap75", "aps", "apm", "apl")
        blocks += [("h", 2, f"Instance ({inst.get('iou_type', 'segm')}, %)"),
                   table_block([k.upper() for k in keys], [[fmt_pct(pct(a.get(k))) for k in keys]])]
        if inst.get("summary_text"):
            blocks.append(("pre", inst["summary_text"].rstrip()))
    return blocks


def _split_of(block: dict, cid: str) -> str:
    if "unseen_ids" not in block:
        return ""
    return "unseen" if cid in {str(u) for u in block["unseen_ids"]} else "seen"


def _bar_plot(block: dict, key: str, metric: str, name: str, include) -> list:
    from zs.evaluate.reports.plots import per_class_bar_png

    items = [(cid, r) for cid, r in block["per_class"].items() if include(r)]
    if not items:
        return []
    png = per_class_bar_png([r["name"] for _, r in items], [r[key] or 0.0 for _, r in items],
                            [_split_of(block, cid) == "unseen" for cid, _ in items], metric)
    return [("img", name, png, f"per-class {metric}, seen vs unseen")]


def panoptic_class_blocks(pan: dict) -> list:
    rows = [[cid, r["name"], "thing" if r.get("isthing") else "stuff", _split_of(pan, cid),
             *(fmt_pct(pct(r[k])) if r.get("counted", True) else "–" for k in ("pq", "sq", "rq")),
             str(r.get("tp", "")), str(r.get("fp", "")), str(r.get("fn", ""))]
            for cid, r in pan["per_class"].items()]
    headers = ["id", "class", "type", "split", "PQ", "SQ", "RQ", "TP", "FP", "FN"]
    return ([("h", 2, "Per-class panoptic quality (%)")]
            + _bar_plot(pan, "pq", "PQ", "per_class_pq.png", lambda r: r.get("counted", True))
            + [table_block(headers, rows)])


def semantic_class_blocks(sem: dict) -> list:
    rows = [[cid, r["name"], _split_of(sem, cid), fmt_pct(pct(r["iou"])), fmt_pct(pct(r["acc"])),
             str(r.get("pos_gt", "")), str(r.get("pos_pred", ""))] for cid, r in sem["per_class"].items()]
    headers = ["index", "class", "split", "IoU", "Acc", "GT px", "pred px"]
    return ([("h", 2, "Per-class semantic IoU (%)")]
            + _bar_plot(sem, "iou", "IoU", "per_class_iou.png", lambda r: r["iou"] is not None)
            + [table_block(headers, rows)])


def instance_class_blocks(inst: dict) -> list:
    rows = [[cid, r["name"], _split_of(inst, cid), *(fmt_pct(pct(r[k])) for k in ("ap", "ap50", "ap75")),
             str(r.get("num_gt", "")), str(r.get("num_det", ""))] for cid, r in inst["per_class"].items()]
    headers = ["id", "class", "split", "AP", "AP50", "AP75", "#GT", "#det"]
    return [("h", 2, "Per-class instance AP (%)"), table_block(headers, rows)]


def confusion_blocks(conf: dict) -> list:
    """Heat map of unseen GT classes vs predicted classes + each row's top predictions."""
    from zs.evaluate.reports.plots import confusion_png

    gt, pred, matrix = conf.get("gt_labels") or [], conf.get("pred_labels") or [], conf.get("matrix") or []
    if not gt or not matrix:
        return []
    unit = conf.get("unit", "segments")
    rows = []
    for g, counts in zip(gt, matrix):
        total = sum(counts)
        top = sorted(range(len(counts)), key=lambda j: -counts[j])[:3]
        cells = [f"{pred[j]} {100 * counts[j] / total:.0f}%" for j in top if counts[j] > 0] if total else []
        rows.append([g, str(total), ", ".join(cells) or "–"])
    return [("h", 2, f"Where did unseen {unit} go?"),
            ("img", "unseen_confusion.png", confusion_png(gt, pred, matrix, unit), "unseen confusion"),
            table_block(["unseen GT class", f"#{unit}", "top predicted classes"], rows)]


def diagnostics_blocks(run_dir: Path) -> list:
    """Scalar figures of ``diagnostics.json`` and the PNGs beside it, if any."""
    for path in (run_dir / "diagnostics" / "diagnostics.json", run_dir / "diagnostics.json"):
        if path.is_file():
            break
    else:
        return []
    try:
        diag = read_json(path)
    except ZsError as e:
        log.warning("diagnostics not included: %s", e)
        return []
    rows = [[k, _short(round(v, 6) if isinstance(v, float) else v)]
            for k, v in _flatten(diag if isinstance(diag, dict) else {"value": diag}, depth=4)
            if isinstance(v, (int, float, str, bool)) or v is None][:DIAG_MAX_ROWS]
    blocks: list = [("h", 2, "Diagnostics"), ("p", f"From {path.relative_to(run_dir)}.")]
    if rows:
        blocks.append(table_block(["figure", "value"], rows))
    for png in sorted(path.parent.glob("*.png"))[:DIAG_MAX_IMAGES]:
        blocks.append(("img", f"diag_{png.name}", png.read_bytes(), png.stem))
    return blocks


# -- many runs ------------------------------------------------------------------------------------

def batch_report(run_dirs: Sequence[str | os.PathLike], out_dir: str | os.PathLike,
                 labels: Sequence[str] | None = None, panels: int = PANEL_IMAGES) -> dict:
    """One ablation table over runs: ``OUT/report.md``, ``report.html``, ``summary.json``.

    Rows are groups of runs: with ``labels``, runs sharing a label; otherwise
    runs whose provenance differs only by seeds (and run-specific paths,
    hashes, timings). Cells are mean ± sample std over a group. Comparison plots
    (:mod:`zs.evaluate.reports.report_figures`) and ``panels`` validation images under
    every row's first run (one grid) follow the table. Returns the summary dict
    (with ``table_text``, the plain-text table).
    """
    from zs.evaluate.reports.report_batch import build_summary, summary_blocks
    from zs.evaluate.reports.report_figures import figure_blocks
    from zs.evaluate.reports.report_panels import panel_blocks

    if not run_dirs:
        raise ZsError("batch report: no run directories given")
    if labels is not None and len(labels) != len(run_dirs):
        raise ZsError(f"batch report: {len(labels)} labels for {len(run_dirs)} run directories")
    runs = [(Path(d), load_run(d)) for d in run_dirs]
    summary = build_summary(runs, labels)
    out_dir = Path(out_dir)
    blocks = summary_blocks(summary)
    blocks[-2:-2] = figure_blocks(summary, runs) + panel_blocks(
        [(row["label"], Path(row["runs"][0])) for row in summary["rows"]], n=panels)
    _write_both(blocks, out_dir)
    _write_batch_json(summary, runs, out_dir, labels)
    return summary


def _write_batch_json(summary: dict, runs, out_dir: Path, labels) -> None:
    from zs.manifest import make_manifest, sha256_file, write_json_atomic

    write_json_atomic(out_dir / "summary.json", summary)
    inputs = {str(d): {"path": str(d.resolve()), "sha256": sha256_file(d / "metrics.json")} for d, _ in runs}
    write_json_atomic(out_dir / "manifest.json",
                      make_manifest("zs-report", config={"labels": list(labels) if labels else None}, inputs=inputs))
