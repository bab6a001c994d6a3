"""``diagnose(cfg)`` and ``zs diagnose``: artifacts, report integration, bad input."""

import json

import numpy as np
import pytest
import torch
from conftest import GaussianGenerator

from zs.errors import ConfigError, ProvenanceError, StoreError
from zs.evaluate.diagnose.run import DiagnoseConfig, diagnose, diagnose_with


def _save_generator(store, out, vocab=None, num_classes=None):
    from zs.generate.artifact import save_generator
    from zs.generate.config import GeneratorConfig
    from zs.generate.models import build_generator
    from zs.manifest import make_manifest

    vocab = vocab or store.vocab
    k = num_classes or vocab.num_classes
    text, _ = store.text()
    torch.manual_seed(0)
    cfg = GeneratorConfig(kind="gmmn", query_dim=store.split("val").query_dim, text_dim=text.shape[1], num_classes=k)
    gen = build_generator(cfg, torch.from_numpy(np.resize(text, (k, text.shape[1]))))
    m = make_manifest("zs-generator", config=cfg, store_sha256=store.sha256, vocab_sha256=vocab.sha256,
                      segmenter_sha256=store.manifest["segmenter"]["sha256"], vocabulary=vocab.to_dict())
    return save_generator(gen, out, m)


def _cfg(store, gen, out, **kw):
    return DiagnoseConfig(store=str(store.url), generator=str(gen), out=str(out), per_class=50, device="cpu", **kw)


def _cli(args, capsys):
    from zs.cli import main

    try:
        main([str(a) for a in args])
        code = 0
    except SystemExit as e:
        code = e.code
    return code, capsys.readouterr()


def test_diagnose_writes_json_pngs_manifest_and_report(toy_store, tmp_path):
    from zs.evaluate.reports.report import write_report
    from zs.manifest import write_json_atomic

    gen = _save_generator(toy_store, tmp_path / "gen")
    run_dir = tmp_path / "run"
    write_json_atomic(run_dir / "metrics.json", {"provenance": {"mode": "cached"}})
    out = diagnose(_cfg(toy_store, gen, run_dir / "diagnostics", head=toy_store.seen_head_path))
    diag = json.loads((out / "diagnostics.json").read_text())  # strict JSON (no NaN)
    assert list(diag)[:2] == ["summary", "per_class"]
    assert set(diag["per_class"]) == {"star", "water"}
    assert diag["provenance"]["store"]["sha256"] == toy_store.sha256
    assert diag["provenance"]["generator"]["manifest"]["vocab_sha256"] == toy_store.vocab.sha256
    assert diag["provenance"]["generator"]["same_store"] is True
    # the store's seen head never predicts an unseen class: the seen-bias, on real and synthetic features
    assert diag["summary"]["head_acc_real"] == 0.0 and diag["summary"]["head_acc_synthetic"] == 0.0
    assert sorted(diag["plots"]) == sorted(p.name for p in out.glob("*.png"))
    assert all((out / p).read_bytes()[:4] == b"\x89PNG" for p in diag["plots"])
    manifest = json.loads((out / "manifest.json").read_text())
    assert manifest["kind"] == "zs-diagnostics" and manifest["inputs"]["store"]["sha256"] == toy_store.sha256
    md = write_report(run_dir)["md"].read_text()
    assert "Diagnostics" in md and "agreement@10" in md and "diag_centre_distances.png" in md


def test_diagnose_with_a_perfect_generator_and_tsne(toy_store, real_features, tmp_path):
    real, labels = real_features
    cfg = _cfg(toy_store, "unused", tmp_path / "d", embedding="tsne", k=5)
    out = diagnose_with(toy_store, GaussianGenerator(real, labels), cfg)
    s = json.loads((out / "diagnostics.json").read_text())["summary"]
    assert s["agreement@1"] > 0.95 and s["agreement@5"] > 0.95 and s["prototype_acc_unseen"] > 0.95
    assert (out / "features_tsne.png").is_file()


def test_cli_prints_summary(toy_store, tmp_path, capsys):
    gen = _save_generator(toy_store, tmp_path / "gen")
    code, io = _cli(["diagnose", "--store", toy_store.url, "--generator", gen, "--out", tmp_path / "o",
                     "--per-class", 20, "--device", "cpu", "--no-plots", "--no-progress"], capsys)
    assert code == 0, io.err
    assert "agreement@10" in io.out and (tmp_path / "o" / "diagnostics.json").is_file()
    assert not list((tmp_path / "o").glob("*.png"))


def test_generator_of_another_vocabulary_is_refused(toy_store, tmp_path, capsys):
    from zs.vocab import Vocabulary

    d = toy_store.vocab.to_dict()
    d["categories"][0]["seen"] = False
    gen = _save_generator(toy_store, tmp_path / "gen", vocab=Vocabulary.from_dict(d))
    with pytest.raises(ProvenanceError, match="vocabulary"):
        diagnose(_cfg(toy_store, gen, tmp_path / "o"))
    gen9 = _save_generator(toy_store, tmp_path / "gen9", num_classes=9)
    code, io = _cli(["diagnose", "--store", toy_store.url, "--generator", gen9, "--out", tmp_path / "o"], capsys)
    assert code == 2 and io.err.startswith("error: generator") and "K=9" in io.err
    assert "Traceback" not in io.err


def test_store_without_val_split_is_refused(tmp_path, capsys):
    from toyworld.store import write_toy_store

    store = write_toy_store(tmp_path / "s", n_train=4, n_val=0, num_queries=4, dim=8, text_dim=4,
                            masks=False, clip=False)
    gen = _save_generator_for_train_only(store, tmp_path / "gen")
    code, io = _cli(["diagnose", "--store", store.url, "--generator", gen, "--out", tmp_path / "o"], capsys)
    assert code == 2 and "no 'val' split" in io.err


def _save_generator_for_train_only(store, out):
    # the helper reads query_dim from the val split; this store has none
    from zs.generate.artifact import save_generator
    from zs.generate.config import GeneratorConfig
    from zs.generate.models import build_generator
    from zs.manifest import make_manifest

    cfg = GeneratorConfig(kind="gmmn", query_dim=8, text_dim=4, num_classes=store.vocab.num_classes)
    m = make_manifest("zs-generator", vocab_sha256=store.vocab.sha256,
                      segmenter_sha256=store.manifest["segmenter"]["sha256"])
    return save_generator(build_generator(cfg), out, m)


def test_store_without_matched_unseen_queries_is_refused(tmp_path):
    from zs.evaluate.diagnose.data import load_real_features
    from toyworld.store import write_toy_store

    for seed in range(20):  # a 1-image val split without an unseen class (deterministic per seed)
        store = write_toy_store(tmp_path / f"s{seed}", n_train=0, n_val=1, num_queries=6, dim=8, text_dim=4,
                                masks=False, clip=False, seed=seed)
        labels = store.split("val").queries(columns=["label"])["label"].to_numpy()
        if not np.isin(labels, store.vocab.unseen_indices).any():
            break
    else:
        pytest.fail("no toy seed gives a val split without unseen classes")
    with pytest.raises(StoreError, match="no matched query of an unseen class"):
        load_real_features(store, "val")


def test_bad_options_are_config_errors(toy_store, tmp_path):
    for kw in (dict(per_class=0), dict(k=0), dict(embedding="umap"), dict(max_real_mmd=1)):
        cfg = DiagnoseConfig(store=str(toy_store.url), generator="g", out=str(tmp_path), **kw)
        with pytest.raises(ConfigError):
            cfg.validate()


def test_help_and_no_torch_at_import():
    import subprocess
    import sys

    code = "import sys, zs.evaluate.diagnose.cli as m; assert 'torch' not in sys.modules; print(m.commands[0].name)"
    assert subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout.strip() \
        == "diagnose"
