"""Faults of long jobs: a full disk while fit-generator checkpoints; a stale lock of another host."""

import errno
import json
from pathlib import Path

import torch

from faultkit import extract_args, refused, tree, zs

GEN = ["--kind", "gmmn", "--schedule", "two-stage", "--batch-images", "4", "--batch-size", "32",
       "--device", "cpu", "--no-progress", "--iterations", "6", "--checkpoint-every", "2"]


def test_disk_full_while_checkpointing_keeps_the_last_checkpoint_and_resumes(world, tmp_path, capsys,
                                                                            monkeypatch):
    ref = tmp_path / "ref"
    assert zs(["fit-generator", "--store", world["store"], "--out", ref, *GEN], capsys)[0] == 0
    out = tmp_path / "gen"
    real, calls = torch.save, {"n": 0}

    def full_disk_save(obj, f, *a, **k):  # the second checkpoint hits a full disk half way through
        calls["n"] += 1
        if calls["n"] == 2:
            Path(f).write_bytes(b"PK\x03\x04 half a checkpoint")
            raise OSError(errno.ENOSPC, "No space left on device")
        return real(obj, f, *a, **k)

    with monkeypatch.context() as m:
        m.setattr(torch, "save", full_disk_save)
        line = refused(["fit-generator", "--store", world["store"], "--out", out, *GEN], capsys,
                       f"disk full while writing checkpoint {out / 'checkpoint.pt'} (the previous one is intact)")
    assert "No space left on device" in line and line.endswith("rerun with --resume")
    assert sorted(p.name for p in out.iterdir()) == ["checkpoint.pt"]  # no half-written temp file
    assert torch.load(out / "checkpoint.pt", weights_only=False)["step"] == 2
    code, err, _ = zs(["fit-generator", "--store", world["store"], "--out", out, *GEN, "--resume"], capsys)
    assert code == 0, err
    a = torch.load(ref / "weights.pt", weights_only=True)
    b = torch.load(out / "weights.pt", weights_only=True)
    assert a.keys() == b.keys() and all(torch.equal(a[k], b[k]) for k in a)


def test_truncated_checkpoint_is_refused_and_kept(world, tmp_path, capsys):
    out = tmp_path / "gen"
    assert zs(["fit-generator", "--store", world["store"], "--out", out, *GEN, "--stop-after", "2"], capsys)[0] == 0
    ck = out / "checkpoint.pt"
    ck.write_bytes(ck.read_bytes()[: ck.stat().st_size // 2])
    before = tree(out)
    refused(["fit-generator", "--store", world["store"], "--out", out, *GEN, "--resume"], capsys, str(ck))
    assert tree(out) == before


def test_stale_lock_of_another_host_is_reported_not_broken(coco, tmp_path, capsys):
    store = tmp_path / "store"
    assert zs(extract_args(coco, store) + ["--limit", "2"], capsys)[0] == 0
    lock = store / "val" / "locks" / "all.lock"
    lock.parent.mkdir(exist_ok=True)
    lock.write_text(json.dumps({"pid": 999999, "host": "another-host.example", "time": "2026-01-01T00:00:00"}))
    before = tree(store)
    line = refused(extract_args(coco, store) + ["--limit", "2"], capsys, "lock all.lock", "pid 999999",
                   "another-host.example", f"zs store unlock {store} val")
    assert "being written by another writer" in line
    assert tree(store) == before  # the lock is still there, nothing else touched
    code, out_lines, out = zs(["store", "unlock", store, "val"], capsys)
    assert code == 0 and "all.lock" in out
    assert zs(extract_args(coco, store) + ["--limit", "2"], capsys)[0] == 0


def test_truncated_detectron2_checkpoint_is_one_line(reference_dir, tmp_path, capsys):
    """convert-checkpoint names a truncated .pth in one line (fixture A's config, its weights cut short)."""
    a = reference_dir / "d2-mask2former" / "A"
    ckpt = tmp_path / "model_final.pth"
    ckpt.write_bytes((a / "model_final.pth").read_bytes()[:4096])
    before = tree(tmp_path)
    refused(["convert-checkpoint", "--from", "detectron2", "--config", a / "config.yaml", ckpt, tmp_path / "seg"],
            capsys, str(ckpt), "truncated or corrupt")
    assert tree(tmp_path) == before
