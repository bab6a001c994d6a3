"""On a GPU host (ZS_TEST_GPU=1): `zs segment --device cuda` reproduces fixture A and the CPU path.

The precision policy (no TF32) is what keeps CUDA within the fixture tolerances: cuDNN's
default TF32 convolutions drift by ~1e-3.
"""

from __future__ import annotations

import numpy as np
import pytest
import torch

from tests.convert.helpers import ref
from tests.convert.test_fixture_a import ATOL_EMBED, ATOL_LOGITS, ATOL_MASKS

pytestmark = pytest.mark.gpu


def _segment(converted_a, fixture_a, tmp_path, i, device):
    from click.testing import CliRunner

    from zs.cli import cli

    path = tmp_path / f"img{i}-{device}.npz"
    r = CliRunner().invoke(cli, ["segment", "--segmenter", str(converted_a), "--image",
                                 str(fixture_a / "images" / f"img{i}.png"), "--no-resize", "--out", str(path),
                                 "--device", device])
    assert r.exit_code == 0, r.output + repr(r.exception)
    return dict(np.load(path))


@pytest.mark.parametrize("i", [0, 1])
def test_cuda_segment_matches_fixture_and_cpu(converted_a, fixture_a, tmp_path, i):
    gpu = _segment(converted_a, fixture_a, tmp_path, i, "cuda")
    cpu = _segment(converted_a, fixture_a, tmp_path, i, "cpu")
    assert not torch.backends.cudnn.allow_tf32 and not torch.backends.cuda.matmul.allow_tf32
    np.testing.assert_allclose(gpu["class_logits"], ref(fixture_a, f"img{i}_pred_logits"), atol=ATOL_LOGITS, rtol=0)
    np.testing.assert_allclose(gpu["mask_logits"], ref(fixture_a, f"img{i}_pred_masks"), atol=ATOL_MASKS, rtol=0)
    np.testing.assert_allclose(gpu["query_embed"], ref(fixture_a, f"img{i}_decoder_embedding"), atol=ATOL_EMBED,
                               rtol=0)
    for k in ("class_logits", "mask_logits", "query_embed"):  # full fp32 on both: far inside the fixture tolerance
        diff = float(np.abs(gpu[k] - cpu[k]).max())
        print(f"img{i} {k}: max |cuda - cpu| = {diff:.2e}")
        assert diff < 2e-4, (k, diff)
    assert (gpu["panoptic_seg"] == cpu["panoptic_seg"]).mean() >= 0.999
