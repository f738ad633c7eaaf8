"""Unit vectors: the one L2 normalisation every embedding goes through.

CLIP compares embeddings by cosine similarity, so every embedding, class prototype and
student output is put on the unit sphere, and prototypes averaged from several prompts are
put back on it. ``eps`` keeps an all-zero row at zero instead of dividing by zero.
"""

from __future__ import annotations

import numpy as np

__all__ = ["l2_normalize", "cosine_rows"]


def l2_normalize(x: np.ndarray, axis: int = -1, eps: float = 1e-12,
                 dtype: type = np.float32) -> np.ndarray:
    """``x`` scaled to unit L2 norm along ``axis``, as ``dtype`` (a new array)."""
    x = np.asarray(x, dtype=dtype)
    return x / np.maximum(np.linalg.norm(x, axis=axis, keepdims=True), eps)


def cosine_rows(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """Cosine similarity of each row of ``a`` with the same row of ``b``: shape (N,), in
    float64 (a mean over many rows should not lose digits)."""
    return np.sum(l2_normalize(a, dtype=np.float64) * l2_normalize(b, dtype=np.float64), axis=-1)
