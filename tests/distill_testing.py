"""Helpers shared by the test_distill_* files (importable like tiny_clip)."""

from __future__ import annotations

import numpy as np
import pytest
import torch


@pytest.fixture(autouse=True)
def one_thread():
    """One intra-op thread: these nets are tiny, and on a shared 2-core box extra threads
    only wait on each other (results are the same either way)."""
    before = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(before)


def unit_rows(n: int, d: int, seed: int = 0) -> np.ndarray:
    """``n`` random unit vectors of size ``d``: stand-in teacher embeddings."""
    x = np.random.default_rng(seed).normal(size=(n, d)).astype(np.float32)
    return x / np.linalg.norm(x, axis=1, keepdims=True)
