"""Render report blocks as markdown or self-contained HTML.

A block is a tuple: ``("h", level, text)``, ``("p", text)``, ``("pre", text)``,
``("table", headers, rows)`` (cells are strings) or ``("img", file_name, png_bytes, alt)``.
"""

from __future__ import annotations

import base64
import html
import math
from pathlib import Path
from typing import Sequence

CSS = """body{font-family:-apple-system,Segoe UI,Helvetica,Arial,sans-serif;margin:2em auto;max-width:1200px;
color:#222;padding:0 1em}table{border-collapse:collapse;margin:.5em 0 1.5em;font-size:13px}
th,td{border:1px solid #ccc;padding:3px 8px;text-align:right}th{background:#f0f0f0}
td:first-child,th:first-child{text-align:left}pre{background:#f7f7f7;padding:.8em;font-size:12px;overflow-x:auto}
img{max-width:100%;margin:.5em 0}h1{font-size:1.6em}h2{font-size:1.25em;margin-top:1.6em}"""


def pct(x) -> float | None:
    """A fraction in percent; None stays None."""
    return None if x is None else 100.0 * float(x)


def fmt_pct(x, digits: int = 1) -> str:
    """A percentage (already x100) with ``digits`` decimals; '–' when undefined."""
    if x is None or (isinstance(x, float) and math.isnan(x)):
        return "–"
    return f"{x:.{digits}f}"


def table_block(headers: Sequence[str], rows: Sequence[Sequence[str]]) -> tuple:
    return ("table", [str(h) for h in headers], [[str(c) for c in r] for r in rows])


def _md_cell(s: str) -> str:
    return s.replace("|", "\\|").replace("\n", " ")


def render_md(blocks: Sequence[tuple], out_dir: Path, files_dir: str = "report_files") -> str:
    """Markdown text; images are written to ``out_dir/files_dir/`` and linked relatively."""
    parts = []
    for b in blocks:
        kind = b[0]
        if kind == "h":
            parts.append(f"{'#' * b[1]} {b[2]}")
        elif kind == "p":
            parts.append(b[1])
        elif kind == "pre":
            parts.append(f"```\n{b[1]}\n```")
        elif kind == "table":
            head = "| " + " | ".join(_md_cell(h) for h in b[1]) + " |"
            sep = "|" + "|".join(":---" if j == 0 else "---:" for j in range(len(b[1]))) + "|"
            body = ["| " + " | ".join(_md_cell(c) for c in r) + " |" for r in b[2]]
            parts.append("\n".join([head, sep, *body]))
        elif kind == "img":
            (out_dir / files_dir).mkdir(parents=True, exist_ok=True)
            (out_dir / files_dir / b[1]).write_bytes(b[2])
            parts.append(f"![{b[3]}]({files_dir}/{b[1]})")
        else:
            raise ValueError(f"unknown report block kind {kind!r}")
    return "\n\n".join(parts) + "\n"


def render_html(blocks: Sequence[tuple], title: str | None = None) -> str:
    """One self-contained HTML page (inline CSS, PNGs as base64 data URIs)."""
    esc = html.escape
    title = title or next((b[2] for b in blocks if b[0] == "h"), "zs report")
    parts = [f"<!DOCTYPE html>\n<html><head><meta charset='utf-8'><title>{esc(title)}</title>"
             f"<style>{CSS}</style></head><body>"]
    for b in blocks:
        kind = b[0]
        if kind == "h":
            parts.append(f"<h{b[1]}>{esc(b[2])}</h{b[1]}>")
        elif kind == "p":
            parts.append(f"<p>{esc(b[1])}</p>")
        elif kind == "pre":
            parts.append(f"<pre>{esc(b[1])}</pre>")
        elif kind == "table":
            head = "".join(f"<th>{esc(h)}</th>" for h in b[1])
            body = "".join("<tr>" + "".join(f"<td>{esc(c)}</td>" for c in r) + "</tr>" for r in b[2])
            parts.append(f"<table><thead><tr>{head}</tr></thead><tbody>{body}</tbody></table>")
        elif kind == "img":
            data = base64.b64encode(b[2]).decode("ascii")
            parts.append(f"<img alt='{esc(b[3])}' src='data:image/png;base64,{data}'>")
        else:
            raise ValueError(f"unknown report block kind {kind!r}")
    parts.append("</body></html>\n")
    return "\n".join(parts)
