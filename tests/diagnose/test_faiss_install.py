"""Exactly one FAISS build: two builds overwriting `faiss`, or none, is a one-line error."""

import sys
from importlib import metadata

import pytest

from zs.errors import ZsError
from zs.evaluate.diagnose.knn import import_faiss


def _fake_versions(monkeypatch, installed: dict):
    def version(name):
        if name in installed:
            return installed[name]
        raise metadata.PackageNotFoundError(name)

    monkeypatch.setattr(metadata, "version", version)


def test_one_build_imports(monkeypatch):
    _fake_versions(monkeypatch, {"faiss-cpu": "1.15.1"})
    assert hasattr(import_faiss(), "IndexFlatIP")


def test_cpu_and_gpu_builds_together_are_refused(monkeypatch):
    _fake_versions(monkeypatch, {"faiss-cpu": "1.15.1", "faiss-gpu-cu12": "1.12.0"})
    with pytest.raises(ZsError) as e:
        import_faiss()
    msg = str(e.value)
    assert "faiss-cpu 1.15.1 and faiss-gpu-cu12 1.12.0" in msg and "pip uninstall -y faiss-cpu faiss-gpu-cu12" in msg
    assert "\n" not in msg


def test_missing_faiss_names_the_extras(monkeypatch):
    _fake_versions(monkeypatch, {})
    monkeypatch.setitem(sys.modules, "faiss", None)  # import faiss -> ImportError
    with pytest.raises(ZsError, match=r"faiss is not installed: pip install 'zs\[cpu\]'"):
        import_faiss()


def test_pyproject_keeps_the_builds_in_separate_extras():
    import tomllib
    from pathlib import Path

    meta = tomllib.loads((Path(__file__).resolve().parents[2] / "pyproject.toml").read_text())["project"]
    assert not any(d.startswith("faiss") for d in meta["dependencies"])
    for name, deps in meta["optional-dependencies"].items():
        builds = [d for d in deps if d.startswith("faiss")]
        assert len(builds) <= 1, name
    assert any(d.startswith("faiss-cpu") for d in meta["optional-dependencies"]["test"])  # README quick start
