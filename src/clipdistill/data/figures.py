"""Chapter 01's figures and tables: example grid, class balance, pad vs crop, splits, bad files."""

from __future__ import annotations

from pathlib import Path
from typing import Mapping, Sequence

import numpy as np
import pandas as pd

from ..config import Config
from .images import BadImage, ConvertJob, convert_file, fit, hw, open_rgb
from .prepare import PetsPrep
from .splits import layout, seeded_order
from .sources import find_petimages
from .synthetic import BAD_FILE_KINDS, make_bad_files

__all__ = [
    "example_grid",
    "class_balance",
    "aspect_examples",
    "before_after",
    "split_layout",
    "bad_file_table",
    "bad_file_grid",
]


def _plt():
    import matplotlib.pyplot as plt

    return plt


def _show(ax, im, title: str = "") -> None:
    ax.imshow(np.asarray(im))
    ax.set_xticks([])
    ax.set_yticks([])
    if title:
        ax.set_title(title, fontsize=8)


def example_grid(prep: PetsPrep, per_class: int = 6, seed: int = 0):
    """A row of seeded random resized images per class."""
    from PIL import Image

    plt = _plt()
    by_class = prep.paths_by_class()
    fig, axes = plt.subplots(len(prep.classes), per_class, figsize=(1.6 * per_class, 1.7 * len(prep.classes)),
                             squeeze=False)
    for r, cls in enumerate(prep.classes):
        names = {str(p): p for p in by_class[cls]}
        picks = seeded_order(list(names), seed, f"grid/{cls}")[:per_class]
        for c in range(per_class):
            ax = axes[r][c]
            if c < len(picks):
                with Image.open(names[picks[c]]) as im:
                    _show(ax, im.copy())
            else:
                ax.axis("off")
        axes[r][0].set_ylabel(cls, fontsize=11)
    fig.suptitle(f"{prep.source}: resized to {prep.size[0]}x{prep.size[1]} ({prep.mode})", fontsize=10)
    fig.tight_layout()
    return fig


def class_balance(prep: PetsPrep):
    """Used and skipped files per class, stacked (the bar's height is what was found)."""
    plt = _plt()
    pc = prep.per_class
    fig, ax = plt.subplots(figsize=(max(4, 1.2 * len(pc) + 2), 3))
    ax.bar(pc.index, pc["used"], label="used", color="#4c72b0")
    ax.bar(pc.index, pc["skipped"], bottom=pc["used"], label="skipped", color="#c44e52")
    for x, (used, found) in enumerate(zip(pc["used"], pc["found"])):
        ax.text(x, found, f"{used:,} / {found:,}", ha="center", va="bottom", fontsize=8)
    ax.set_ylabel("files")
    ax.set_ylim(0, pc["found"].max() * 1.15)
    ax.set_title("class balance: used / found per class", fontsize=10)
    ax.legend(fontsize=8, loc="lower right")
    fig.tight_layout()
    return fig


def aspect_examples(prep: PetsPrep, cfg: Config, n: int = 4) -> list[Path]:
    """Originals whose aspect ratio is furthest from square: where pad and crop differ most.

    PetImages copies in ``../shared/data`` are all 180x180, so when the pets are square
    this falls back to the full-size Kaggle *dogs-vs-cats* originals next to them.
    """
    img = prep.images.copy()
    img = img[pd.to_numeric(img["width"], errors="coerce").notna()]
    if len(img):
        ratio = img["width"].astype(float) / img["height"].astype(float)
        img = img.assign(skew=np.abs(np.log(ratio)))
        img = img[img["skew"] > 0.1]
    if len(img):
        picks = []
        for cls in prep.classes:  # the most skewed of each class, in turn
            picks += list(img[img["class"] == cls].sort_values("skew", ascending=False)["source"][: -(-n // len(prep.classes))])
        return [Path(p) for p in picks[:n]]
    pets = find_petimages(cfg.data_root)
    dvc = (pets.parent if pets else Path(cfg.data_root or ".")) / "dogs-vs-cats" / "train"
    if dvc.is_dir():
        from PIL import Image

        cands = sorted(dvc.glob("*.jpg"))[:200]
        skew = []
        for p in cands:
            with Image.open(p) as im:
                skew.append((abs(np.log(im.size[0] / im.size[1])), p))
        return [p for _, p in sorted(skew, reverse=True)[:n]]
    return []


def before_after(paths: Sequence[Path], size: int | Sequence[int], pad_color: Sequence[int] = (124, 116, 104)):
    """Each original next to its ``pad`` and ``crop`` versions at the chapter's size."""
    plt = _plt()
    fig, axes = plt.subplots(len(paths), 3, figsize=(7.5, 2.3 * len(paths)), squeeze=False)
    for r, p in enumerate(paths):
        try:
            im, _ = open_rgb(p)
        except BadImage:
            continue
        _show(axes[r][0], im, f"original {im.size[0]}x{im.size[1]}")
        for c, mode in enumerate(("pad", "crop"), start=1):
            out = fit(im, size, mode, pad_color)
            _show(axes[r][c], out, f"{mode} -> {out.size[0]}x{out.size[1]}")
    fig.tight_layout()
    return fig


def split_layout(spec: Mapping[str, Mapping[str, int]], available: int | None = None):
    """Where each split's images sit in one class's seeded order (see ``splits.layout``)."""
    plt = _plt()
    ranges = layout(spec)
    fams = list(dict.fromkeys(f for f, *_ in ranges))
    colours = {"test": "#c44e52", "validate": "#dd8452", "train": "#4c72b0"}
    fig, ax = plt.subplots(figsize=(8, 0.55 * len(fams) + 1.2))
    for y, fam in enumerate(fams):
        for f, part, start, stop in ranges:
            if f == fam and stop > start:
                ax.barh(y, stop - start, left=start, color=colours.get(part, "#8172b3"), edgecolor="white")
                ax.text((start + stop) / 2, y, part, ha="center", va="center", fontsize=7, color="white")
    end = max(stop for *_, stop in ranges)
    if available:
        ax.axvline(available, color="black", ls="--", lw=1)
        ax.text(available, len(fams) - 0.5, f" usable: {available:,}", fontsize=8, va="bottom")
    ax.set_yticks(range(len(fams)), fams)
    ax.invert_yaxis()
    ax.set_xscale("symlog", linthresh=max(1, end // 50))
    ax.set_xlabel("position in the class's seeded order (images per class, symlog)")
    ax.set_title("split layout per class: ranges never overlap; cat_dog families share validate/test",
                 fontsize=9)
    fig.tight_layout()
    return fig


_WHAT = {
    "plain_rgb_jpeg": "an ordinary RGB JPEG (control)",
    "zero_bytes": "a 0-byte file (PetImages has some)",
    "truncated_jpeg": "a JPEG cut off half way",
    "not_an_image": "an HTML error page saved as .jpg",
    "thumbs_db": "Windows' Thumbs.db in the class folder",
    "cmyk_jpeg": "a CMYK JPEG (print colour space)",
    "grayscale_jpeg": "a grayscale JPEG",
    "palette_png": "a palette (P mode) PNG",
    "palette_png_transparent": "a palette PNG with a transparent colour",
    "rgba_png": "an RGBA PNG with transparent background",
    "gray_alpha_png": "a grayscale+alpha PNG",
    "sixteen_bit_png": "a 16-bit grayscale PNG",
    "exif_rotated_jpeg": "a phone photo stored sideways (EXIF orientation 6)",
    "decompression_bomb": "a 20000x20000 PNG of a few kB (bomb)",
}


def bad_file_table(folder: str | Path, size: int | Sequence[int] = 64) -> pd.DataFrame:
    """Generate one file of every odd kind and show what the loader did with each."""
    files = make_bad_files(folder)
    rows = []
    for kind, path in files.items():
        res = convert_file(ConvertJob(str(path), str(Path(folder) / "out" / f"{kind}.jpg"), hw(size)))
        rows.append({"file": path.name, "what it is": _WHAT.get(kind, kind), "bytes": path.stat().st_size,
                     "outcome": "used" if res.ok else "skipped",
                     "reason / conversion": res.reason if not res.ok else (res.note or "none needed"),
                     "expected": BAD_FILE_KINDS[kind][0]})
    return pd.DataFrame(rows)


def bad_file_grid(folder: str | Path):
    """The usable odd files after conversion: colours, transparency and rotation come out right."""
    from PIL import Image

    plt = _plt()
    outs = sorted(p for p in (Path(folder) / "out").glob("*.jpg"))
    fig, axes = plt.subplots(1, len(outs), figsize=(1.5 * len(outs), 1.9), squeeze=False)
    for ax, p in zip(axes[0], outs):
        with Image.open(p) as im:
            _show(ax, im.copy(), p.stem.replace("_", " "))
    fig.tight_layout()
    return fig
