"""Safe image loading and fixed-size resizing.

Real downloads are messy: the Kaggle *PetImages* archive ships empty files, truncated
JPEGs, a ``Thumbs.db`` and images in CMYK, grayscale or palette modes. Everything here
turns one file into one clean RGB image or into a one-line *reason* it was skipped, and
never raises on bad input, so a run over 25,000 files cannot die on file 17,342.
"""

from __future__ import annotations

import io
import os
import warnings
from concurrent.futures import ProcessPoolExecutor
from dataclasses import dataclass
from pathlib import Path
from typing import Iterable, Sequence

import numpy as np
from PIL import Image, ImageFile, ImageOps, UnidentifiedImageError

from ..io import atomic_write_bytes

__all__ = [
    "BadImage",
    "ConvertJob",
    "ConvertResult",
    "DEFAULT_MAX_PIXELS",
    "open_rgb",
    "fit",
    "convert_file",
    "convert_many",
    "hw",
]

# Letterbox fill: CLIP's mean pixel colour (0.481, 0.458, 0.408) x 255, which CLIP's
# normalisation maps to ~0, so borders carry next to no signal. cfg.pad_color overrides it.
CLIP_MEAN_RGB = (123, 117, 104)
# Pillow's own default: above this many pixels an image is treated as a decompression bomb
# (a tiny file that would expand into gigabytes of memory).
DEFAULT_MAX_PIXELS = 89_478_485
# Truncated files must fail loudly, not come back half grey.
ImageFile.LOAD_TRUNCATED_IMAGES = False

_EXIF_ORIENTATION = 0x0112
_SWAPS_AXES = {5, 6, 7, 8}  # EXIF orientations that rotate by 90 degrees
_MODE_NAMES = {"L": "grayscale", "1": "1-bit", "CMYK": "CMYK", "YCbCr": "YCbCr", "LAB": "Lab"}


class BadImage(Exception):
    """A file that cannot become an RGB image; ``str(exc)`` is the reason shown to the reader."""

    def __init__(self, reason: str, detail: str = "") -> None:
        super().__init__(reason)
        self.reason = reason
        self.detail = detail


def hw(size: int | Sequence[int]) -> tuple[int, int]:
    """``640`` or ``(480, 640)`` -> ``(height, width)``; rejects non-positive sizes."""
    h, w = (size, size) if isinstance(size, (int, np.integer)) else tuple(size)
    if int(h) <= 0 or int(w) <= 0:
        raise ValueError(f"Bad image size {size!r}: height and width must be positive.")
    return int(h), int(w)


def _to_rgb(im: Image.Image, background: tuple[int, int, int] = (255, 255, 255)) -> tuple[Image.Image, str]:
    """Convert any Pillow mode to 8-bit RGB the *right* way; returns (image, what was done).

    ``Image.convert("RGB")`` alone is wrong for two common cases: transparent pixels keep
    whatever colour hides under alpha=0 (often black), and 16-bit values are clipped at
    255 instead of scaled, so a 16-bit photo comes out almost white.
    """
    mode = im.mode
    if mode == "RGB":
        return im, ""
    if mode == "P":
        # A palette may carry transparency; go through RGBA so it is honoured.
        im = im.convert("RGBA" if "transparency" in im.info else "RGB")
        if im.mode == "RGB":
            return im, "palette to RGB"
    elif mode in ("L", "1") and "transparency" in im.info:
        im = im.convert("LA")
    if im.mode in ("RGBA", "LA", "PA", "RGBa", "La"):
        rgba = im.convert("RGBA")
        base = Image.new("RGBA", rgba.size, (*background, 255))
        return Image.alpha_composite(base, rgba).convert("RGB"), f"{mode} alpha over white"
    if im.mode.startswith("I") or im.mode == "F":
        arr = np.asarray(im, dtype=np.float64)
        if im.mode == "F":
            arr = arr * 255.0 if arr.size and arr.max() <= 1.0 else arr
        elif im.mode.startswith("I;16") or (arr.size and arr.max() > 255):
            arr = arr / 257.0  # 0..65535 -> 0..255
        gray = Image.fromarray(np.clip(np.rint(arr), 0, 255).astype(np.uint8), "L")
        return gray.convert("RGB"), f"{mode} scaled to 8 bits"
    try:
        return im.convert("RGB"), f"{_MODE_NAMES.get(mode, mode)} to RGB"
    except (ValueError, OSError) as exc:
        raise BadImage(f"unsupported mode {mode}", str(exc)) from None


def open_rgb(path: str | os.PathLike, *, max_pixels: int = DEFAULT_MAX_PIXELS,
             draft: tuple[int, int] | None = None, data: bytes | None = None) -> tuple[Image.Image, str]:
    """Open ``path`` as a fully decoded, upright, 8-bit RGB image.

    Returns ``(image, note)`` where ``note`` says what was converted (``""`` for a plain
    RGB file). Raises :class:`BadImage` with a short reason for anything unusable.
    ``draft=(w, h)`` lets the JPEG decoder downscale by 1/2, 1/4 or 1/8 while decoding,
    never below ``(w, h)``: much faster for big photos, same result after resizing.
    ``data``: the file's bytes, when the caller has already read them (the embedding
    engine hashes them first): decoded from memory, so the file is read once.
    """
    path = Path(path)
    if data is None:
        try:
            size = path.stat().st_size
        except OSError as exc:
            raise BadImage("unreadable file", f"{type(exc).__name__}: {exc}") from None
    else:
        size = len(data)
    if size == 0:
        raise BadImage("empty file (0 bytes)")
    with warnings.catch_warnings():
        # Pillow warns (rather than fails) between 1x and 2x its own pixel limit; we decide.
        warnings.simplefilter("ignore", Image.DecompressionBombWarning)
        warnings.simplefilter("ignore", UserWarning)  # e.g. "Corrupt EXIF data"
        try:
            im = Image.open(path if data is None else io.BytesIO(data))
        except UnidentifiedImageError:
            raise BadImage("not an image", "Pillow cannot identify the format") from None
        except Image.DecompressionBombError as exc:
            raise BadImage("decompression bomb", str(exc)) from None
        except (OSError, ValueError, SyntaxError) as exc:
            raise BadImage("unreadable file", f"{type(exc).__name__}: {exc}") from None
        with im:
            w, h = im.size
            if w * h > max_pixels:
                raise BadImage("decompression bomb", f"{w}x{h} = {w * h:,} pixels > {max_pixels:,}")
            if w == 0 or h == 0:
                raise BadImage("truncated or corrupt", f"zero-sized image {w}x{h}")
            try:
                orientation = int(im.getexif().get(_EXIF_ORIENTATION, 1) or 1)
            except Exception:  # noqa: BLE001 - corrupt EXIF: treat as upright
                orientation = 1
            try:
                if getattr(im, "n_frames", 1) > 1:
                    im.seek(0)  # animated GIF/WebP: the first frame stands for the file
                if draft is not None and im.format == "JPEG":
                    dw, dh = draft
                    if orientation in _SWAPS_AXES:
                        dw, dh = dh, dw
                    im.draft("RGB", (dw, dh))
                im.load()  # decode now: truncation and bad data surface here, not later
                if orientation != 1:
                    im = ImageOps.exif_transpose(im)
                rgb, note = _to_rgb(im)
                rgb.load()
            except BadImage:
                raise
            except Image.DecompressionBombError as exc:
                raise BadImage("decompression bomb", str(exc)) from None
            except (OSError, ValueError, SyntaxError, EOFError, MemoryError) as exc:
                raise BadImage("truncated or corrupt", f"{type(exc).__name__}: {exc}") from None
    notes = [n for n in (note, f"EXIF orientation {orientation}" if orientation != 1 else "") if n]
    return rgb, "; ".join(notes)


def fit(im: Image.Image, size: int | Sequence[int], mode: str = "pad",
        pad_color: Sequence[int] = CLIP_MEAN_RGB) -> Image.Image:
    """Resize ``im`` to exactly ``size`` (height, width) keeping its aspect ratio.

    ``pad`` scales the longer side to fit and fills the rest with ``pad_color`` (the whole
    animal stays in the picture); ``crop`` scales the shorter side to fit and cuts the
    centre out (no borders, but an ear or a tail may be lost).
    """
    h, w = hw(size)
    if mode not in ("pad", "crop"):
        raise ValueError(f"Bad resize mode {mode!r}. Valid: pad, crop.")
    sw, sh = im.size
    scale = min(w / sw, h / sh) if mode == "pad" else max(w / sw, h / sh)
    nw, nh = max(1, round(sw * scale)), max(1, round(sh * scale))
    if mode == "pad":
        nw, nh = min(nw, w), min(nh, h)
    resized = im.resize((nw, nh), Image.Resampling.LANCZOS, reducing_gap=3.0) if (nw, nh) != im.size else im
    if mode == "pad":
        canvas = Image.new("RGB", (w, h), tuple(int(c) for c in pad_color))
        canvas.paste(resized, ((w - nw) // 2, (h - nh) // 2))
        return canvas
    left, top = (nw - w) // 2, (nh - h) // 2
    return resized.crop((left, top, left + w, top + h))


@dataclass(frozen=True)
class ConvertJob:
    """One source file -> one output file. ``size=None`` keeps the native size (only
    shrinking images whose longer side exceeds ``max_side``)."""

    src: str
    dst: str
    size: tuple[int, int] | None = None
    mode: str = "pad"
    pad_color: tuple[int, int, int] = CLIP_MEAN_RGB
    quality: int = 95
    max_pixels: int = DEFAULT_MAX_PIXELS
    max_side: int = 0


@dataclass(frozen=True)
class ConvertResult:
    src: str
    dst: str
    status: str  # "done" (written now) | "exists" (skipped: already there) | "skipped" (bad file)
    reason: str = ""  # why skipped
    detail: str = ""  # the underlying error, for the curious
    note: str = ""  # what conversion a usable file needed (CMYK, EXIF orientation, ...)
    src_size: tuple[int, int] | None = None

    @property
    def ok(self) -> bool:
        return self.status in ("done", "exists")


def _encode(im: Image.Image, dst: str, quality: int) -> bytes:
    buf = io.BytesIO()
    if dst.lower().endswith(".png"):
        im.save(buf, format="PNG", optimize=False)
    else:
        im.save(buf, format="JPEG", quality=quality, subsampling=0 if quality >= 90 else 2)
    return buf.getvalue()


def convert_file(job: ConvertJob) -> ConvertResult:
    """Convert one file. Never raises for bad input: a bad file is a ``skipped`` result.

    Idempotent: when ``job.dst`` already exists the work is skipped (outputs are written
    atomically, so an existing file is always a complete one).
    """
    if os.path.exists(job.dst):
        return ConvertResult(job.src, job.dst, "exists")
    try:
        target = job.size
        draft = _jpeg_draft(job.src, target, job.mode) if target is not None else None
        im, note = open_rgb(job.src, max_pixels=job.max_pixels, draft=draft)
        src_size = im.size
        if target is not None:
            im = fit(im, target, job.mode, job.pad_color)
        elif job.max_side and max(im.size) > job.max_side:
            im = fit(im, _scaled(im.size, job.max_side), "pad", job.pad_color)
        data = _encode(im, job.dst, job.quality)
    except BadImage as exc:
        return ConvertResult(job.src, job.dst, "skipped", exc.reason, exc.detail)
    except MemoryError as exc:  # pragma: no cover - machine-dependent
        return ConvertResult(job.src, job.dst, "skipped", "out of memory", str(exc))
    atomic_write_bytes(job.dst, data)
    return ConvertResult(job.src, job.dst, "done", note=note, src_size=src_size)


def _scaled(size: tuple[int, int], max_side: int) -> tuple[int, int]:
    """(w, h) shrunk so the longer side is ``max_side``, as (height, width) for ``fit``."""
    w, h = size
    s = max_side / max(w, h)
    return max(1, round(h * s)), max(1, round(w * s))


def _jpeg_draft(src: str, target: tuple[int, int], mode: str) -> tuple[int, int] | None:
    """Decode size for JPEG draft mode: never smaller than what ``fit`` will scale to."""
    th, tw = target
    try:
        with Image.open(src) as im:
            if im.format != "JPEG":
                return None
            sw, sh = im.size
            try:
                if int(im.getexif().get(_EXIF_ORIENTATION, 1) or 1) in _SWAPS_AXES:
                    sw, sh = sh, sw
            except Exception:  # noqa: BLE001
                pass
    except Exception:  # noqa: BLE001 - open_rgb reports the real problem
        return None
    scale = min(tw / sw, th / sh) if mode == "pad" else max(tw / sw, th / sh)
    if scale >= 1:
        return None
    return max(1, int(np.ceil(sw * scale))), max(1, int(np.ceil(sh * scale)))


def convert_many(jobs: Iterable[ConvertJob], num_workers: int = 1, desc: str = "resizing",
                 progress: bool = True) -> list[ConvertResult]:
    """Run ``jobs`` in a process pool with a progress bar; results keep the jobs' order.

    Jobs whose output already exists are answered without touching the pool, so a second
    run over a finished folder costs one ``stat`` per image.
    """
    from ..progress import progress_bar

    jobs = list(jobs)
    results: list[ConvertResult | None] = [None] * len(jobs)
    todo = []
    for i, job in enumerate(jobs):
        if os.path.exists(job.dst):
            results[i] = ConvertResult(job.src, job.dst, "exists")
        else:
            todo.append(i)
    bar = progress_bar(len(todo), desc, enabled=progress and bool(todo), unit="img")
    try:
        if num_workers <= 1 or len(todo) < 8:
            for i in todo:
                results[i] = convert_file(jobs[i])
                bar.update(1)
        else:
            chunk = max(1, min(64, len(todo) // (num_workers * 8)))
            with ProcessPoolExecutor(max_workers=num_workers) as pool:
                for i, res in zip(todo, pool.map(convert_file, [jobs[i] for i in todo], chunksize=chunk)):
                    results[i] = res
                    bar.update(1)
    finally:
        bar.close()
    return [r for r in results if r is not None]
