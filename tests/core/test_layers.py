"""The package's layers, kept true: no module imports upwards, no modules import each other in a circle.

Every import of a ``zs`` module counts: module level or inside a function, and a
string naming a module (``importlib.import_module``, the CLI's module list, a
package's lazy ``_EXPORTS``). ``docs/architecture.md`` ("Layers") says the same in words.
"""

from __future__ import annotations

import ast
from pathlib import Path

ZS = Path(__file__).resolve().parents[2] / "zs"

# Bottom first. A module may import its own layer and the layers below; within the
# stages layer, only what STAGE_IMPORTS allows.
LAYERS = ("core", "store", "stages", "pipelines", "cli")

# Stage units (a stage package, or one of evaluate's sub-packages) -> the other stage
# units its modules may import. Bottom first; ``evaluate`` is the stage's entry
# (run.py, and its package files).
STAGE_IMPORTS = {
    "extract": set(),
    "generate": set(),
    "adapt": {"generate"},
    "evaluate.metrics": set(),
    "evaluate.evaluation": {"evaluate.metrics", "extract"},
    "evaluate.reports": {"evaluate.evaluation", "extract"},
    "evaluate.diagnose": {"evaluate.reports", "generate"},
    "evaluate": {"evaluate.evaluation", "evaluate.reports", "extract"},
    "synth": {"extract", "evaluate.evaluation", "evaluate.metrics", "evaluate.diagnose"},
}
EVALUATE_PARTS = ("metrics", "evaluation", "reports", "diagnose")


def unit_of(module: str) -> tuple[str, str]:
    """``(layer, unit)`` of a dotted module name."""
    parts = module.split(".")
    if parts[-1] == "cli" or parts[-1].endswith("_cli"):
        return "cli", "cli"
    if len(parts) == 1 or (ZS / f"{parts[1]}.py").is_file():  # zs/__init__.py and the modules in zs/
        return "core", "core"
    if parts[1] in ("store", "pipelines"):
        return parts[1], parts[1]
    if parts[1] == "evaluate" and len(parts) > 2 and parts[2] in EVALUATE_PARTS:
        return "stages", f"evaluate.{parts[2]}"
    return "stages", parts[1]


def module_names(root: Path = ZS) -> dict[str, Path]:
    names = {}
    for path in sorted(root.rglob("*.py")):
        parts = list(path.relative_to(root.parent).with_suffix("").parts)
        if parts[-1] == "__init__":
            parts = parts[:-1]
        names[".".join(parts)] = path
    return names


def imports_of(module: str, path: Path, names: dict[str, Path]) -> set[str]:
    """The ``zs`` modules that ``module`` imports anywhere in its file."""

    def known(name: str) -> str | None:  # the module itself, else its nearest package
        while name and name not in names:
            name = name.rpartition(".")[0]
        return name or None

    package = module if path.name == "__init__.py" else module.rpartition(".")[0]
    found: set[str] = set()
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        if isinstance(node, ast.Import):
            found |= {known(a.name) for a in node.names if a.name.split(".")[0] == "zs"}
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:  # relative: from . import x / from ..a import b
                up = package.split(".")[: len(package.split(".")) - node.level + 1]
                base = ".".join(up + ([node.module] if node.module else []))
            if base.split(".")[0] == "zs":  # from zs.a import b: module zs.a.b if it is one, else zs.a
                found |= {f"{base}.{a.name}" if f"{base}.{a.name}" in names else known(base) for a in node.names}
        elif isinstance(node, ast.Constant) and isinstance(node.value, str) and "." in node.value:
            if node.value in names:  # "zs.a.b": imported by name (importlib, lazy exports, the CLI's list)
                found.add(node.value)
    found.discard(None)
    found.discard(module)
    return found


def import_graph() -> dict[str, set[str]]:
    names = module_names()
    return {m: imports_of(m, p, names) for m, p in names.items()}


def upward_imports(graph: dict[str, set[str]]) -> list[str]:
    bad = []
    for src, targets in sorted(graph.items()):
        (layer, unit) = unit_of(src)
        for dst in sorted(targets):
            (dst_layer, dst_unit) = unit_of(dst)
            if LAYERS.index(dst_layer) > LAYERS.index(layer):
                bad.append(f"{src} ({layer}) imports {dst} ({dst_layer})")
            elif layer == dst_layer == "stages" and dst_unit != unit and dst_unit not in STAGE_IMPORTS[unit]:
                bad.append(f"{src} ({unit}) imports {dst} ({dst_unit}): not in STAGE_IMPORTS[{unit!r}]")
    return bad


def cycles(graph: dict[str, set[str]]) -> list[list[str]]:
    """One circle per strongly connected group of modules, as ``[a, b, ..., a]``."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    groups: list[list[str]] = []

    def visit(v: str) -> None:  # Tarjan; the package has a few hundred modules, recursion is fine
        index[v] = low[v] = len(index)
        stack.append(v)
        for w in sorted(graph.get(v, ())):
            if w not in index:
                visit(w)
                low[v] = min(low[v], low[w])
            elif w in stack:
                low[v] = min(low[v], index[w])
        if low[v] == index[v]:
            group = []
            while True:
                w = stack.pop()
                group.append(w)
                if w == v:
                    break
            if len(group) > 1:
                groups.append(sorted(group))

    for v in sorted(graph):
        if v not in index:
            visit(v)
    return [_circle(group, graph) for group in groups]


def _circle(group: list[str], graph: dict[str, set[str]]) -> list[str]:
    """A shortest path from the group's first module back to itself, inside the group."""
    start, members = group[0], set(group)
    paths = {w: [start, w] for w in sorted(graph[start] & members)}
    frontier = list(paths)
    while start not in paths:
        nxt = []
        for v in frontier:
            for w in sorted(graph[v] & members):
                if w not in paths:
                    paths[w] = paths[v] + [w]
                    nxt.append(w)
        frontier = nxt
    return paths[start]


def test_no_upward_import():
    bad = upward_imports(import_graph())
    assert not bad, "upward imports (docs/architecture.md, Layers):\n" + "\n".join(bad)


def test_no_import_cycle():
    found = cycles(import_graph())
    assert not found, "import circles:\n" + "\n".join(" -> ".join(c) for c in found)


def test_every_stage_unit_is_listed():
    units = {unit_of(m) for m in import_graph()}
    assert {u for layer, u in units if layer == "stages"} == set(STAGE_IMPORTS)


def test_the_check_catches_what_it_should():
    graph = {"zs.store.info": {"zs.evaluate.reports.report_render"},  # store -> stage
             "zs.extract.segment": {"zs.evaluate.evaluation.inference"},  # extract -> evaluate
             "zs.evaluate.evaluation.predict": {"zs.evaluate.cli"},  # library -> CLI
             "zs.evaluate.reports.report_render": set(), "zs.evaluate.evaluation.inference": set(),
             "zs.evaluate.cli": set()}
    assert len(upward_imports(graph)) == 3
    graph = {"zs.store.writer": {"zs.store.consolidate"}, "zs.store.consolidate": {"zs.store.layout"},
             "zs.store.layout": {"zs.store.writer"}, "zs.errors": set()}
    assert cycles(graph) == [["zs.store.consolidate", "zs.store.layout", "zs.store.writer", "zs.store.consolidate"]]
