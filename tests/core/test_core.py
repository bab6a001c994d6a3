import json
import subprocess
import sys

import pytest
import torch

from zs.errors import ProvenanceError, ZsError
from zs.heads import HeadConfig, HeadTarget, build_head, check_head_fits, load_head, save_head
from zs.manifest import hash_obj, make_manifest, sha256_file, write_json_atomic
from zs.vocab import PADING_UNSEEN_IDS, Vocabulary, read_class_list


def _vocab():
    cats = [{"id": 1, "name": "a", "isthing": 1}, {"id": 5, "name": "b", "isthing": 0},
            {"id": 7, "name": "c", "isthing": 1}]
    return Vocabulary.from_coco_categories(cats, unseen=[7], name="t")


def test_vocab_indices_and_roundtrip(tmp_path):
    v = _vocab()
    assert v.num_classes == 3 and v.no_object == 3
    assert v.index_of_id(5) == 1 and v.seen_indices == [0, 1] and v.unseen_indices == [2]
    assert v.thing_indices == [0, 2]
    v.save(tmp_path / "v.json")
    w = Vocabulary.load(tmp_path / "v.json")
    assert w == v and w.sha256 == v.sha256
    with pytest.raises(ZsError, match="category id 9"):
        v.index_of_id(9)
    with pytest.raises(ZsError, match="unseen classes not in"):
        Vocabulary.from_coco_categories([{"id": 1, "name": "a"}], unseen=["zz"])
    assert len(PADING_UNSEEN_IDS) == 14


def test_class_list(tmp_path):
    p = tmp_path / "u.txt"
    p.write_text("# unseen\n21\ncow\n\n")
    assert read_class_list(p) == ["21", "cow"]


def test_manifest_helpers(tmp_path):
    p = tmp_path / "f.bin"
    p.write_bytes(b"abc")
    assert sha256_file(p) == "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad"
    assert hash_obj({"a": 1, "b": 2}) == hash_obj({"b": 2, "a": 1})
    m = make_manifest("x", config={"lr": 1}, inputs={"store": "abc"}, seed=3)
    write_json_atomic(tmp_path / "m.json", m)
    assert json.loads((tmp_path / "m.json").read_text())["seed"] == 3


@pytest.mark.parametrize("kind", ["linear", "projector"])
def test_head_roundtrip_and_calibration(tmp_path, kind):
    torch.manual_seed(0)
    cfg = HeadConfig(kind=kind, query_dim=8, num_classes=3, seen=[True, True, False], text_dim=4,
                     vocab_sha256="v1", segmenter_sha256="s1")
    head = build_head(cfg, torch.randn(3, 4) if kind == "projector" else None)
    x = torch.randn(5, 8)
    before = head(x)
    assert before.shape == (5, 4)
    save_head(head, tmp_path / "h", {"kind": "head"})
    loaded = load_head(tmp_path / "h")
    torch.testing.assert_close(loaded(x), before)
    loaded.cfg.gamma = 0.5
    shifted = loaded(x)
    torch.testing.assert_close(shifted[:, :2], before[:, :2] - 0.5)
    torch.testing.assert_close(shifted[:, 2:], before[:, 2:])
    with pytest.raises(ProvenanceError, match="vocabulary"):
        check_head_fits(loaded, HeadTarget(8, 3, "v2", "s1"), where="store S")
    with pytest.raises(ProvenanceError, match="query dim"):
        check_head_fits(loaded, HeadTarget(16, 3, "v1", "s1"), where="store S")


def test_load_head_rejects_non_head(tmp_path):
    with pytest.raises(ZsError, match="not a zs head"):
        load_head(tmp_path)


def test_cli_help_lists_and_version():
    out = subprocess.run([sys.executable, "-m", "zs.cli", "--help"], capture_output=True, text=True)
    assert out.returncode == 0 and "zs: zero-shot segmentation" in out.stdout
    out = subprocess.run([sys.executable, "-m", "zs.cli", "--version"], capture_output=True, text=True)
    assert "zs, version" in out.stdout


def test_cli_does_not_import_torch():
    code = "import sys, zs.cli; print('torch' in sys.modules)"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True)
    assert out.stdout.strip() == "False", out.stderr
