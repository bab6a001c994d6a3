"""A plain-text table for the terminal: ``zs store info --per-class``, the ablation table of ``zs report``."""

from __future__ import annotations

import math
from typing import Sequence


def format_table(rows: Sequence[dict] | Sequence[Sequence], headers: Sequence[str] | None = None,
                 floatfmt: str = "{:.1f}") -> str:
    """A plain-text table for the terminal.

    ``rows``: dicts (columns = keys in first-seen order, or ``headers``) or
    sequences (with ``headers``). Floats use ``floatfmt``; None/NaN print '–'.
    """
    rows = list(rows)
    if rows and isinstance(rows[0], dict):
        if headers is None:
            headers = list(dict.fromkeys(k for r in rows for k in r))
        rows = [[r.get(h) for h in headers] for r in rows]
    headers = [str(h) for h in (headers or [])]
    cells = [[_cell(v, floatfmt) for v in r] for r in rows]
    ncol = max([len(headers)] + [len(r) for r in cells]) if (headers or cells) else 0
    headers = headers + [""] * (ncol - len(headers))
    widths = [max([len(headers[j])] + [len(r[j]) for r in cells if j < len(r)]) for j in range(ncol)]
    lines = ["  ".join(h.ljust(w) if j == 0 else h.rjust(w) for j, (h, w) in enumerate(zip(headers, widths)))]
    lines.append("  ".join("-" * w for w in widths))
    for r in cells:
        r = r + [""] * (ncol - len(r))
        lines.append("  ".join(c.ljust(w) if j == 0 else c.rjust(w) for j, (c, w) in enumerate(zip(r, widths))))
    return "\n".join(line.rstrip() for line in lines)


def _cell(v, floatfmt: str) -> str:
    if v is None or (isinstance(v, float) and math.isnan(v)):
        return "–"
    if isinstance(v, float):
        return floatfmt.format(v)
    return str(v)
