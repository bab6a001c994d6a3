"""Shared fixtures: one tiny evaluation world (segmenter, images, head, store) per test session."""

import types

import pytest
import torch

import evalworld as world

N_IMAGES = 6


@pytest.fixture(scope="session")
def eval_world(tmp_path_factory):
    from zs.extract.datasets import CocoPanoptic
    from zs.extract.segmenter import load_segmenter
    from toyworld.extract_inputs import tiny_segmenter_dir, write_tiny_coco_panoptic

    torch.set_num_threads(1)
    root = tmp_path_factory.mktemp("eval_world")
    images, json_path, png = write_tiny_coco_panoptic(root / "data", N_IMAGES, seed=3)
    vocab = world.make_vocab(json_path)
    vocab.save(root / "data" / "vocab.json")
    seg_dir = tiny_segmenter_dir(root / "segmenter", num_labels=vocab.num_classes, seed=1)
    world.sharpen_segmenter_masks(seg_dir)
    segmenter = load_segmenter(seg_dir)
    head = world.make_head(segmenter, vocab, out_dir=root / "head")
    dataset = CocoPanoptic(images, json_path, png)
    store = world.extract_store(root / "store", seg_dir, images, json_path, png, root / "data" / "vocab.json")
    return types.SimpleNamespace(root=root, images=images, json=json_path, png=png, vocab=vocab,
                                 segmenter=segmenter, seg_dir=seg_dir, head=head, head_dir=root / "head",
                                 dataset=dataset, store=store)
