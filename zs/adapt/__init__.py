"""Head refits: seen-only, projection, PADing classifier, V2C, CPA; calibration.

Public surface: ``adapt(cfg) -> Path`` (``zs.adapt.run``), ``AdaptConfig``,
``ClassifierParams``, ``ProjectorParams``, ``METHODS``. Imported lazily so that
``zs.adapt.cli`` stays free of torch at import time.
"""

from zs.adapt.config import METHODS, AdaptConfig, ClassifierParams, ProjectorParams

__all__ = ["METHODS", "AdaptConfig", "ClassifierParams", "ProjectorParams", "adapt"]


def __getattr__(name):
    if name == "adapt":
        from zs.adapt.run import adapt

        return adapt
    raise AttributeError(name)
