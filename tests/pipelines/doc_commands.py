"""The COCO command lines of docs/coco.md, as argument lists the tests run.

Only the variables (paths), chosen ``--set`` values (iteration counts, the tiny CLIP's
config) and ``--device`` change; everything else is the documented command.
"""

from __future__ import annotations

import re
import shlex
import string
from pathlib import Path

DOC = Path(__file__).resolve().parents[2] / "docs" / "coco.md"


def doc_commands(name: str, variables: dict, sets: dict | None = None, device: str = "cpu",
                 doc: Path = DOC) -> list[list[str]]:
    """The ``zs`` commands under ``<!-- commands: name -->`` with $VARS substituted and ``sets`` applied.

    A ``--set key=value`` of the doc whose key is in ``sets`` gets the new value; the other
    keys of ``sets`` are appended to every ``zs run`` command (they must be spec vars).
    """
    m = re.search(rf"<!-- commands: {re.escape(name)} -->\s*```bash\n(.*?)```", doc.read_text(), re.S)
    if not m:
        raise AssertionError(f"{doc}: no command block '{name}'")
    lines = m.group(1).replace("\\\n", " ").strip().splitlines()
    out = []
    for line in lines:
        args = shlex.split(string.Template(line).substitute({k: str(v) for k, v in variables.items()}))
        assert args[0] == "zs", line
        out.append(_apply_sets(args[1:], dict(sets or {}), device))
    return out


def _apply_sets(args: list[str], sets: dict, device: str) -> list[str]:
    if args[0] != "run":
        return args
    args = list(args)
    for i, a in enumerate(args[:-1]):
        if a == "--set" and args[i + 1].split("=", 1)[0] in sets:
            key = args[i + 1].split("=", 1)[0]
            args[i + 1] = f"{key}={sets.pop(key)}"
    for key, value in sets.items():
        args += ["--set", f"{key}={value}"]
    return args + ["--device", device]


def run_zs(args) -> None:
    """Run ``zs ARGS`` in-process as the console script does; a non-zero exit fails the test."""
    from zs.cli import main

    try:
        main([str(a) for a in args])
    except SystemExit as e:
        assert e.code in (0, None), f"zs {' '.join(map(str, args[:2]))} exited {e.code}"


def run_in(folder, commands) -> None:
    """Run each command with ``folder`` as the working directory (the documented ``--out`` is relative)."""
    import os

    cwd = os.getcwd()
    os.chdir(folder)
    try:
        for args in commands:
            run_zs(args)
    finally:
        os.chdir(cwd)
