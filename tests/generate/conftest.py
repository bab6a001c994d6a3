"""A tiny toy store shared by the generate tests (seen train split, text embeddings, seen head)."""

import pytest
import torch

torch.set_num_threads(1)

TOY = dict(n_train=48, n_val=0, num_queries=16, dim=32, text_dim=16, masks=False, clip=False, seed=0)


@pytest.fixture(scope="session")
def toy_store(tmp_path_factory):
    from toyworld.store import write_toy_store

    path = tmp_path_factory.mktemp("gen") / "store"
    write_toy_store(path, **TOY)
    return str(path)


def small_cfg(store, out, **kw):
    """A FitConfig small enough for CPU tests."""
    from zs.generate.config import FitConfig, GeneratorConfig

    arch = kw.pop("arch", {})
    base = dict(store=store, out=str(out), iterations=6, batch_images=4, batch_size=32, device="cpu",
                checkpoint_every=1000, generator=GeneratorConfig(num_primitives=32, **arch))
    base.update(kw)
    return FitConfig(**base)
