"""A zoo of bad files: every way an image folder goes wrong, made on demand.

Chapter 01 shows how the safe loader treats each kind, and the tests check it: empty,
truncated, not an image, a Windows thumbnail cache, CMYK, grayscale, transparency,
16-bit, EXIF-rotated and a decompression bomb.
"""

from __future__ import annotations

import io
import struct
import zlib
from pathlib import Path

import numpy as np
from PIL import Image, ImageDraw

from ..io import atomic_write_bytes
from ..offline.synthetic_data import seeded_rng, shape_image

__all__ = ["BAD_FILE_KINDS", "make_bad_files"]

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
        "thumbs_db.db": bytes(seeded_rng(seed, "thumbs").integers(0, 256, 2048, dtype=np.uint8)),
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
