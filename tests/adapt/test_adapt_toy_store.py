"""zs adapt end to end on the real toy store, with a real (tiny) generator artifact, via the CLI."""

import json

import pytest
import torch

from zs.heads import check_head_fits, load_head

torch.set_num_threads(1)


def _tiny_generator(store, out, kind="gmmn"):
    from zs.generate import FitConfig, fit_generator

    return fit_generator(FitConfig(store=str(store.url), out=str(out), kind=kind, schedule="two-stage",
                                   iterations=5, batch_images=4, batch_size=32, device="cpu"))


@pytest.fixture(scope="module")
def toy(tmp_path_factory):
    from toyworld.store import write_toy_store

    root = tmp_path_factory.mktemp("adapt_toy")
    store = write_toy_store(root / "store", n_train=24, n_val=8, num_queries=8, dim=32, text_dim=16, seed=0,
                            mask_shape=(8, 8))
    return root, store, _tiny_generator(store, root / "gen")


def _cli(args):
    from click.testing import CliRunner

    from zs.cli import cli

    r = CliRunner().invoke(cli, ["adapt", *map(str, args)], catch_exceptions=False)
    return r


@pytest.mark.parametrize("method", ["seen-only", "projection", "classifier", "v2c", "cpa"])
def test_every_method_writes_a_head_evaluate_accepts(toy, method):
    root, store, gen = toy
    out = root / f"head_{method}"
    args = ["--store", store.url, "--method", method, "--out", out, "--steps", 6, "--images-per-batch", 4,
            "--device", "cpu", "--no-progress", "--gamma", "auto"]
    if method in ("classifier", "cpa"):
        args += ["--generator", gen]
    r = _cli(args)
    assert r.exit_code == 0, r.output
    head = load_head(out)
    check_head_fits(head, store.identity, where=f"store {store.url}")
    assert store.identity.query_dim == 32
    assert head.cfg.store_sha256 == store.sha256 and head.cfg.method == method
    man = json.loads((out / "manifest.json").read_text())
    assert man["kind"] == "zs-head" and man["inputs"]["store"]["sha256"] == store.sha256
    assert man["calibration"]["rule"].startswith("auto")
    if method in ("classifier", "cpa"):
        assert man["inputs"]["generator"]["manifest"]["kind"]
    x = torch.from_numpy(store.split("val").query_embed(slice(0, 2))).reshape(-1, 32)
    assert head(x).shape == (16, store.vocab.num_classes + 1)


def test_generator_from_another_store_is_refused(toy, tmp_path):
    from toyworld.store import write_toy_store

    root, store, _ = toy
    other = write_toy_store(tmp_path / "other", n_train=8, n_val=0, num_queries=8, dim=32, text_dim=16, seed=5,
                            mask_shape=(8, 8))
    gen_other = _tiny_generator(other, tmp_path / "gen_other")
    from zs.errors import ProvenanceError

    with pytest.raises(ProvenanceError) as e:  # the entry point prints it as one 'error: ...' line
        _cli(["--store", store.url, "--method", "classifier", "--generator", gen_other, "--out", tmp_path / "h",
              "--device", "cpu", "--steps", 2])
    assert str(gen_other) in str(e.value) and store.url in str(e.value)
