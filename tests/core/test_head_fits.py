"""One owner of "does this head fit?" and of the head manifest's shape (zs.heads)."""

import pytest

from zs.errors import ProvenanceError
from zs.heads import (HeadConfig, HeadTarget, build_head, check_head_fits, head_manifest, load_head,
                      make_head_manifest, save_head)
from zs.manifest import write_json_atomic


def _head_dir(tmp_path, **fields):
    cfg = HeadConfig(kind="linear", query_dim=8, num_classes=3, seen=[True, True, False],
                     vocab_sha256="v" * 64, segmenter_sha256="s" * 64, method="seen-only", **fields)
    return save_head(build_head(cfg), tmp_path / "h", make_head_manifest(cfg, seed=1))


FITS = HeadTarget(8, 3, "v" * 64, "s" * 64)


@pytest.mark.parametrize("target, needle", [
    (HeadTarget(16, 3, "v" * 64, "s" * 64), "expects query dim 8, store S has 16"),
    (HeadTarget(8, 4, "v" * 64, "s" * 64), "has 3 classes, store S has 4"),
    (HeadTarget(8, 3, "w" * 64, "s" * 64), "vocabulary vvvvvvvvvvvv differs from the vocabulary wwwwwwwwwwww of store S"),
    (HeadTarget(8, 3, "v" * 64, "t" * 64), "was fitted on segmenter ssssssssssss, store S comes from segmenter tttt"),
])
def test_mismatch_is_one_line_naming_the_head_and_the_target(tmp_path, target, needle):
    path = _head_dir(tmp_path)
    for head in (load_head(path), path):  # a loaded head and a head directory name the same file
        with pytest.raises(ProvenanceError) as e:
            check_head_fits(head, target, where="store S")
        msg = str(e.value)
        assert needle in msg and f"head {path}" in msg and "\n" not in msg
    check_head_fits(load_head(path), FITS, where="store S")


def test_unknown_identity_fields_are_not_compared(tmp_path):
    head = load_head(_head_dir(tmp_path))
    check_head_fits(head, HeadTarget(0, 3), where="store S")
    check_head_fits(head.cfg, HeadTarget(8, 3, "", ""), where="store S")


def test_store_identity_is_a_head_target(tmp_path):
    from toyworld.store import write_toy_store

    store = write_toy_store(tmp_path / "s", n_train=4, n_val=0, num_queries=4, dim=8, text_dim=16, masks=False,
                            clip=False)
    ident = store.identity
    assert ident.segmenter_sha256 == store.manifest["segmenter"]["sha256"] and ident.clip is None
    assert ident.query_dim == 8 and ident.num_classes == store.vocab.num_classes
    assert ident.vocab_sha256 == store.vocab.sha256 and ident.store_sha256 == store.sha256
    check_head_fits(store.seen_head_path, ident, where=f"store {store.url}")
    with pytest.raises(ProvenanceError, match="query dim"):
        check_head_fits(HeadConfig(kind="linear", query_dim=9, num_classes=ident.num_classes,
                                   seen=[True] * ident.num_classes), ident, where="store")


def test_head_manifest_one_shape_and_old_shapes_read_alike(tmp_path):
    path = _head_dir(tmp_path)
    m = head_manifest(path)
    assert m["kind"] == "zs-head" and m["method"] == "seen-only" and m["head"] == {"kind": "linear", "gamma": 0.0}
    assert m["inputs"] == {} and m["seed"] == 1
    old = {"kind": "zs-head", "config": {"kind": "linear", "gamma": 0.0, "method": "pading"},
           "inputs": {"store": "abc", "generator": "/gen"}}
    write_json_atomic(path / "manifest.json", old)
    m = head_manifest(path)
    assert m["inputs"] == {"store": {"sha256": "abc"}, "generator": {"path": "/gen"}}
    assert m["method"] == "pading" and m["head"] == {"kind": "linear", "gamma": 0.0}
    write_json_atomic(path / "manifest.json", {"kind": "zs-head", "generator": {"path": "g"}})
    assert head_manifest(path)["inputs"]["generator"] == {"path": "g"}
    assert head_manifest(tmp_path / "nothing", missing_ok=True) == {}
