"""docs/architecture.md stays true to the code: every module path and dotted function it names exists."""

import importlib
import re
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
DOC = (ROOT / "docs" / "architecture.md").read_text()


def test_every_named_file_exists():
    paths = set(re.findall(r"`(zs/[\w/]+\.py)`", DOC))
    assert len(paths) > 10
    missing = sorted(p for p in paths if not (ROOT / p).is_file())
    assert not missing, f"docs/architecture.md names files that do not exist: {missing}"


def test_every_dotted_function_exists():
    names = set(re.findall(r"`(zs(?:\.\w+)+)(?:\(\w*\))?`", DOC))
    assert len(names) > 15
    missing = []
    for name in sorted(names):
        module, _, attr = name.rpartition(".")
        try:
            ok = hasattr(importlib.import_module(module), attr)
        except ImportError:
            try:
                importlib.import_module(name)
                ok = True
            except ImportError:
                ok = False
        if not ok:
            missing.append(name)
    assert not missing, f"docs/architecture.md names functions that do not exist: {missing}"
