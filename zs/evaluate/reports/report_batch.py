"""The ablation table of ``batch_report``: a run's paper-style row, groups of runs, mean ± std over seeds.

Runs are grouped by label when labels are given, else by their provenance
with run-specific fields removed (:data:`VOLATILE_KEYS` and keys ending in
``seed``, ``sha256``, ``path``, ``url``): so runs that differ only by seeds
(and hence by their artifacts' paths/hashes and timings) share a row.
"""

from __future__ import annotations

import math
import os
import re
from pathlib import Path
from typing import Sequence

from zs.evaluate.reports.report_render import pct
from zs.manifest import hash_obj

# (task, key in the blocks, column label) of the paper-style table
PAPER_METRICS = (("panoptic", "pq", "PQ"), ("panoptic", "sq", "SQ"), ("panoptic", "rq", "RQ"),
                 ("semantic", "miou", "mIoU"), ("instance", "ap50", "mAP50"))
GROUPS = (("seen", "seen"), ("unseen", "unseen"), ("hm", "HM"))

VOLATILE_KEYS = {"seed", "seeds", "timing", "created", "device", "python", "run_dir", "out", "file",
                 "url", "path", "sha256", "num_workers"}
VOLATILE_SUFFIXES = ("seed", "seeds", "sha256", "_path", "_url", "_dir")

# figures of RUN_DIR/diagnostics/diagnostics.json ("summary") shown per row: (key, header, scale)
DIAG_COLUMNS = (
    ("agreement@1", "kNN agreement@1", 100.0),
    ("prototype_acc_with_seen", "nearest centre (with seen)", 100.0),
    ("classified_seen", "taken for seen", 100.0),
    ("text_ridge_acc_with_seen", "text-ridge probe", 100.0),
    ("oracle_acc_with_seen", "oracle centres", 100.0),
    ("mmd_mean", "MMD (mean)", 1.0),
)


def paper_row(metrics: dict) -> dict[str, float | None]:
    """Paper-style figures in percent: ``{"PQ seen": .., "PQ unseen": .., "PQ HM": .., ...}``.

    A task without a seen/unseen split contributes its ``all`` value (``"PQ all"``).
    """
    row: dict[str, float | None] = {}
    for task, key, label in PAPER_METRICS:
        block = metrics.get(task)
        if not block:
            continue
        if "hm" in block:
            for group, name in GROUPS:
                row[f"{label} {name}"] = pct((block.get(group) or {}).get(key))
        else:
            row[f"{label} all"] = pct((block.get("all") or {}).get(key))
    return row


def _is_volatile(key: str) -> bool:
    k = str(key).lower()
    return k in VOLATILE_KEYS or k.endswith(VOLATILE_SUFFIXES)


def _is_sha256(v) -> bool:
    return isinstance(v, str) and len(v) == 64 and all(c in "0123456789abcdef" for c in v)


def strip_volatile(obj):
    """``obj`` without seed / identity / timing fields (and bare sha256 values), recursively."""
    if isinstance(obj, dict):
        return {k: strip_volatile(v) for k, v in obj.items() if not _is_volatile(k) and not _is_sha256(v)}
    if isinstance(obj, list):
        return [strip_volatile(v) for v in obj]
    return obj


def group_key(metrics: dict) -> str:
    """Identity of a run up to seeds: hash of its stripped provenance."""
    return hash_obj(strip_volatile(metrics.get("provenance") or {}))


def group_runs(runs: Sequence[tuple[Path, dict]], labels: Sequence[str] | None) -> list[dict]:
    """``[{"label", "indices"}]`` in first-appearance order."""
    keys = list(labels) if labels else [group_key(m) for _, m in runs]
    groups: dict[str, list[int]] = {}
    for i, k in enumerate(keys):
        groups.setdefault(k, []).append(i)
    out = []
    for k, idx in groups.items():
        label = k if labels else _common_label([runs[i][0].resolve().name for i in idx])
        out.append({"label": label, "indices": idx})
    return out


def _common_label(names: list[str]) -> str:
    if len(names) == 1:
        return names[0]
    prefix = os.path.commonprefix(names)
    prefix = re.sub(r"[_\-. ]*(seed|s)?$", "", prefix, flags=re.IGNORECASE)  # "abl_seed1", "abl_s2" -> "abl"
    return prefix or names[0]


def mean_std(values: Sequence[float | None]) -> tuple[float | None, float | None, int]:
    """Mean and sample std (ddof 1; None for one value) of the defined values, and their count."""
    vals = [float(v) for v in values if v is not None and not math.isnan(float(v))]
    if not vals:
        return None, None, 0
    mean = sum(vals) / len(vals)
    if len(vals) < 2:
        return mean, None, len(vals)
    var = sum((v - mean) ** 2 for v in vals) / (len(vals) - 1)
    return mean, math.sqrt(var), len(vals)


def _seed_of(metrics: dict):
    """The head's training seed when the provenance names one, else the evaluation seed."""
    prov = metrics.get("provenance") or {}
    return prov.get("head_seed") if prov.get("head_seed") is not None else prov.get("seed")


def build_summary(runs: Sequence[tuple[Path, dict]], labels: Sequence[str] | None) -> dict:
    """``{"columns", "rows": [{label, runs, seeds, n, mean, std}], "table_text"}`` (percent)."""
    per_run = [paper_row(m) for _, m in runs]
    columns = list(dict.fromkeys(c for r in per_run for c in r))
    rows = []
    for g in group_runs(runs, labels):
        mean, std = {}, {}
        for c in columns:
            mean[c], std[c], _ = mean_std([per_run[i].get(c) for i in g["indices"]])
        rows.append({"label": g["label"], "runs": [str(runs[i][0]) for i in g["indices"]],
                     "seeds": [_seed_of(runs[i][1]) for i in g["indices"]], "n": len(g["indices"]),
                     "mean": mean, "std": std})
    summary = {"units": "percent", "columns": columns, "rows": rows}
    diag = diagnostics_summary(runs, labels)
    if diag["rows"]:
        summary["diagnostics"] = diag
    summary["table_text"] = table_text(summary)
    return summary


def _run_diagnostics(run_dir: Path) -> dict | None:
    """``summary`` of RUN_DIR/diagnostics/diagnostics.json (or RUN_DIR/diagnostics.json), if any."""
    import json

    for path in (Path(run_dir) / "diagnostics" / "diagnostics.json", Path(run_dir) / "diagnostics.json"):
        if path.is_file():
            try:
                return json.loads(path.read_text()).get("summary") or {}
            except (OSError, ValueError, AttributeError):
                return None
    return None


def diagnostics_summary(runs: Sequence[tuple[Path, dict]], labels: Sequence[str] | None) -> dict:
    """Per row with diagnostics: mean ± std of :data:`DIAG_COLUMNS` (accuracies in percent)."""
    diags = [_run_diagnostics(path) for path, _ in runs]
    rows = []
    for g in group_runs(runs, labels):
        found = [diags[i] for i in g["indices"] if diags[i] is not None]
        if not found:
            continue
        mean, std = {}, {}
        for key, header, scale in DIAG_COLUMNS:
            vals = [d.get(key) for d in found]
            mean[header], std[header], _ = mean_std([None if v is None else v * scale for v in vals])
        rows.append({"label": g["label"], "n": len(found), "mean": mean, "std": std})
    return {"columns": [h for _, h, _ in DIAG_COLUMNS], "rows": rows}


def cell(mean: float | None, std: float | None, digits: int = 1) -> str:
    """``"45.3 ± 1.2"``, ``"45.3"`` for one run, ``"–"`` undefined."""
    if mean is None:
        return "–"
    return f"{mean:.{digits}f}" if std is None else f"{mean:.{digits}f} ± {std:.{digits}f}"


def _table_rows(summary: dict, digits: int = 1) -> tuple[list[str], list[list[str]]]:
    headers = ["run", "n", *summary["columns"]]
    rows = [[r["label"], str(r["n"]), *(cell(r["mean"][c], r["std"][c], digits) for c in summary["columns"])]
            for r in summary["rows"]]
    return headers, rows


def table_text(summary: dict) -> str:
    """The ablation table as plain text (the CLI prints it)."""
    from zs.text_table import format_table

    headers, rows = _table_rows(summary)
    return format_table(rows, headers)


def summary_blocks(summary: dict) -> list:
    """Report blocks of a batch report: the ablation table and the runs behind each row."""
    from zs.evaluate.reports.report_render import table_block

    headers, rows = _table_rows(summary)
    runs = [[r["label"], ", ".join(str(s) for s in r["seeds"]), "; ".join(r["runs"])] for r in summary["rows"]]
    blocks = [("h", 1, "zs ablation report"),
              ("p", "Percent; mean ± sample standard deviation over the runs of a row (runs that differ "
                    "only by seed, or share a label)."),
              ("h", 2, "Ablation table"), table_block(headers, rows)]
    if summary.get("diagnostics"):
        d_headers, d_rows = _table_rows(summary["diagnostics"], digits=2)
        blocks += [("h", 2, "Synthetic unseen features (zs diagnose)"),
                   ("p", "Percent, except MMD. Real unseen validation queries against class centres: "
                         "'nearest centre' uses the synthetic unseen centres plus the real seen ones, "
                         "'taken for seen' is how often a seen centre wins, 'text-ridge probe' replaces the "
                         "synthetic centres by a linear map from text fitted on the seen classes (no generator), "
                         "'oracle centres' by the real unseen centres. docs/diagnose.md defines every figure."),
                   table_block(d_headers, d_rows)]
    return blocks + [("h", 2, "Runs"), table_block(["row", "seeds", "run directories"], runs)]
