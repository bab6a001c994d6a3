"""Comparison figures of a batch report: metrics per method with seed error bars, unseen
per-class PQ across methods, and the diagnostics beside the unseen metrics they explain.

Inputs are :func:`zs.evaluate.reports.report_batch.build_summary`'s summary (percent, mean and
sample std over each row's runs) and the runs' ``metrics.json``.
"""

from __future__ import annotations


from zs.evaluate.reports.report_batch import cell, mean_std

BAR_METRICS = ("PQ", "mIoU", "mAP50")
GROUPS = ("seen", "unseen", "HM")
# diagnostics (zs diagnose, percent) that explain the unseen figures
EXPLAINERS = ("nearest centre (with seen)", "taken for seen", "text-ridge probe", "oracle centres")


def figure_blocks(summary: dict, runs) -> list:
    """Report blocks: the bar charts, the unseen per-class heat map, metrics beside diagnostics."""
    blocks = _bar_blocks(summary) + _heatmap_blocks(summary, runs)
    return blocks + _beside_blocks(summary)


def _bar_blocks(summary: dict) -> list:
    from zs.evaluate.reports.plots import metric_bars_png

    rows = summary["rows"]
    panels = {}
    for metric in BAR_METRICS:
        series = {g: ([r["mean"].get(f"{metric} {g}") for r in rows], [r["std"].get(f"{metric} {g}") for r in rows])
                  for g in GROUPS if f"{metric} {g}" in summary["columns"]}
        if series:
            panels[metric] = series
    if not panels or not rows:
        return []
    return [("h", 2, "Seen / unseen / harmonic mean per method"),
            ("p", "Percent; bar = mean over a row's runs, error bar = sample standard deviation over seeds "
                  "(none for a single run)."),
            ("img", "metrics_bars.png", metric_bars_png([r["label"] for r in rows], panels), "metrics per method")]


def unseen_class_pq(summary: dict, runs) -> tuple[list[str], list[list[float | None]]]:
    """Unseen class names and per row the mean PQ (percent) over its runs; classes of the first run's split."""
    by_dir = {str(path): metrics for path, metrics in runs}
    names: dict[str, str] = {}
    for _, metrics in runs:
        pan = metrics.get("panoptic") or {}
        for cid in pan.get("unseen_ids", []):
            row = (pan.get("per_class") or {}).get(str(cid))
            if row is not None:
                names.setdefault(str(cid), row.get("name", str(cid)))
    values = []
    for r in summary["rows"]:
        line = []
        for cid in names:
            per_run = [((by_dir[d].get("panoptic") or {}).get("per_class") or {}).get(cid) for d in r["runs"]]
            line.append(mean_std([None if p is None or not p.get("counted", True) or p.get("pq") is None
                                  else 100.0 * p["pq"] for p in per_run])[0])
        values.append(line)
    return list(names.values()), values


def _heatmap_blocks(summary: dict, runs) -> list:
    from zs.evaluate.reports.plots import heatmap_png

    classes, values = unseen_class_pq(summary, runs)
    if not classes or not summary["rows"]:
        return []
    png = heatmap_png([r["label"] for r in summary["rows"]], classes, values, "Unseen per-class PQ (%)")
    return [("h", 2, "Unseen classes across methods"),
            ("p", "PQ of each unseen class (percent, mean over a row's runs); blank: not counted."),
            ("img", "unseen_class_pq.png", png, "unseen per-class PQ per method")]


def _beside_blocks(summary: dict) -> list:
    """Unseen PQ / mIoU next to the nearest-centre, probe and oracle accuracies of the same rows."""
    from zs.evaluate.reports.plots import beside_png
    from zs.evaluate.reports.report_render import table_block

    diag = {r["label"]: r for r in (summary.get("diagnostics") or {}).get("rows", [])}
    rows = [r for r in summary["rows"] if r["label"] in diag]
    if not rows:
        return []
    metrics = [c for c in ("PQ unseen", "mIoU unseen", "mAP50 unseen") if c in summary["columns"]]
    explain = [c for c in EXPLAINERS if any(diag[r["label"]]["mean"].get(c) is not None for r in rows)]
    labels = [r["label"] for r in rows]
    left = {c: ([r["mean"].get(c) for r in rows], [r["std"].get(c) for r in rows]) for c in metrics}
    right = {c: ([diag[lab]["mean"].get(c) for lab in labels], [diag[lab]["std"].get(c) for lab in labels])
             for c in explain}
    png = beside_png(labels, left, right, "unseen metrics (%)", "unseen validation queries: accuracy (%)")
    table = [[r["label"], *(cell(r["mean"].get(c), r["std"].get(c)) for c in metrics),
              *(cell(diag[r["label"]]["mean"].get(c), diag[r["label"]]["std"].get(c)) for c in explain)]
             for r in rows]
    return [("h", 2, "Unseen metrics beside their diagnostics"),
            ("p", "Left: the unseen metrics; right: how the real unseen validation queries are classified "
                  "against class centres (zs diagnose): synthetic unseen + real seen centres ('nearest centre'), "
                  "how often a seen centre wins ('taken for seen'), a text-ridge probe instead of the generator, "
                  "and the real unseen centres ('oracle'). docs/diagnose.md defines them."),
            ("img", "unseen_beside_diagnostics.png", png, "unseen metrics beside diagnostics"),
            table_block(["run", *metrics, *explain], table)]
