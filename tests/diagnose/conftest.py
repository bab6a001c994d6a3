"""A toy store with enough unseen validation queries, and stand-in generators."""

import numpy as np
import pytest
import torch

torch.set_num_threads(1)

TOY = dict(n_train=16, n_val=160, num_queries=12, dim=32, text_dim=16, masks=False, clip=False, seed=0)


@pytest.fixture(scope="session")
def toy_store(tmp_path_factory):
    from toyworld.store import write_toy_store

    return write_toy_store(tmp_path_factory.mktemp("diag") / "store", **TOY)


@pytest.fixture(scope="session")
def real_features(toy_store):
    from zs.evaluate.diagnose.data import load_real_features

    return load_real_features(toy_store, "val")


class GaussianGenerator:
    """Samples each class from N(mean, cov) estimated on the real features (a perfect generator);
    ``swap`` maps a class to another class's distribution."""

    def __init__(self, feats, labels, swap=None):
        self.stats = {}
        for c in np.unique(labels):
            x = feats[labels == c].astype(np.float64)
            cov = np.cov(x, rowvar=False) + 1e-6 * np.eye(x.shape[1])
            self.stats[int(c)] = (x.mean(0), np.linalg.cholesky(cov))
        self.swap = dict(swap or {})

    def sample(self, class_ids, n=1, generator=None):
        seed = int(torch.randint(0, 2**31 - 1, (1,), generator=generator))
        rng = np.random.default_rng(seed)
        out = []
        for c in torch.as_tensor(class_ids).tolist():
            mean, chol = self.stats[self.swap.get(c, c)]
            out.append(mean + rng.normal(size=(n, len(mean))) @ chol.T)  # [n, D]
        return torch.from_numpy(np.concatenate(out).astype(np.float32))
