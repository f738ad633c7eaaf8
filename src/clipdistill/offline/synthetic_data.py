"""Generated images: a stand-in data set for machines with no data (the ``synthetic`` source).

The stand-in classes are *shapes* (``circle``, ``square``, ...), never ``cat``/``dog``: a
smoke run on them checks that every step works, and its numbers mean nothing about pets.
Every image is a pure function of ``(seed, class, index)``, so asking for more images later
adds files and never changes the ones already written.
"""

from __future__ import annotations

import io
from pathlib import Path
from typing import Sequence

import numpy as np
from PIL import Image, ImageDraw

from ..io import atomic_write_bytes, stable_hash

__all__ = [
    "SHAPES",
    "COLOURS",
    "SYNTHETIC_PETS",
    "synthetic_class_names",
    "SYNTHETIC_OTHER",
    "shape_image",
    "seeded_rng",
    "make_shapes_dataset",
]

SHAPES: tuple[str, ...] = ("circle", "square", "triangle", "cross", "ring", "diamond", "bar")
COLOURS: dict[str, tuple[int, int, int]] = {
    "red": (220, 40, 40), "green": (40, 170, 60), "blue": (40, 80, 220), "yellow": (235, 200, 30),
    "purple": (140, 50, 170), "orange": (245, 130, 20), "black": (20, 20, 20),
}
# The two classes that stand in for cat and dog when no pet images exist.
SYNTHETIC_PETS: tuple[str, ...] = ("circle", "square")
# Stand-in "other" images are shapes that are neither of the two above.
SYNTHETIC_OTHER: tuple[str, ...] = ("triangle", "cross", "ring", "diamond", "bar")


def synthetic_class_names(n: int) -> list[str]:
    """``n`` honest class names: shapes, then "<colour> <shape>" pairs when more are needed."""
    if n <= len(SHAPES):
        return list(SHAPES[:n])
    names = [f"{c} {s}" for s in SHAPES for c in COLOURS]
    if n > len(names):
        raise ValueError(f"At most {len(names)} synthetic classes, asked for {n}.")
    return names[:n]


def seeded_rng(seed: int, *tag: object) -> np.random.Generator:
    """A generator that depends only on ``(seed, *tag)``: an image never changes when more
    images are asked for later."""
    return np.random.default_rng(int(stable_hash(seed, *tag), 16))


def _draw_shape(draw: ImageDraw.ImageDraw, shape: str, box: tuple[int, int, int, int],
                colour: tuple[int, int, int]) -> None:
    x0, y0, x1, y1 = box
    cx, cy, r = (x0 + x1) / 2, (y0 + y1) / 2, (x1 - x0) / 2
    if shape == "circle":
        draw.ellipse(box, fill=colour)
    elif shape == "square":
        draw.rectangle(box, fill=colour)
    elif shape == "triangle":
        draw.polygon([(cx, y0), (x1, y1), (x0, y1)], fill=colour)
    elif shape == "cross":
        t = r / 3
        draw.rectangle((cx - t, y0, cx + t, y1), fill=colour)
        draw.rectangle((x0, cy - t, x1, cy + t), fill=colour)
    elif shape == "ring":
        draw.ellipse(box, outline=colour, width=max(2, int(r / 3)))
    elif shape == "diamond":
        draw.polygon([(cx, y0), (x1, cy), (cx, y1), (x0, cy)], fill=colour)
    elif shape == "bar":
        draw.rectangle((x0, cy - r / 4, x1, cy + r / 4), fill=colour)
    else:  # pragma: no cover - names come from SHAPES
        raise ValueError(f"Unknown shape {shape!r}. Valid: {', '.join(SHAPES)}.")


def shape_image(class_name: str, seed: int, index: int) -> Image.Image:
    """One picture of ``class_name`` ("circle" or "red circle"): random size, aspect,
    background, position and (unless named) colour, so resizing and padding have work."""
    rng = seeded_rng(seed, class_name, index)
    parts = class_name.split()
    shape = parts[-1]
    w, h = (int(v) for v in rng.integers(96, 260, size=2))
    bg = rng.integers(150, 256, size=3)
    noise = rng.normal(0, 12, size=(h, w, 3))
    arr = np.clip(bg + noise, 0, 255).astype(np.uint8)
    im = Image.fromarray(arr, "RGB")
    draw = ImageDraw.Draw(im)
    if len(parts) == 2:
        colour = COLOURS[parts[0]]
    else:
        colour = tuple(int(c) for c in rng.integers(0, 140, size=3))
    side = int(min(w, h) * rng.uniform(0.4, 0.8))
    x0 = int(rng.integers(0, w - side + 1))
    y0 = int(rng.integers(0, h - side + 1))
    _draw_shape(draw, shape, (x0, y0, x0 + side, y0 + side), colour)
    return im


def make_shapes_dataset(root: str | Path, classes: Sequence[str], per_class: int, seed: int = 0) -> Path:
    """Write ``per_class`` JPEGs of each class into ``root/<class>/NNNNN.jpg``.

    Idempotent and incremental: existing files are kept, missing ones are added.
    """
    root = Path(root)
    for name in classes:
        folder = root / name
        folder.mkdir(parents=True, exist_ok=True)
        for i in range(per_class):
            path = folder / f"{i:05d}.jpg"
            if path.exists():
                continue
            buf = io.BytesIO()
            shape_image(name, seed, i).save(buf, format="JPEG", quality=90)
            atomic_write_bytes(path, buf.getvalue())
    return root
