"""Generated images: a stand-in data set for machines with no data, and a zoo of bad files.

The stand-in classes are *shapes* (``circle``, ``square``, ...), never ``cat``/``dog``: a
smoke run on them checks that every step works, and its numbers mean nothing about pets.
Every image is a pure function of ``(seed, class, index)``, so asking for more images later
adds files and never changes the ones already written.
"""

from __future__ import annotations

import io
import struct
import zlib
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
    "make_shapes_dataset",
    "make_bad_files",
    "BAD_FILE_KINDS",
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


def _rng(seed: int, *tag: object) -> np.random.Generator:
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
    rng = _rng(seed, class_name, index)
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


# -- a zoo of bad files ------------------------------------------------------------------

# kind -> (expected outcome, expected reason or conversion note fragment)
BAD_FILE_KINDS: dict[str, tuple[str, str]] = {
    "plain_rgb_jpeg": ("used", ""),
    "zero_bytes": ("skipped", "empty file (0 bytes)"),
    "truncated_jpeg": ("skipped", "truncated or corrupt"),
    "not_an_image": ("skipped", "not an image"),
    "thumbs_db": ("skipped", "not an image"),
    "cmyk_jpeg": ("used", "CMYK"),
    "grayscale_jpeg": ("used", "grayscale"),
    "palette_png": ("used", "palette"),
    "palette_png_transparent": ("used", "alpha over white"),
    "rgba_png": ("used", "alpha over white"),
    "gray_alpha_png": ("used", "alpha over white"),
    "sixteen_bit_png": ("used", "scaled to 8 bits"),
    "sixteen_bit_rgb_png": ("used", ""),  # Pillow itself reduces 16-bit RGB to 8 bits, scaled
    "exif_rotated_jpeg": ("used", "EXIF orientation 6"),
    "decompression_bomb": ("skipped", "decompression bomb"),
}


def _jpeg(im: Image.Image, **kw: object) -> bytes:
    buf = io.BytesIO()
    im.save(buf, format="JPEG", quality=90, **kw)
    return buf.getvalue()


def _png(im: Image.Image, **kw: object) -> bytes:
    buf = io.BytesIO()
    im.save(buf, format="PNG", **kw)
    return buf.getvalue()


def _chunk(tag: bytes, data: bytes) -> bytes:
    return struct.pack(">I", len(data)) + tag + data + struct.pack(">I", zlib.crc32(tag + data) & 0xFFFFFFFF)


def _png16_rgb(width: int = 160, height: int = 40) -> bytes:
    """A 16-bit-per-channel RGB PNG (Pillow cannot write one): a red ramp on blue."""
    arr = np.zeros((height, width, 3), dtype=">u2")
    arr[..., 0] = np.linspace(0, 65535, width).astype(np.uint16)[None, :]
    arr[..., 2] = 40_000
    raw = b"".join(b"\x00" + arr[y].tobytes() for y in range(height))
    ihdr = struct.pack(">IIBBBBB", width, height, 16, 2, 0, 0, 0)
    return b"\x89PNG\r\n\x1a\n" + _chunk(b"IHDR", ihdr) + _chunk(b"IDAT", zlib.compress(raw)) + _chunk(b"IEND", b"")


def _png_bomb(width: int, height: int) -> bytes:
    """A *real* decompression bomb: a valid 1-bit PNG of width x height whose pixel data
    compresses to a few kilobytes. Decoding it would need ``width*height`` bytes of RAM."""
    chunk = _chunk
    row = b"\x00" + b"\x00" * ((width + 7) // 8)
    comp = zlib.compressobj(9)
    body = b"".join(comp.compress(row * 256) for _ in range(height // 256))
    body += comp.compress(row * (height % 256)) + comp.flush()
    ihdr = struct.pack(">IIBBBBB", width, height, 1, 0, 0, 0, 0)
    return b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", ihdr) + chunk(b"IDAT", body) + chunk(b"IEND", b"")


def make_bad_files(folder: str | Path, seed: int = 0) -> dict[str, Path]:
    """Write one file of every odd kind found in real downloads; returns kind -> path.

    :data:`BAD_FILE_KINDS` says what a correct loader does with each.
    """
    folder = Path(folder)
    folder.mkdir(parents=True, exist_ok=True)
    base = shape_image("circle", seed, 0).resize((160, 120))
    two_halves = Image.new("RGB", (200, 100), (220, 30, 30))
    two_halves.paste((30, 30, 220), (100, 0, 200, 100))  # left red, right blue
    exif = Image.Exif()
    exif[0x0112] = 6  # "rotate 90 degrees clockwise to display"
    rgba = Image.new("RGBA", (120, 90), (0, 0, 0, 0))
    ImageDraw.Draw(rgba).ellipse((30, 15, 90, 75), fill=(30, 160, 60, 255))
    pal = base.convert("P", palette=Image.Palette.ADAPTIVE, colors=16)
    pal_t = pal.copy()
    pal_t.info["transparency"] = 0
    alpha = Image.new("L", base.size, 255)
    alpha.paste(0, (0, 0, base.size[0] // 2, base.size[1]))  # left half fully transparent
    gray_alpha = Image.merge("LA", (base.convert("L"), alpha))
    ramp16 = (np.linspace(0, 65535, 160, dtype=np.uint32)[None, :].repeat(120, 0)).astype(np.uint16)
    plain = _jpeg(base)
    files: dict[str, bytes] = {
        "plain_rgb_jpeg.jpg": plain,
        "zero_bytes.jpg": b"",
        "truncated_jpeg.jpg": plain[: len(plain) // 2],
        "not_an_image.jpg": b"<html><body>404 Not Found</body></html>\n",
        "thumbs_db.db": bytes(_rng(seed, "thumbs").integers(0, 256, 2048, dtype=np.uint8)),
        "cmyk_jpeg.jpg": _jpeg(Image.new("CMYK", (120, 90), (0, 255, 255, 0))),  # pure red ink
        "grayscale_jpeg.jpg": _jpeg(base.convert("L")),
        "palette_png.png": _png(pal),
        "palette_png_transparent.png": _png(pal_t, transparency=0),
        "rgba_png.png": _png(rgba),
        "gray_alpha_png.png": _png(gray_alpha),
        "sixteen_bit_png.png": _png(Image.fromarray(ramp16)),
        "sixteen_bit_rgb_png.png": _png16_rgb(),
        "exif_rotated_jpeg.jpg": _jpeg(two_halves, exif=exif.tobytes()),
        "decompression_bomb.png": _png_bomb(20_000, 20_000),
    }
    out = {}
    for name, data in files.items():
        path = folder / name
        atomic_write_bytes(path, data)
        out[name.split(".")[0]] = path
    assert set(out) == set(BAD_FILE_KINDS), "make_bad_files and BAD_FILE_KINDS disagree"
    return out
