"""detectron2's `!!python/object/apply:eval` in configs (Mask2Former/PADing COCO-Stuff) loads; code does not."""

import pytest

from zs.extract.d2.config import load_d2_config
from zs.extract.d2.errors import D2ConfigError

from tests.convert.helpers import write_tiny_config


def test_eval_tag_of_plain_arithmetic_is_evaluated(tmp_path):
    base = write_tiny_config(tmp_path)
    cfg = tmp_path / "stuff.yaml"
    cfg.write_text(f"_BASE_: {base}\nINPUT:\n  MIN_SIZE_TRAIN: !!python/object/apply:eval "
                   f"[\"[int(x * 0.1 * 640) for x in range(5, 16)]\"]\n")
    loaded = load_d2_config(cfg)
    assert loaded.get("INPUT.MIN_SIZE_TRAIN") == [int(x * 0.1 * 640) for x in range(5, 16)]


@pytest.mark.parametrize("expr", ["().__class__.__bases__", "__import__('os').getcwd()", "open('x')"])
def test_eval_tag_with_anything_else_is_a_one_line_error(tmp_path, expr):
    cfg = tmp_path / "bad.yaml"
    cfg.write_text(f"INPUT:\n  MIN_SIZE_TRAIN: !!python/object/apply:eval [\"{expr}\"]\n")
    with pytest.raises(D2ConfigError) as ei:
        load_d2_config(cfg)
    assert "\n" not in str(ei.value) and "not a plain arithmetic expression" in str(ei.value)
    assert str(cfg) in str(ei.value)
