"""Chunk-contiguous shuffled training batches from a split.

Random rows across a zarr array cost one chunk decode each (~15x slower
than sequential, DESIGN §4). The samplers here shuffle the *order of image
chunks* each epoch, read a window of whole chunks (through the reader's
bounded LRU cache), shuffle the samples inside the window, and carry the
remainder into the next window. Deterministic for a given seed.
"""

from __future__ import annotations

import itertools

import numpy as np

from zs.errors import StoreError

WINDOW_CHUNKS = 4  # at least this many chunks are mixed in one window


def _epochs(epochs):
    return itertools.count() if epochs is None else range(int(epochs))


def _windows(chunks: np.ndarray, sizes: dict, min_samples: int, rng):
    """Shuffled chunk ids grouped into windows of >= WINDOW_CHUNKS chunks and >= min_samples samples."""
    order = rng.permutation(chunks)
    win, count = [], 0
    for c in order:
        win.append(int(c))
        count += sizes[int(c)]
        if len(win) >= WINDOW_CHUNKS and count >= min_samples:
            yield win
            win, count = [], 0
    if win:
        yield win


def _to_torch(x, device, dtype=None):
    import torch

    t = torch.from_numpy(np.ascontiguousarray(x))
    if dtype is not None:
        t = t.to(dtype)
    return t.to(device)


def _matched_index(reader, labels):
    """Per chunk: (row offset in chunk [m], query [m], label [m]) of matched queries with wanted labels."""
    rows, label, seg = reader.query_labels()  # [n], [n, Q], [n, Q]
    wanted = np.asarray(reader.store.vocab.seen_indices if labels is None else list(labels), np.int64)
    keep = (seg >= 0) & np.isin(label, wanted)  # [n, Q]
    r_idx, q_idx = np.nonzero(keep)
    if len(r_idx) == 0:
        raise StoreError(f"{reader.store.url}: split '{reader.name}' has no matched queries of labels "
                         f"{wanted.tolist()}")
    c = reader.chunk_images
    abs_rows = rows[r_idx]
    chunk = abs_rows // c
    index = {}
    for ch in np.unique(chunk):
        sel = chunk == ch
        index[int(ch)] = (abs_rows[sel] - ch * c, q_idx[sel], label[r_idx[sel], q_idx[sel]])
    return index


class _MatchedCache:
    """Matched features of each chunk ([m, D] float32), kept while they fit in the reader's cache budget.

    Only ~5% of a chunk's queries are matched, so keeping these (not whole decoded chunks)
    makes every epoch after the first run from memory for stores up to ``cache_bytes``.
    """

    def __init__(self, reader, index):
        self.reader, self.index, self.items, self.bytes = reader, index, {}, 0

    def get(self, c: int) -> np.ndarray:
        if c in self.items:
            return self.items[c]
        off, q, _ = self.index[c]
        lo = c * self.reader.chunk_images
        block = np.asarray(self.reader.array("query_embed")[lo:lo + self.reader.chunk_images])  # [C, Q, D] f16
        x = block[off, q].astype(np.float32)  # [m, D]
        if self.bytes + x.nbytes <= self.reader.cache_bytes:
            self.items[c] = x
            self.bytes += x.nbytes
        return x


def matched_batches(reader, batch_size: int, *, seed: int, labels=None, device="cpu", epochs=None):
    """Yield (embed [B, D] float32, label [B] int64) torch batches; the last one of a finite run may be short."""
    import torch

    if batch_size <= 0:
        raise StoreError(f"matched_batches: batch_size={batch_size} must be positive")
    index = _matched_index(reader, labels)
    chunks = np.array(sorted(index))
    sizes = {c: len(index[c][0]) for c in index}
    pool_x = np.zeros((0, reader.query_dim), np.float32)
    pool_y = np.zeros(0, np.int64)
    feats = _MatchedCache(reader, index)
    for epoch in _epochs(epochs):
        rng = np.random.default_rng([seed, epoch])
        for win in _windows(chunks, sizes, 4 * batch_size, rng):
            xs, ys = [pool_x], [pool_y]
            for c in win:
                xs.append(feats.get(c))  # [m, D]
                ys.append(index[c][2])
            x, y = np.concatenate(xs), np.concatenate(ys)
            perm = rng.permutation(len(y))
            n_full = len(y) // batch_size * batch_size
            for s in range(0, n_full, batch_size):
                idx = perm[s:s + batch_size]
                yield _to_torch(x[idx], device), _to_torch(y[idx], device, torch.int64)
            pool_x, pool_y = x[perm[n_full:]], y[perm[n_full:]]
    if len(pool_y):
        yield _to_torch(pool_x, device), _to_torch(pool_y, device, torch.int64)


def image_batches(reader, images_per_batch: int, *, seed: int, device="cpu", epochs=None):
    """Yield dicts of whole-image batches (see docs/CONTRACTS.md); last one of a finite run may be short."""
    if images_per_batch <= 0:
        raise StoreError(f"image_batches: images_per_batch={images_per_batch} must be positive")
    rows, label, seg = reader.query_labels()
    if len(rows) == 0:
        raise StoreError(f"{reader.store.url}: split '{reader.name}' has no written images")
    c = reader.chunk_images
    chunk_of = rows // c
    chunks = np.unique(chunk_of)
    members = {int(ch): np.flatnonzero(chunk_of == ch) for ch in chunks}  # positions into rows/label
    sizes = {ch: len(m) for ch, m in members.items()}
    pool = np.zeros(0, np.int64)
    for epoch in _epochs(epochs):
        rng = np.random.default_rng([seed, epoch])
        for win in _windows(chunks, sizes, 4 * images_per_batch, rng):
            pos = np.concatenate([pool] + [members[ch] for ch in win])
            pos = pos[rng.permutation(len(pos))]
            n_full = len(pos) // images_per_batch * images_per_batch
            for s in range(0, n_full, images_per_batch):
                yield _image_batch(reader, rows, label, seg, pos[s:s + images_per_batch], device)
            pool = pos[n_full:]
    if len(pool):
        yield _image_batch(reader, rows, label, seg, pool, device)


def _image_batch(reader, rows, label, seg, pos, device) -> dict:
    import torch

    c = reader.chunk_images
    r = rows[pos]  # [B]
    embed = np.stack([reader.cached_chunk("query_embed", int(x) // c)[int(x) % c] for x in r])  # [B, Q, D]
    clip = None
    if reader.has_clip:
        clip = np.stack([reader.cached_chunk("clip_global", int(x) // c)[int(x) % c] for x in r])  # [B, Dc]
    seg_rows = seg[pos] if reader.has_clip else np.full_like(seg[pos], -1)  # [B, Q]
    return {
        "embed": _to_torch(embed, device),
        "label": _to_torch(label[pos], device, torch.int64),
        "rows": _to_torch(r, device, torch.int64),
        "clip_global": None if clip is None else _to_torch(clip, device),
        "segment_clip_rows": _to_torch(seg_rows, device, torch.int64),
    }
