"""FAISS feature diagnostics: synthetic unseen features vs real validation features (``zs diagnose``).

Modules: ``knn`` (cosine kNN: FAISS GPU/CPU, numpy baseline), ``data`` (real
matched features read chunk-wise; synthetic samples), ``figures`` (pure
figure functions), ``compute`` (all figures from arrays), ``plots`` (PNGs),
``run`` (``diagnose(cfg) -> Path``). Imported lazily: ``zs.evaluate.diagnose.cli``
stays torch-free.
"""

from __future__ import annotations

_EXPORTS = {
    "DiagnoseConfig": "zs.evaluate.diagnose.run",
    "diagnose": "zs.evaluate.diagnose.run",
    "diagnose_with": "zs.evaluate.diagnose.run",
    "compute_diagnostics": "zs.evaluate.diagnose.compute",
    "FeatureSets": "zs.evaluate.diagnose.compute",
    "KnnIndex": "zs.evaluate.diagnose.knn",
    "brute_force_knn": "zs.evaluate.diagnose.knn",
}

__all__ = sorted(_EXPORTS)


def __getattr__(name: str):
    if name in _EXPORTS:
        import importlib

        return getattr(importlib.import_module(_EXPORTS[name]), name)
    raise AttributeError(f"module 'zs.evaluate.diagnose' has no attribute {name!r}")
