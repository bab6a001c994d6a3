"""Fixtures of the extract tests: a tiny segmenter, tiny CLIP and a tiny COCO panoptic set."""

import pytest
import torch

torch.set_num_threads(1)


@pytest.fixture(scope="session")
def tiny_seg_dir(tmp_path_factory):
    from toyworld.extract_inputs import TINY_CATEGORIES, tiny_segmenter_dir

    return tiny_segmenter_dir(tmp_path_factory.mktemp("seg") / "seg", len(TINY_CATEGORIES), seed=0, image_size=64)


@pytest.fixture(scope="session")
def tiny_segmenter(tiny_seg_dir):
    from zs.extract.segmenter import load_segmenter

    return load_segmenter(tiny_seg_dir)


@pytest.fixture(scope="session")
def tiny_clip_paths(tmp_path_factory):
    from toyworld.extract_inputs import tiny_clip

    return tiny_clip(tmp_path_factory.mktemp("clip"), seed=0)


@pytest.fixture(scope="session")
def tiny_coco(tmp_path_factory):
    from toyworld.extract_inputs import write_tiny_coco_panoptic

    return write_tiny_coco_panoptic(tmp_path_factory.mktemp("coco"), 6, seed=1)
