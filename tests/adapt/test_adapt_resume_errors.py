"""zs adapt: resume equals uninterrupted, bad input gives clear errors, the CLI."""

import pytest
import torch

from toyworld.adapt import make_adapt_store, other_vocab
from zs.adapt import AdaptConfig, adapt
from zs.errors import ConfigError, ProvenanceError, ZsError
from zs.heads import load_head

torch.set_num_threads(1)


@pytest.fixture(scope="module")
def world(tmp_path_factory):
    root = tmp_path_factory.mktemp("adapt_resume")
    store, gen = make_adapt_store(root / "store", n_train=30, n_val=10)
    return root, store, gen


@pytest.mark.parametrize("method", ["classifier", "v2c", "cpa"])
def test_resume_equals_uninterrupted(world, method, caplog):
    root, store, gen = world
    kw = dict(store=store, method=method, generator=gen if method != "v2c" else None, steps=12,
              images_per_batch=4, device="cpu", seed=3, checkpoint_every=5)
    full = load_head(adapt(AdaptConfig(out=root / f"{method}_full", **kw)))
    out = root / f"{method}_resumed"
    adapt(AdaptConfig(out=out, stop_after=7, **kw))  # 30 images / 4 per batch: crosses an epoch
    assert (out / "checkpoint.pt").is_file() and not (out / "weights.pt").exists()
    with caplog.at_level("INFO", logger="zs.adapt.loop"):
        resumed = load_head(adapt(AdaptConfig(out=out, **kw)))
    assert "at step 7" in caplog.text  # it did continue, not start over
    assert not (out / "checkpoint.pt").exists()
    for k, v in full.state_dict().items():
        assert torch.equal(v, resumed.state_dict()[k]), k


def test_resume_refuses_other_settings(world):
    root, store, gen = world
    kw = dict(store=store, method="classifier", generator=gen, images_per_batch=4, device="cpu")
    adapt(AdaptConfig(out=root / "other", steps=10, stop_after=3, **kw))
    with pytest.raises(ConfigError, match="other settings"):
        adapt(AdaptConfig(out=root / "other", steps=10, seed=9, **kw))
    adapt(AdaptConfig(out=root / "other", steps=4, seed=9, resume=False, **kw))  # --no-resume starts over


def test_head_for_another_vocabulary_is_refused(world, tmp_path):
    root, store, gen = world
    other, _ = make_adapt_store(tmp_path / "other", vocab=other_vocab(), n_train=4, n_val=2)
    with pytest.raises(ProvenanceError) as e:
        adapt(AdaptConfig(store=store, method="classifier", generator=gen, init_head=other.seen_head_path,
                          out=tmp_path / "h", steps=2, device="cpu"))
    msg = str(e.value)
    assert other.seen_head_path in msg and str(store.url) in msg
    assert other.vocab.sha256[:12] in msg and store.vocab.sha256[:12] in msg


def test_v2t_without_clip_tokens_is_refused(tmp_path):
    store, _ = make_adapt_store(tmp_path / "noclip", clip=False, n_train=6, n_val=2)
    with pytest.raises(ZsError, match="needs CLIP tokens.*noclip"):
        adapt(AdaptConfig(store=store, method="v2c", out=tmp_path / "h", steps=2, device="cpu"))
    from zs.adapt import ProjectorParams

    adapt(AdaptConfig(store=store, method="v2c", out=tmp_path / "h2", steps=2, device="cpu",
                      projector=ProjectorParams(v2t=False, instance=False)))


def test_v2t_with_clip_in_another_space_is_refused(tmp_path):
    store, _ = make_adapt_store(tmp_path / "dims", n_train=6, n_val=2)
    store.manifest["clip"]["dim"] = 512
    with pytest.raises(ZsError, match="dim 512.*dim 16"):
        adapt(AdaptConfig(store=store, method="v2c", out=tmp_path / "h", steps=2, device="cpu"))


def test_missing_generator_and_bad_options(world, tmp_path):
    store = world[1]
    with pytest.raises(ConfigError, match="needs --generator"):
        adapt(AdaptConfig(store=store, method="classifier", out=tmp_path / "h", device="cpu"))
    with pytest.raises(ConfigError, match="--gamma 'high'"):
        AdaptConfig(store=store, method="classifier", out=tmp_path / "h", gamma="high")
    with pytest.raises(ConfigError, match="--method 'pading'"):
        AdaptConfig(store=store, method="pading", out=tmp_path / "h")


def test_cli_help_and_error_line(tmp_path):
    from click.testing import CliRunner

    from zs.cli import cli, main

    r = CliRunner().invoke(cli, ["adapt", "--help"])
    assert r.exit_code == 0 and "--method" in r.output and "--gamma" in r.output and "--no-v2t" in r.output
    with pytest.raises(SystemExit) as e:
        main(["adapt", "--store", str(tmp_path / "nope"), "--method", "seen-only", "--out", str(tmp_path / "o")])
    assert e.value.code == 2


def test_cli_module_imports_no_torch():
    import subprocess
    import sys

    code = "import sys, zs.adapt.cli; print('torch' in sys.modules)"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout
    assert out.strip() == "False"
