"""`zs store info` on a 133-class store: a compact summary, every class behind --per-class / --json."""

import json

from zs.extract.d2.coco_categories import COCO_PANOPTIC_CATEGORIES
from toyworld.store import write_toy_store
from zs.vocab import PADING_UNSEEN_IDS, Vocabulary


def _cli(args):
    from click.testing import CliRunner

    from zs.cli import cli

    return CliRunner().invoke(cli, [str(a) for a in args])


def test_store_info_compact_on_133_classes(tmp_path):
    vocab = Vocabulary.from_coco_categories(COCO_PANOPTIC_CATEGORIES, unseen=PADING_UNSEEN_IDS, name="coco")
    assert vocab.num_classes == 133
    write_toy_store(tmp_path / "s", vocab=vocab, n_train=6, n_val=4, masks=False, clip=False, num_queries=8)
    compact = _cli(["store", "info", tmp_path / "s"])
    assert compact.exit_code == 0, compact.output
    lines = compact.output.splitlines()
    assert len(lines) <= 20 and max(len(line) for line in lines) <= 200  # fits a terminal, whatever K is
    assert sum(line.strip().startswith("most matched:") for line in lines) == 2  # one per split
    assert "--per-class" in lines[-1]
    info = json.loads(_cli(["store", "info", tmp_path / "s", "--json"]).output)
    per = info["splits"]["val"]["matched_per_class"]
    assert len(per) == 133
    top = sorted(per, key=lambda k: (-per[k], k))[0]  # most matched, ties by name
    val_line = next(line for line in lines[lines.index(next(x for x in lines if x.startswith("split val"))):]
                    if "most matched:" in line)
    assert f"{top}{'*' if top in info['unseen_names'] else ''} {per[top]}" in val_line
    full = _cli(["store", "info", tmp_path / "s", "--per-class"]).output
    for name in vocab.names:
        assert name in full
    assert len(full.splitlines()) > 2 * 133
