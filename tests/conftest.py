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


@pytest.fixture()
def hub_env(monkeypatch, tmp_path):
    """``point(url, timeout)``: huggingface_hub online, talking to ``url``, with an empty cache.

    huggingface_hub reads the environment at import, so its constants are patched
    (monkeypatch puts them back: the rest of the suite stays offline)."""
    from huggingface_hub import constants

    def point(url: str, timeout: float = 10) -> None:
        monkeypatch.setattr(constants, "ENDPOINT", url)
        monkeypatch.setattr(constants, "HUGGINGFACE_CO_URL_TEMPLATE",
                            url + "/{repo_id}/resolve/{revision}/{filename}")
        monkeypatch.setattr(constants, "HF_HUB_OFFLINE", False)
        monkeypatch.setattr(constants, "HF_HUB_CACHE", str(tmp_path / "hf-cache"))
        monkeypatch.setattr(constants, "HF_HUB_ETAG_TIMEOUT", timeout)
        for var in ("NO_PROXY", "no_proxy"):
            monkeypatch.setenv(var, "127.0.0.1,localhost")

    from clipdistill import hub

    hub.forget_silence()
    yield point
    hub.forget_silence()


def copy_project(root: Path, *, book: bool = False) -> Path:
    """A fresh project skeleton at ``root`` (configuration and chapter sources; the book's
    pages too with ``book``), for runs that must not touch the developer's folders."""
    import shutil

    root.mkdir(parents=True, exist_ok=True)
    for name in ("_config.yml", "_toc.yml"):
        shutil.copy(REPO / name, root / name)
    if book:
        shutil.copytree(REPO / "book", root / "book",
                        ignore=shutil.ignore_patterns("chapters", "_generated"))
    shutil.copytree(REPO / "notebooks", root / "notebooks",
                    ignore=shutil.ignore_patterns(".ipynb_checkpoints"))
    return root


@pytest.fixture(scope="session")
def smoke_book(tmp_path_factory) -> Path:
    """Execute every real chapter in `smoke` and build the book strictly, once per session.

    Runs in a copy of the project skeleton so the developer's book/ and results/ stay
    untouched. Uses ../shared/data when present, else the chapters' generated data.
    Set CLIPDISTILL_SMOKE_BOOK to an already built copy to skip the run while iterating.
    """
    from clipdistill.book import build_book
    from clipdistill.runner import run_chapters

    reuse = os.environ.get("CLIPDISTILL_SMOKE_BOOK")
    if reuse:
        return Path(reuse)
    root = copy_project(tmp_path_factory.mktemp("smoke_book"), book=True)
    # What `make test` leaves in a fresh clone: `make book` afterwards must not render it.
    (root / ".pytest_cache").mkdir()
    (root / ".pytest_cache" / "README.md").write_text("# pytest cache directory #\n")
    overrides = {"data_root": str(SHARED_DATA)} if (SHARED_DATA / "PetImages").is_dir() else {}
    run_chapters("smoke", root=root, overrides=overrides)
    build_book(root, strict=True)
    return root
