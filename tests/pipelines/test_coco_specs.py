"""The semantic (COCO-Stuff) and instance (48/17) COCO specs: docs/coco.md's commands, run tiny.

Checkpoints: tiny random detectron2 Mask2Formers with the protocol's class count (171 / 65),
written with the conversion tests' helpers; CLIP: a tiny random open_clip weights file.
"""

import json
from pathlib import Path

import pytest
import torch
import yaml

from tests.convert.helpers import random_tiny_model, tiny_config_dict
from tests.pipelines.coco_layout import write_instances, write_stuff_label_maps
from tests.pipelines.doc_commands import doc_commands, run_in
from zs.pipelines.run import RunConfig, run

SMALL = {"gen_iterations": 20, "head_steps": 20}



def _d2_checkpoint(d: Path, num_classes: int) -> Path:
    from zs.extract.d2 import to_detectron2_state_dict

    d.mkdir()
    (d / "config.yaml").write_text(yaml.safe_dump(tiny_config_dict(num_classes=num_classes)))
    model, _ = random_tiny_model(seed=3, num_classes=num_classes)
    torch.save({"model": to_detectron2_state_dict(model.state_dict())}, d / "model_final.pth")
    return d


def _semantic_data(coco: Path) -> None:
    root = coco / "coco_stuff" / "annotations_detectron2"
    write_stuff_label_maps(coco / "train2017", root / "train2017", [[0, 95, 120], [3, 150], [60, 100, 155]], seed=1)
    write_stuff_label_maps(coco / "val2017", root / "val2017_all", [[0, 160, 95], [170, 3]], seed=2)


def _instance_data(coco: Path) -> None:
    from zs.extract.protocols import coco_zsi_48_17

    cats = [{"id": c.id, "name": c.name} for c in coco_zsi_48_17().categories]
    ann = coco / "annotations" / "ZSIS"
    write_instances(coco / "train2014", ann / "instances_train2014_seen_48_17.json",
                    [[(1, 0), (2, 0), (3, 1)], [(1, 0), (8, 0)], [(15, 0), (1, 0)]], cats, seed=1)
    write_instances(coco / "val2014", ann / "instances_val2014_gzsi_48_17.json",
                    [[(1, 0), (6, 0)], [(18, 0), (2, 0), (1, 1)]], cats, seed=2)


CASES = {"coco-semantic": ("coco-stuff-pading", _semantic_data, "CKPT_SEM", 171, "semantic"),
         "coco-instance": ("coco-zsi-pading", _instance_data, "CKPT_INS", 65, "instance")}


def _commands(case: str, tmp_path: Path, with_data: bool = True):
    spec, make_data, ckpt_var, k, task = CASES[case]
    from toyworld.extract_inputs import tiny_clip

    coco = tmp_path / "coco"
    if with_data:
        make_data(coco)
    clip_cfg, clip_w = tiny_clip(tmp_path / "clip", seed=0)
    variables = {"COCO": coco, "CLIP": clip_w, ckpt_var: tmp_path / "ckpt"}
    return spec, k, task, doc_commands(case, variables, {"clip_model": clip_cfg, **SMALL})


@pytest.mark.parametrize("case", sorted(CASES))
def test_spec_validates_with_the_documented_command(case, tmp_path):
    spec, _, _, commands = _commands(case, tmp_path, with_data=False)
    *prepare, run_args = commands
    assert run_args[:2] == ["run", spec] and len(prepare) == 2 and all(c[0] == "prepare" for c in prepare)
    sets = dict(run_args[i + 1].split("=", 1) for i, a in enumerate(run_args) if a == "--set")
    res = run(RunConfig(spec, str(tmp_path / "runs"), sets, dry_run=True, progress=False))
    assert {r.status for r in res.reports.values()} == {"planned"}
    names = set(res.reports)
    assert {"convert", "store", "text", "full", "report"} <= names and any(n.startswith("gen@") for n in names)


@pytest.mark.slow
@pytest.mark.parametrize("case", sorted(CASES))
def test_spec_runs_tiny_end_to_end(case, tmp_path):
    spec, k, task, commands = _commands(case, tmp_path)
    _d2_checkpoint(tmp_path / "ckpt", k)
    run_in(tmp_path, commands)
    out = tmp_path / "runs" / spec
    from zs.store import open_store

    stages = [json.loads(p.read_text()) for p in (out / "stages").glob("*/*/stage.json")]
    (store,) = [s for s in stages if s["stage_type"] == "extract"]
    st = open_store(store["result"]["store"])
    assert st.vocab.num_classes == k and len(st.vocab.unseen_indices) == {171: 15, 65: 17}[k]
    q = st.split("train").queries()
    assert (q["segment"] >= 0).any() and q[q["segment"] >= 0]["seen"].all()
    evals = [s for s in stages if s["stage_type"] == "evaluate"]
    assert len(evals) == 7  # six methods + the full-image pass
    for s in evals:
        metrics = json.loads((Path(s["result"]["run"]) / "metrics.json").read_text())
        assert task in metrics and "panoptic" not in metrics, s["stage"]
    assert (out / "report" / "report.html").is_file() and "full-image" in (out / "summary.txt").read_text()


def test_readme_panoptic_commands_are_the_documented_ones():
    """The README's COCO panoptic block is the docs/coco.md block the rehearsal runs."""
    readme = Path(__file__).resolve().parents[2] / "README.md"
    variables = {"COCO": "/c", "CKPT": "/k", "CLIP": "/clip.pt"}
    assert doc_commands("coco-panoptic", variables, doc=readme) == doc_commands("coco-panoptic", variables)
