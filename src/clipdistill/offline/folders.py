"""Build a checkpoint folder once, atomically: a killed build leaves nothing half-written."""

from __future__ import annotations

import os
from pathlib import Path
from typing import Callable

from ..io import atomic_dir

__all__ = ["build_once", "is_complete"]


def is_complete(folder: Path) -> bool:
    """A finished checkpoint folder has its config and its weights."""
    return (folder / "config.json").is_file() and (folder / "model.safetensors").is_file()


def build_once(target: str | os.PathLike, write: Callable[[Path], None]) -> Path:
    """Return ``target``, calling ``write(tmp)`` into a sibling temporary folder first if it
    is not there yet; the temporary folder is then renamed into place in one step."""
    target = Path(target)
    if not is_complete(target):
        with atomic_dir(target) as tmp:
            write(tmp)
    return target
