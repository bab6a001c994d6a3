"""Feature generators (GMMN, PADing primitive, semantic-centric VAE), losses, training on the store.

Public surface (imported lazily so that ``zs.generate.cli`` stays torch-free)::

    fit_generator(cfg: FitConfig, *, stop_after=None) -> Path
    load_generator(path, device="cpu") -> Generator
    check_generator_fits(path, store) -> None
    sample_to_file(generator, classes, per_class, out, *, seed=0, device="auto") -> Path
    FitConfig, GeneratorConfig, build_generator
"""

from __future__ import annotations

_EXPORTS = {
    "FitConfig": "zs.generate.config",
    "GeneratorConfig": "zs.generate.config",
    "fit_generator": "zs.generate.train",
    "load_generator": "zs.generate.artifact",
    "check_generator_fits": "zs.generate.artifact",
    "save_generator": "zs.generate.artifact",
    "build_generator": "zs.generate.models",
    "Generator": "zs.generate.models",
    "sample_to_file": "zs.generate.sample",
}

__all__ = sorted(_EXPORTS)


def __getattr__(name: str):
    if name in _EXPORTS:
        import importlib

        return getattr(importlib.import_module(_EXPORTS[name]), name)
    raise AttributeError(f"module 'zs.generate' has no attribute {name!r}")
