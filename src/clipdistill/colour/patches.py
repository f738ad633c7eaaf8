"""Colour patches as image files, so the embedding engine caches them like any photo.

A patch is a solid square of one sRGB colour, saved as PNG (lossless: the pixels are
exactly the colour). The file name is the colour and size, the bytes depend on nothing
else, so a patch is rendered once and its embedding is cached by content ever after.
"""

from __future__ import annotations

import io
from pathlib import Path
from typing import Any, Iterable

from ..io import atomic_write_bytes
from .terms import hex_to_rgb

__all__ = ["patch_dir", "render_patch", "render_patches"]


def patch_dir(cfg: Any) -> Path:
    """``<work_dir>/colour_patches``: shared by every profile, like the embeddings."""
    return Path(cfg.work_dir) / "colour_patches"


def render_patch(hex_: str, folder: str | Path, size: int = 224) -> Path:
    """The PNG of a ``size`` x ``size`` patch of ``hex_`` in ``folder`` (written if absent)."""
    from PIL import Image

    path = Path(folder) / f"{size}" / f"{hex_.lstrip('#').lower()}.png"
    if not path.is_file():
        buf = io.BytesIO()
        Image.new("RGB", (size, size), hex_to_rgb(hex_)).save(buf, format="PNG")
        atomic_write_bytes(path, buf.getvalue())
    return path


def render_patches(hexes: Iterable[str], folder: str | Path, size: int = 224) -> list[Path]:
    """One patch per colour, in order (a colour named twice is one file)."""
    return [render_patch(h, folder, size) for h in hexes]

