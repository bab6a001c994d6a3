"""NaN/Inf in store arrays: one vectorised scan shared by ``zs store verify`` and the stages.

``nonfinite_rows`` reads an array one image-chunk at a time and returns the rows
holding a non-finite value; ``require_finite`` is what a stage calls before it
trains or evaluates on a split: it refuses the store with one line naming the
split, the array, the first bad row and how many rows are bad.
"""

from __future__ import annotations

import numpy as np

from zs.errors import StoreError
from zs.store.layout import ARRAYS

# float arrays of a split (masks are integer codes, they cannot hold NaN)
FINITE_ARRAYS = ("query_embed", "query_logits", "clip_global", "clip_segment")
BLOCK_BYTES = 64 << 20  # rows read per step: whole chunks, up to this many bytes (zarr decodes them concurrently)


class UnreadableChunk(StoreError):
    """A chunk of an array could not be decoded."""


def nonfinite_rows(arr, rows: np.ndarray | None = None, *, chunk: int | None = None, progress: str | None = None,
                   unreadable: list | None = None) -> np.ndarray:
    """Rows of ``arr`` (first axis) with a NaN/Inf anywhere, ascending; only ``rows`` if given.

    Reads whole chunks, many at a time (up to ``BLOCK_BYTES``). A block that
    does not decode raises :class:`UnreadableChunk` naming its rows, or is
    appended to ``unreadable`` as (first, last) row when that list is given.
    """
    from tqdm import tqdm

    n = arr.shape[0]
    c = int(chunk or arr.chunks[0])
    if unreadable is None:  # (verify reports undecodable chunks one by one: it reads chunk by chunk)
        row_bytes = int(np.prod(arr.shape[1:], dtype=np.int64)) * np.dtype(arr.dtype).itemsize
        c *= max(1, BLOCK_BYTES // max(1, row_bytes * c))
    wanted = None if rows is None else np.zeros(n, bool)
    if wanted is not None:
        wanted[np.asarray(rows, np.int64)] = True
    starts = [lo for lo in range(0, n, c) if wanted is None or wanted[lo:lo + c].any()]
    bad = []
    for lo in tqdm(starts, desc=progress, disable=progress is None):
        try:
            block = np.asarray(arr[lo:lo + c])
        except Exception as e:  # noqa: BLE001 - any codec error means a corrupt chunk
            if unreadable is not None:
                unreadable.append((lo, min(lo + c, n) - 1))
                continue
            raise UnreadableChunk(f"rows {lo}-{min(lo + c, n) - 1} unreadable ({type(e).__name__})") from None
        row_bad = ~np.isfinite(block.reshape(block.shape[0], -1)).all(1)  # [c]
        if wanted is not None:
            row_bad &= wanted[lo:lo + c]
        bad.append(np.flatnonzero(row_bad) + lo)
    return np.concatenate(bad) if bad else np.zeros(0, np.int64)


def require_finite(reader, names=("query_embed",), *, stage: str) -> None:
    """Refuse ``reader``'s split if an array in ``names`` has NaN/Inf in a written row.

    Arrays the split does not have are skipped; ``clip_segment`` is checked over
    all its rows (a segment table), the others over the done rows.
    """
    done, group = None, getattr(reader, "_group", ())  # (in-memory readers of tests have no arrays)
    for name in names:
        if name not in FINITE_ARRAYS or name not in group:
            continue
        if name != "clip_segment" and done is None:
            done = np.flatnonzero(reader.done())
        try:
            bad = nonfinite_rows(reader.array(name), None if name == "clip_segment" else done,
                                 chunk=None if name == "clip_segment" else reader.chunk_images)
        except UnreadableChunk as e:
            raise StoreError(f"store {reader.store.url} split '{reader.name}': {ARRAYS}/{name} {e}; "
                             f"{stage} refused (run `zs store verify {reader.store.url}`)") from None
        if len(bad):
            what = "segment rows" if name == "clip_segment" else "rows"
            raise StoreError(
                f"store {reader.store.url} split '{reader.name}': {ARRAYS}/{name} has NaN/Inf in {len(bad)} "
                f"{what} (first row {int(bad[0])}); {stage} refused (run `zs store verify {reader.store.url}`)")
