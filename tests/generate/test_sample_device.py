"""Sampling draws its noise with a CPU generator, then moves it: one seed, one stream on any device."""

import numpy as np
import torch

from tests.generate.conftest import small_cfg
from zs.adapt.classifier import draw_unseen_classes
from zs.generate import sample as sample_mod
from zs.generate.artifact import load_generator
from zs.generate.train import fit_generator


def test_sample_uses_a_cpu_generator_and_is_reproducible(toy_store, tmp_path, monkeypatch):
    gen_dir = fit_generator(small_cfg(toy_store, tmp_path / "g", iterations=2))
    seen_devices = []
    real_load = sample_mod.load_generator

    def spy_load(path, device):
        gen = real_load(path, device)
        real_sample = gen.sample

        def sample(ids, n, generator=None):
            seen_devices.append(generator.device.type)
            return real_sample(ids, n, generator=generator)

        gen.sample = sample
        return gen

    monkeypatch.setattr(sample_mod, "load_generator", spy_load)
    a = np.load(sample_mod.sample_to_file(gen_dir, "all", 3, tmp_path / "a.npz", seed=5, device="cpu"))
    b = np.load(sample_mod.sample_to_file(gen_dir, "all", 3, tmp_path / "b.npz", seed=5, device="cpu"))
    c = np.load(sample_mod.sample_to_file(gen_dir, "all", 3, tmp_path / "c.npz", seed=6, device="cpu"))
    assert seen_devices == ["cpu"] * 3
    assert np.array_equal(a["features"], b["features"]) and not np.array_equal(a["features"], c["features"])
    gen = load_generator(gen_dir, torch.device("cpu"))
    direct = gen.sample(torch.as_tensor(a["labels"][::3]), 3, generator=torch.Generator().manual_seed(5))
    assert np.array_equal(direct.numpy(), a["features"])


def test_unseen_class_draws_come_from_the_cpu_and_move_to_the_ids_device():
    unseen = torch.arange(10, 20)
    a = draw_unseen_classes(unseen, 4, torch.Generator().manual_seed(1))
    b = draw_unseen_classes(unseen, 4, torch.Generator().manual_seed(1))
    assert torch.equal(a, b) and len(set(a.tolist())) == 4
    on_meta = draw_unseen_classes(unseen.to("meta"), 30, torch.Generator().manual_seed(1))  # with replacement
    assert on_meta.device.type == "meta" and on_meta.shape == (30,)
