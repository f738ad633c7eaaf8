"""Chapter 01's figures and tables: example grid, class balance, pad vs crop, splits, bad files."""

from __future__ import annotations

from pathlib import Path
from typing import Mapping, Sequence

import numpy as np
import pandas as pd

from ..config import Config
from .images import CLIP_MEAN_RGB, BadImage, ConvertJob, convert_file, fit, hw, open_rgb
from .prepare import PetsPrep, load_labelled
from .sources import DataError
from .splits import layout, seeded_order
from .sources import find_petimages
from .bad_files import BAD_FILE_KINDS, make_bad_files

__all__ = [
    "example_grid",
    "class_balance",
    "aspect_examples",
    "before_after",
    "split_layout",
    "bad_file_table",
    "bad_file_grid",
    "source_note",
    "labelled_overview",
    "image_row",
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
    """Originals whose aspect ratio is furthest from square (where pad and crop differ most),
    taken from each class in turn.

    The PetImages copies in ``../shared/data`` are all 180x180, so when the pets are square
    this falls back to the full-size Kaggle *dogs-vs-cats* originals beside them.
    """
    img = prep.images
    sizes = {c: [(Path(r["source"]), float(r["width"]), float(r["height"]))
                 for r in img[img["class"] == c].to_dict("records")
                 if str(r["width"]).strip() not in ("", "nan")] for c in prep.classes}
    if not any(abs(np.log(w / h)) > 0.1 for v in sizes.values() for _, w, h in v):
        pets = find_petimages(cfg.data_root)
        dvc = (pets.parent if pets else Path(cfg.data_root or ".")) / "dogs-vs-cats" / "train"
        if not dvc.is_dir():
            return []
        from PIL import Image

        sizes = {}
        for cls in ("cat", "dog"):
            rows = []
            for p in sorted(dvc.glob(f"{cls}.*.jpg"))[:150]:
                with Image.open(p) as im:
                    rows.append((p, float(im.size[0]), float(im.size[1])))
            sizes[cls] = rows
    ranked = {c: [p for p, w, h in sorted(v, key=lambda t: -abs(np.log(t[1] / t[2])))] for c, v in sizes.items()}
    picks: list[Path] = []
    for i in range(n):
        for c in ranked:
            if len(picks) < n and i < len(ranked[c]):
                picks.append(ranked[c][i])
    return picks


def before_after(paths: Sequence[Path], size: int | Sequence[int], pad_color: Sequence[int] = CLIP_MEAN_RGB):
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
    """Where each split's images sit in one class's seeded order (see ``splits.layout``).

    Not to scale: each stretch between two boundaries is drawn with a width that grows
    with the log of its size, so a 100-image test set and a 10,000-image train set both
    stay readable. The ticks give the true positions.
    """
    plt = _plt()
    ranges = [r for r in layout(spec) if r[3] > r[2]]
    fams = list(dict.fromkeys(f for f, *_ in ranges))
    bounds = sorted({b for *_, start, stop in ranges for b in (start, stop)})
    xs = np.concatenate([[0.0], np.cumsum([np.log1p(b - a) for a, b in zip(bounds, bounds[1:])])])
    pos = dict(zip(bounds, xs))
    colours = {"test": "#c44e52", "validate": "#dd8452", "train": "#4c72b0"}
    fig, ax = plt.subplots(figsize=(8.5, 0.6 * len(fams) + 1.3))
    for y, fam in enumerate(fams):
        for f, part, start, stop in ranges:
            if f != fam:
                continue
            x0, x1 = pos[start], pos[stop]
            ax.barh(y, x1 - x0, left=x0, color=colours.get(part, "#8172b3"), edgecolor="white")
            ax.text((x0 + x1) / 2, y, f"{part}\n{stop - start:,}", ha="center", va="center",
                    fontsize=7, color="white")
    ax.set_yticks(range(len(fams)), fams)
    ax.invert_yaxis()
    ax.set_xticks(xs, [f"{b:,}" for b in bounds], fontsize=7)
    ax.set_xlabel("position in each class's seeded order (not to scale)")
    need = bounds[-1]
    title = f"split layout, per class: needs {need:,} usable images per class"
    if available is not None:
        title += f"; the smallest class has {available:,}"
    ax.set_title(title, fontsize=9)
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
    "sixteen_bit_rgb_png": "a 16-bit-per-channel RGB PNG",
    "exif_rotated_jpeg": "a phone photo stored sideways (EXIF orientation 6)",
    "decompression_bomb": "a 20000x20000 PNG under 50 kB (bomb)",
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
    # Five a row at the book's 7-inch column: titles stay readable at 9 pt.
    cols = min(5, max(len(outs), 1))
    rows = -(-len(outs) // cols)
    fig, axes = plt.subplots(rows, cols, figsize=(1.4 * cols, 1.75 * rows), squeeze=False)
    for ax in axes.flat[len(outs):]:
        ax.axis("off")
    for ax, p in zip(axes.flat, outs):
        with Image.open(p) as im:
            _show(ax, im.copy(), p.stem.replace("_", " "))
    fig.tight_layout()
    return fig


def source_note(prep: PetsPrep) -> str:
    """One Markdown paragraph: which source was used and why; a loud note for generated data."""
    text = (f"**Source:** `{prep.source}` ({prep.note}). **Classes:** {', '.join(prep.classes)}. "
            f"**Found** {prep.found:,} files, **used** {prep.used:,}, **skipped** {prep.skipped:,}; "
            f"resized to {prep.size[0]}x{prep.size[1]} with `{prep.mode}`.")
    if prep.synthetic:
        text += ("\n\n> **These are generated shapes, not pets.** No pet images were available "
                 "(no `data_root` with PetImages, and a smoke run does not download), so two classes "
                 "of drawn shapes stand in for cat and dog. Everything below runs the real pipeline on "
                 "them; nothing here says anything about cats and dogs.")
    return text


def labelled_overview(cfg: Config, names: Sequence[str], per_class: int) -> pd.DataFrame:
    """Prepare each labelled set chapter 04 uses and say where it came from; a set that cannot
    be had (offline, no folder) is listed with the reason instead of stopping the chapter."""
    rows = []
    for name in names:
        if name == "imagenetv2":  # not a folder of ours: chapter 04 reads the archive's copy
            rows.append(_imagenetv2_row(cfg))
            continue
        try:
            ds = load_labelled(cfg, name, per_class)
        except DataError as exc:
            rows.append({"set": name, "source": "unavailable", "classes": 0, "images": 0, "note": str(exc)})
            continue
        rows.append({"set": name, "source": ds.source, "classes": len(ds.classes), "images": len(ds),
                     "note": ds.extra.get("note", "")})
    return pd.DataFrame(rows)


def _imagenetv2_row(cfg: Config) -> dict:
    """Where chapter 04's ImageNetV2 comes from. A real run downloads it there (1.26 GB),
    not here: this only reports a copy that is already on disk, or the smoke stand-in."""
    from . import imagenetv2

    done = (Path(cfg.work_dir) / "downloads" / imagenetv2.FOLDER / ".complete").is_file()
    if not (cfg.smoke or done or imagenetv2.find_imagenetv2(cfg.data_root)):
        size = imagenetv2.ARCHIVE
        return {"set": "imagenetv2", "source": "download in chapter 4", "classes": size["classes"],
                "images": size["classes"] * min(cfg.imagenetv2_per_class, size["per_class"]),
                "note": "ImageNetV2 matched-frequency, 1.26 GB, checked against its SHA-256"}
    try:
        folder, note, synthetic = imagenetv2.locate(cfg)
    except DataError as exc:
        return {"set": "imagenetv2", "source": "unavailable", "classes": 0, "images": 0,
                "note": str(exc)}
    files = imagenetv2.class_files(folder)
    return {"set": "imagenetv2", "source": "generated stand-in" if synthetic else "imagenetv2",
            "classes": len(files),
            "images": sum(min(len(f), cfg.imagenetv2_per_class) for f in files.values()),
            "note": note}


def image_row(paths: Sequence[Path], title: str = ""):
    """A single row of thumbnails (e.g. the first images of the "other" pool)."""
    from PIL import Image

    plt = _plt()
    fig, axes = plt.subplots(1, max(1, len(paths)), figsize=(1.5 * max(1, len(paths)), 1.8), squeeze=False)
    for ax, p in zip(axes[0], paths):
        with Image.open(p) as im:
            _show(ax, im.copy())
    for ax in axes[0][len(paths):]:
        ax.axis("off")
    if title:
        fig.suptitle(title, fontsize=9)
    fig.tight_layout()
    return fig
