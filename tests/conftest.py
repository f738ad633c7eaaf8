"""Shared fixtures. Tests never touch the network: the hub is switched off for all of them."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")

REPO = Path(__file__).resolve().parents[1]
SHARED_DATA = Path(os.environ.get("CLIPDISTILL_SHARED_DATA", REPO.parent / "shared" / "data"))


@pytest.fixture(scope="session")
def repo_root() -> Path:
    return REPO


@pytest.fixture(scope="session")
def shared_data() -> Path:
    """The real images in ../shared/data (see its README); tests needing them skip without."""
    if not (SHARED_DATA / "PetImages").is_dir():
        pytest.skip(f"no shared data at {SHARED_DATA}")
    return SHARED_DATA
