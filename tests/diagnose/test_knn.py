"""FAISS index vs numpy brute force: identical neighbours (CPU; GPU when present)."""

import numpy as np
import pytest

from zs.errors import ZsError
from zs.evaluate.diagnose.knn import KnnIndex, brute_force_knn, faiss_gpu_available, l2_normalize, neighbours_match


def _data(n=3000, m=500, d=64, seed=0):
    rng = np.random.default_rng(seed)
    return rng.normal(size=(n, d)).astype(np.float32), rng.normal(size=(m, d)).astype(np.float32)


def test_cpu_index_matches_brute_force():
    base, queries = _data()
    sims_f, idx_f = KnnIndex(base, device="cpu").search(queries, 10)
    sims_b, idx_b = brute_force_knn(base, queries, 10)
    assert idx_f.shape == idx_b.shape == (500, 10)
    ok = neighbours_match(idx_f, sims_f, idx_b, sims_b, tol=1e-5)
    assert ok.all(), f"{(~ok).sum()} neighbours differ beyond float32 ties"
    assert (idx_f == idx_b).mean() > 0.999
    np.testing.assert_allclose(sims_f, sims_b, atol=1e-5)
    # similarities are cosines, descending
    assert (np.diff(sims_f, axis=1) <= 1e-7).all()
    exact = l2_normalize(queries[:3]) @ l2_normalize(base[idx_f[:3, 0]]).T
    np.testing.assert_allclose(sims_f[:3, 0], np.diag(exact), atol=1e-5)


def test_cosine_ignores_scale_and_k_is_clamped():
    base, queries = _data(n=20, m=4, d=8)
    s1, i1 = KnnIndex(base).search(queries, 50)
    s2, i2 = KnnIndex(base * 7.0).search(queries * 0.1, 50)
    assert i1.shape == (4, 20)
    np.testing.assert_array_equal(i1, i2)
    np.testing.assert_allclose(s1, s2, atol=1e-6)


def test_bad_shapes_are_zs_errors():
    base, queries = _data(n=10, m=3, d=8)
    index = KnnIndex(base)
    with pytest.raises(ZsError, match="queries has shape"):
        index.search(queries[:, :4], 3)
    with pytest.raises(ZsError, match="base has shape"):
        KnnIndex(base[0])


def test_cuda_request_without_faiss_gpu_falls_back_to_cpu():
    if faiss_gpu_available():
        pytest.skip("faiss-gpu present: the fallback path is not taken")
    base, queries = _data(n=100, m=10, d=16)
    index = KnnIndex(base, device="cuda")
    assert index.backend == "faiss-cpu"
    np.testing.assert_array_equal(index.search(queries, 5)[1], KnnIndex(base).search(queries, 5)[1])


def test_k_over_the_gpu_limit_searches_the_cpu_index():
    """faiss-gpu's flat search takes k <= 2048; a larger k must use the CPU copy (same results)."""
    from zs.evaluate.diagnose.knn import GPU_MAX_K

    class GpuStandIn:  # what index_cpu_to_gpu returns, as far as search goes
        def __init__(self, cpu):
            self.cpu = cpu

        def search(self, x, k):
            assert k <= GPU_MAX_K, f"GPU index only supports min/max-K selection up to {GPU_MAX_K} (requested {k})"
            return self.cpu.search(x, k)

    base, queries = _data(n=GPU_MAX_K + 100, m=4, d=8)
    index = KnnIndex(base)
    index.index = GpuStandIn(index.cpu_index)
    want = KnnIndex(base).search(queries, GPU_MAX_K + 50)[1]
    np.testing.assert_array_equal(index.search(queries, GPU_MAX_K + 50)[1], want)
    np.testing.assert_array_equal(index.search(queries, 10)[1], want[:, :10])


@pytest.mark.gpu
def test_gpu_index_matches_cpu():
    if not faiss_gpu_available():
        pytest.skip("no CUDA device with faiss-gpu")
    base, queries = _data()
    gpu = KnnIndex(base, device="cuda")
    assert gpu.backend == "faiss-gpu"
    sims_g, idx_g = gpu.search(queries, 10)
    sims_c, idx_c = KnnIndex(base, device="cpu").search(queries, 10)
    assert neighbours_match(idx_g, sims_g, idx_c, sims_c, tol=1e-5).all()
    assert (idx_g == idx_c).mean() > 0.999
