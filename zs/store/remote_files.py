"""Small file trees inside a store that other code reads by local path (the seen head).

On a local store they live in place. On an object store (s3://, gs://, ...)
they are uploaded file by file (the marker file last, so a reader never sees
half a tree) and read back through a per-process local copy.
"""

from __future__ import annotations

import atexit
import shutil
import tempfile
from pathlib import Path

from zs.store.layout import Location

_COPIES: dict[str, str] = {}  # store sub-URL -> local copy (per process)


def upload_dir(loc: Location, local_dir: str | Path, *parts: str, last: str) -> None:
    """Copy the files of ``local_dir`` to ``parts`` inside the store; ``last`` is written after the others."""
    files = sorted(p for p in Path(local_dir).iterdir() if p.is_file())
    for p in sorted(files, key=lambda p: p.name == last):
        loc.write_bytes_atomic(p.read_bytes(), *parts, p.name)


def local_copy(loc: Location, *parts: str) -> str:
    """A local directory holding the files at ``parts`` (downloaded once per process)."""
    url = loc.url_of(*parts)
    if url not in _COPIES:
        root = tempfile.mkdtemp(prefix="zs-store-")
        atexit.register(shutil.rmtree, root, True)
        out = Path(root) / parts[-1]
        out.mkdir()
        for name in loc.listdir(*parts):
            (out / name).write_bytes(loc.read_bytes(*parts, name))
        _COPIES[url] = str(out)
    return _COPIES[url]
