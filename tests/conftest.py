"""Shared fixtures. Tests never touch the network: the hub is switched off for all of them."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")
for _name in ("CLIPDISTILL_PROFILE", "CLIPDISTILL_DATA_ROOT"):  # `make lab`'s, for its kernels only
    os.environ.pop(_name, None)

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


@pytest.fixture(scope="session")
def smoke_book(tmp_path_factory) -> Path:
    """Execute every real chapter in `smoke` and build the book strictly, once per session.

    Runs in a copy of the project skeleton so the developer's book/ and results/ stay
    untouched. Uses ../shared/data when present, else the chapters' generated data.
    Set CLIPDISTILL_SMOKE_BOOK to an already built copy to skip the run while iterating.
    """
    import shutil

    from clipdistill.book import build_book
    from clipdistill.runner import run_chapters

    reuse = os.environ.get("CLIPDISTILL_SMOKE_BOOK")
    if reuse:
        return Path(reuse)
    root = tmp_path_factory.mktemp("smoke_book")
    for name in ("_config.yml", "_toc.yml"):
        shutil.copy(REPO / name, root / name)
    shutil.copytree(REPO / "book", root / "book", ignore=shutil.ignore_patterns("chapters", "_generated"))
    shutil.copytree(REPO / "notebooks", root / "notebooks",
                    ignore=shutil.ignore_patterns(".ipynb_checkpoints"))
    # What `make test` leaves in a fresh clone: `make book` afterwards must not render it.
    (root / ".pytest_cache").mkdir()
    (root / ".pytest_cache" / "README.md").write_text("# pytest cache directory #\n")
    overrides = {"data_root": str(SHARED_DATA)} if (SHARED_DATA / "PetImages").is_dir() else {}
    run_chapters("smoke", root=root, overrides=overrides)
    build_book(root, strict=True)
    return root
