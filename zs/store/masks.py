"""Compact validation masks: mask *logits* in an int16 asinh code (schema 2).

Mask2Former's panoptic inference gives every pixel to the argmax of
``score * sigmoid(logit)``, also where every mask is far below 0.5, and those
far-field wins decide which segments pass the overlap rule. So the store keeps
logits (not probabilities): fine near 0, where the mask >= 0.5 decisions are
taken, and coarser far away, where only the order of the queries matters::

    code  = round(B * asinh(logit / A))      int16 (A = 0.5, B = 64)
    logit = A * sinh(code / B)

The step is A/B = 1/128 at logit 0, ``hypot(A, l) / B`` at logit ``l``
(0.16 at |l| = 10, 0.47 at 30: a relative error of 1/128 in the far field);
|logit| up to ~1e4 fits without clamping. On disk: one zarr chunk per image
([1, Q, h, w]), zarr's own codecs ``Delta`` (along the row, so smooth masks
become small numbers) + ``Zstd``: a plain ``zarr.open_array`` returns the
codes, and the formula above (also in the array's attributes) gives logits.

Schema 1 stores (array ``mask_probs``: uint8 ``round(255 p)``) are still
read; their logits are ``logit(clamp(q / 255, 1e-4))``. Measured bytes per
image and agreement: ``benchmarks/bench_store.py``, ``tests/store/test_masks.py``.
"""

from __future__ import annotations

import warnings

import numpy as np

# zarr-python reads and writes numcodecs.delta; its "not in the zarr v3 spec" warning is noise here
warnings.filterwarnings("ignore", message="Numcodecs codecs are not in the Zarr version 3 specification")

MASK_ARRAY = "mask_logits"  # schema 2
LEGACY_MASK_ARRAY = "mask_probs"  # schema 1: uint8 probabilities
MASK_DTYPE = "int16"
CODE_A = 0.5  # logit scale of the fine region around 0
CODE_B = 64.0  # codes per unit of asinh: relative precision 1 / B far from 0
PROB_EPS = 1e-6  # probabilities handed to the writer -> logits, clamped to [eps, 1 - eps]
LEGACY_SCALE = 255
LEGACY_EPS = 1e-4  # schema-1 probabilities -> logits (as cached evaluation always did)
ZSTD_LEVEL = 9


def encode_logits(logits: np.ndarray) -> np.ndarray:
    """float mask logits -> int16 codes (same shape); NaN -> 0."""
    x = np.nan_to_num(np.asarray(logits, dtype=np.float32), nan=0.0, posinf=1e4, neginf=-1e4)
    codes = np.rint(CODE_B * np.arcsinh(x / CODE_A))
    return np.clip(codes, -32768, 32767).astype(np.int16)


def decode_logits(codes: np.ndarray) -> np.ndarray:
    """int16 codes -> float32 logits."""
    return (CODE_A * np.sinh(codes.astype(np.float32) / np.float32(CODE_B))).astype(np.float32, copy=False)


def probs_to_logits(probs: np.ndarray, eps: float = PROB_EPS) -> np.ndarray:
    """Probabilities in [0, 1] -> logits, clamped at ``eps`` (|logit| <= 13.8 for 1e-6)."""
    p = np.clip(np.nan_to_num(np.asarray(probs, dtype=np.float64), nan=0.0), eps, 1 - eps)
    return np.log(p / (1 - p)).astype(np.float32)


def sigmoid(logits: np.ndarray) -> np.ndarray:
    """float32 sigmoid, without overflow warnings for very negative logits."""
    x = np.asarray(logits, dtype=np.float32)
    return (0.5 * (1.0 + np.tanh(0.5 * x))).astype(np.float32, copy=False)


def quantize_probs(probs: np.ndarray) -> np.ndarray:
    """Schema 1: float probabilities in [0, 1] -> uint8 ``round(255 p)``."""
    p = np.clip(np.nan_to_num(probs, nan=0.0), 0.0, 1.0)
    return np.rint(p * LEGACY_SCALE).astype(np.uint8)


def dequantize_probs(q: np.ndarray) -> np.ndarray:
    """Schema 1: uint8 -> float32 probabilities."""
    return q.astype(np.float32) / LEGACY_SCALE


def legacy_logits(q: np.ndarray) -> np.ndarray:
    """Schema 1: uint8 probabilities -> float32 logits (clamped at ``LEGACY_EPS``)."""
    return probs_to_logits(dequantize_probs(q), LEGACY_EPS)


def mask_attributes() -> dict:
    """What a reader without zs needs to decode the array (stored in the zarr array's attributes)."""
    return {"encoding": "asinh-logit", "formula": "logit = A * sinh(code / B)", "A": CODE_A, "B": CODE_B}


def mask_codecs() -> dict:
    """``create_array`` keyword arguments: Delta along rows, then Zstd (both zarr built-ins)."""
    from zarr.codecs import ZstdCodec
    from zarr.codecs.numcodecs import Delta

    return {"filters": [Delta(dtype=MASK_DTYPE)], "compressors": [ZstdCodec(level=ZSTD_LEVEL)]}


def embed_compressors():
    from zarr.codecs import BloscCodec

    return [BloscCodec(cname="zstd", clevel=3, shuffle="shuffle", typesize=2)]
