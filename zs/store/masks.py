"""Compact validation masks: sigmoid probabilities quantised to uint8.

``q = round(255 * p)``; decoding gives ``q / 255`` (error <= 1/510, i.e. a
resolution of 1/255). The zarr array holds one chunk per image
([1, Q, h, w] uint8) compressed with Blosc zstd + bitshuffle: near-empty
queries (p < 1/510 everywhere -> all zeros) and the flat insides of confident
masks cost almost nothing, so only the soft borders take space. Measured
bytes per image on realistic masks: ``benchmarks/bench_store.py``.
"""

from __future__ import annotations

import numpy as np

MASK_SCALE = 255


def quantize_probs(probs: np.ndarray) -> np.ndarray:
    """float probabilities in [0, 1] -> uint8 (same shape)."""
    p = np.clip(np.nan_to_num(probs, nan=0.0), 0.0, 1.0)
    return np.rint(p * MASK_SCALE).astype(np.uint8)


def dequantize_probs(q: np.ndarray) -> np.ndarray:
    """uint8 -> float32 probabilities."""
    return q.astype(np.float32) / MASK_SCALE


def mask_compressors():
    """Codec chain for the mask array (bitshuffle puts the mostly-zero high bits together)."""
    from zarr.codecs import BloscCodec

    return [BloscCodec(cname="zstd", clevel=5, shuffle="bitshuffle", typesize=1)]


def embed_compressors():
    from zarr.codecs import BloscCodec

    return [BloscCodec(cname="zstd", clevel=3, shuffle="shuffle", typesize=2)]
