"""Cosine k-nearest-neighbour search: FAISS (GPU index when available, CPU otherwise) and numpy.

Cosine similarity = inner product of L2-normalised float32 rows, so every
backend is an exact flat inner-product index (``IndexFlatIP``): the CPU and
GPU indexes return the same neighbours, up to ties of float32 rounding.
:func:`brute_force_knn` is the numpy baseline (tests and ``bench_knn.py``).
"""

from __future__ import annotations

import logging

import numpy as np

from zs.errors import ZsError

log = logging.getLogger(__name__)


def l2_normalize(x: np.ndarray) -> np.ndarray:
    """Rows divided by their L2 norm (zero rows stay zero), as contiguous float32 [n, d]."""
    x = np.ascontiguousarray(x, dtype=np.float32)
    norm = np.linalg.norm(x, axis=1, keepdims=True)  # [n, 1]
    return np.ascontiguousarray(x / np.maximum(norm, 1e-12), dtype=np.float32)


FAISS_DISTRIBUTIONS = ("faiss-cpu", "faiss-gpu-cu12", "faiss-gpu-cu11", "faiss-gpu")


def import_faiss():
    """The ``faiss`` module; a one-line ZsError when it is missing or two FAISS builds overwrite each other.

    ``faiss-cpu`` and ``faiss-gpu-cu12`` both install the ``faiss`` package, so with both
    installed the module is whichever was installed last (docs/gpu.md).
    """
    from importlib import metadata

    have = []
    for name in FAISS_DISTRIBUTIONS:
        try:
            have.append(f"{name} {metadata.version(name)}")
        except metadata.PackageNotFoundError:
            pass
    if len(have) > 1:
        raise ZsError(f"both {' and '.join(have)} are installed and overwrite each other's `faiss` module; "
                      f"keep one: pip uninstall -y {' '.join(h.split()[0] for h in have)} && "
                      f"pip install faiss-cpu (or faiss-gpu-cu12 on a CUDA host)")
    try:
        import faiss
    except ImportError:
        raise ZsError("faiss is not installed: pip install 'zs[cpu]' (CPU) or 'zs[gpu]' (CUDA 12 host)") from None
    return faiss


def faiss_gpu_available() -> bool:
    """True when faiss has GPU support (faiss-gpu) and sees a CUDA device."""
    faiss = import_faiss()

    return hasattr(faiss, "StandardGpuResources") and getattr(faiss, "get_num_gpus", lambda: 0)() > 0


def _check_2d(name: str, x: np.ndarray, dim: int | None = None) -> None:
    if x.ndim != 2 or (dim is not None and x.shape[1] != dim):
        want = f"[n, {dim}]" if dim is not None else "[n, d]"
        raise ZsError(f"knn: {name} has shape {tuple(x.shape)}, expected {want}")


GPU_MAX_K = 2048  # faiss-gpu's largest k for a flat index search (GPU_MAX_SELECTION_K)


class KnnIndex:
    """Exact cosine kNN over ``base`` [n, d] with FAISS.

    ``device``: "cpu", "cuda"/"cuda:N" or "auto". A CUDA device without
    faiss-gpu falls back to the CPU index (same results) with a log line.
    """

    def __init__(self, base: np.ndarray, *, device: str = "cpu", normalize: bool = True):
        faiss = import_faiss()

        base = np.asarray(base)
        _check_2d("base", base)
        self.size, self.dim = base.shape
        self.normalize = normalize
        xb = l2_normalize(base) if normalize else np.ascontiguousarray(base, dtype=np.float32)  # [n, d]
        cpu_index = faiss.IndexFlatIP(self.dim)
        cpu_index.add(xb)
        self.backend, self.index, self.cpu_index = "faiss-cpu", cpu_index, cpu_index
        if _wants_gpu(device):
            if faiss_gpu_available():
                self._res = faiss.StandardGpuResources()
                gpu_id = int(str(device).split(":")[1]) if ":" in str(device) else 0
                self.index = faiss.index_cpu_to_gpu(self._res, gpu_id, cpu_index)
                self.backend = "faiss-gpu"
            else:
                log.info("faiss-gpu not available; using the CPU index (same results)")

    def search(self, queries: np.ndarray, k: int, batch: int = 16384) -> tuple[np.ndarray, np.ndarray]:
        """(sims [m, k] float32 descending, idx [m, k] int64) of each query's k nearest base rows.

        ``k`` is clamped to the base size.
        """
        queries = np.asarray(queries)
        _check_2d("queries", queries, self.dim)
        k = min(int(k), self.size)
        if k <= 0:
            raise ZsError(f"knn: k={k} (base has {self.size} rows)")
        xq = l2_normalize(queries) if self.normalize else np.ascontiguousarray(queries, dtype=np.float32)
        index = self.index
        if k > GPU_MAX_K and index is not self.cpu_index:
            log.info("k=%d is over faiss-gpu's limit of %d; searching the CPU index (same results)", k, GPU_MAX_K)
            index = self.cpu_index
        sims = np.empty((len(xq), k), np.float32)
        idx = np.empty((len(xq), k), np.int64)
        for lo in range(0, len(xq), batch):
            s, i = index.search(xq[lo:lo + batch], k)  # [b, k], [b, k]
            sims[lo:lo + batch], idx[lo:lo + batch] = s, i
        return sims, idx


def _wants_gpu(device) -> bool:
    if device in (None, "", "auto"):
        return faiss_gpu_available()
    return str(device).startswith("cuda")


def brute_force_knn(base: np.ndarray, queries: np.ndarray, k: int, *, normalize: bool = True,
                    batch: int = 1024) -> tuple[np.ndarray, np.ndarray]:
    """numpy baseline of :meth:`KnnIndex.search`: (sims [m, k], idx [m, k]), ties by lower index."""
    xb = l2_normalize(base) if normalize else np.asarray(base, np.float32)  # [n, d]
    xq = l2_normalize(queries) if normalize else np.asarray(queries, np.float32)  # [m, d]
    k = min(int(k), len(xb))
    sims = np.empty((len(xq), k), np.float32)
    idx = np.empty((len(xq), k), np.int64)
    for lo in range(0, len(xq), batch):
        s = xq[lo:lo + batch] @ xb.T  # [b, n]
        part = np.argpartition(-s, k - 1, axis=1)[:, :k] if k < s.shape[1] else np.tile(np.arange(k), (len(s), 1))
        ps = np.take_along_axis(s, part, 1)  # [b, k]
        order = np.lexsort((part, -ps), axis=1)  # by similarity desc, then index asc
        idx[lo:lo + batch] = np.take_along_axis(part, order, 1)
        sims[lo:lo + batch] = np.take_along_axis(ps, order, 1)
    return sims, idx


def neighbours_match(idx_a: np.ndarray, sims_a: np.ndarray, idx_b: np.ndarray, sims_b: np.ndarray,
                     tol: float = 1e-5) -> np.ndarray:
    """[m, k] bool: same neighbour, or a different one at a float32 near-tie (|sim difference| <= tol)."""
    return (idx_a == idx_b) | (np.abs(sims_a - sims_b) <= tol)
