"""Fixtures of the fault suite: one tiny toy store, generator and head per session; copies per test."""

import shutil

import pytest
import torch

torch.set_num_threads(1)


@pytest.fixture(scope="session")
def world(tmp_path_factory):
    """root/store (train 24 + val 8 images with masks), root/gen (two-stage gmmn), store seen head."""
    from zs.generate import FitConfig, fit_generator
    from toyworld.store import write_toy_store

    root = tmp_path_factory.mktemp("faults")
    store = write_toy_store(root / "store", n_train=24, n_val=8, num_queries=8, dim=32, text_dim=16, seed=0,
                            mask_shape=(8, 8), chunk_images=8)
    fit_generator(FitConfig(store=str(root / "store"), out=str(root / "gen"), kind="gmmn", schedule="two-stage",
                            iterations=3, batch_images=4, batch_size=32, device="cpu", progress=False))
    return {"root": root, "store": root / "store", "gen": root / "gen", "head": store.seen_head_path}


@pytest.fixture()
def store(world, tmp_path):
    """A private copy of the toy store (tests may poison it)."""
    return shutil.copytree(world["store"], tmp_path / "store")


@pytest.fixture(scope="session")
def coco(tmp_path_factory):
    """A tiny COCO panoptic set (6 images) and a tiny segmenter at 128 px, where batch size moves values."""
    from toyworld.extract_inputs import tiny_segmenter_dir, write_tiny_coco_panoptic

    root = tmp_path_factory.mktemp("coco")
    images, json_path, png = write_tiny_coco_panoptic(root / "data", 6, seed=1)
    seg = tiny_segmenter_dir(root / "seg", 5, seed=0, image_size=128)
    return {"root": root, "images": images, "json": json_path, "png": png, "seg": seg}

