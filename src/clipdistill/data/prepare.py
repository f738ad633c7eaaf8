"""The chapter-01 pipeline: resolve a source, resize into ``work_dir``, build the splits.

Layout under ``cfg.work_dir`` (every folder name carries a hash of what decides its
content, so two profiles or two sizes never share a folder by accident)::

    downloads/                               torchvision downloads (Oxford-IIIT Pet, CIFAR-10, ...)
    sources/                                 CIFAR-10/MNIST written out as folders; generated sets
    pets/<source>-<H>x<W>-<mode>-<hash>/     the resized pet images
        images/<class>/<file>.jpg
        images.csv  skipped.csv  prep.json   what was used, what was skipped and why
        splits/<hash>/<family>/<part>/       manifest.txt, y_true.npy, classes.json
    labelled/<set>-<hash>/<class>/...        clean RGB copies for load_labelled (native size)
    other/<source>-<H>x<W>-<mode>-<hash>/    the resized "other" pool
"""

from __future__ import annotations

import json
import os
import warnings
from dataclasses import dataclass, field
from pathlib import Path
from typing import Mapping

import numpy as np
import pandas as pd

from ..config import Config
from ..io import atomic_write_json, atomic_write_text, one_at_a_time, stable_hash
from . import manifests
from .images import ConvertJob, ConvertResult, convert_many
from .sources import DataError, Source, labelled_source, other_source, resolve_pets_source
from .splits import Split, assign, read_split, seeded_order, split_key, split_table, write_splits

__all__ = ["PetsPrep", "prepare_pets", "load_split", "load_labelled", "load_other_pool", "image_hw"]

PREP_VERSION = "v4"  # bump when the resizing code changes what it writes


def image_hw(cfg: Config) -> tuple[int, int]:
    """(height, width) of the resized copies: ``image_size`` square unless ``image_width`` is set."""
    return int(cfg.image_size), int(cfg.image_width or cfg.image_size)


def _safe(cls: str) -> str:
    return cls.replace(" ", "_").replace("/", "_")


def _out_name(key: str, src: Path, keep_png: bool = False) -> str:
    """Output file name for a source file: its stem plus a tag of (name, size, mtime).

    The tag makes the cache follow the data: a replaced or edited source file gets a new
    output name instead of silently reusing the old copy, and ``a.jpg``/``a.png`` in one
    folder never collide. (Size and mtime stand in for the bytes: hashing every file's
    content on each call would cost more than the resizing saves.)
    """
    try:
        st = src.stat()
        stamp = (st.st_size, st.st_mtime_ns)
    except OSError:
        stamp = (-1, -1)
    flat = key.replace("/", "__")
    stem, ext = os.path.splitext(flat)
    out_ext = ".png" if keep_png and ext.lower() == ".png" else ".jpg"
    return f"{stem}.{stable_hash(key, *stamp, length=8)}{out_ext}"


def _job(cfg: Config, src: Path, dst: Path, size: tuple[int, int] | None, max_side: int = 0) -> ConvertJob:
    return ConvertJob(str(src), str(dst), size, cfg.resize_mode, tuple(int(c) for c in cfg.pad_color),
                      int(cfg.jpeg_quality), int(cfg.max_image_pixels), max_side)


def _content_key(cfg: Config, source: Source, size: tuple[int, int] | None) -> str:
    return stable_hash(PREP_VERSION, source.identity(), size, cfg.resize_mode, list(cfg.pad_color),
                       cfg.jpeg_quality, cfg.max_image_pixels, length=10)


def _limit(files: Mapping[str, Mapping[str, Path]], limit: int, seed: int) -> dict[str, dict[str, Path]]:
    """A seeded sample of ``limit`` files per class (all of them when ``limit`` is 0)."""
    if not limit:
        return {c: dict(v) for c, v in files.items()}
    return {c: {k: v[k] for k in seeded_order(list(v), seed, f"limit/{c}")[:limit]} for c, v in files.items()}


# -- the pets set ----------------------------------------------------------------------------

@dataclass
class PetsPrep:
    """What :func:`prepare_pets` did: counts, the skip report, the split table."""

    source: str  # petimages | oxford_pets | folder | synthetic
    note: str  # why that source
    source_root: Path
    root: Path  # the prepared folder
    classes: list[str]
    images: pd.DataFrame  # used: path (relative to root), class, key (name in the source), source (file), note, width, height
    report: pd.DataFrame  # skipped files: path, class, reason, detail
    split_table: pd.DataFrame
    splits_dir: Path
    size: tuple[int, int]
    mode: str
    synthetic: bool = False
    shortfalls: list = field(default_factory=list)
    found_per_class: dict = field(default_factory=dict)

    @property
    def used(self) -> int:
        return len(self.images)

    @property
    def skipped(self) -> int:
        return len(self.report)

    @property
    def found(self) -> int:
        return self.used + self.skipped

    @property
    def per_class(self) -> pd.DataFrame:
        """found / used / skipped per class (class balance before any split)."""
        used = self.images.groupby("class").size()
        skipped = self.report.groupby("class").size() if len(self.report) else pd.Series(dtype=int)
        rows = [{"class": c, "found": int(used.get(c, 0) + skipped.get(c, 0)), "used": int(used.get(c, 0)),
                 "skipped": int(skipped.get(c, 0))} for c in self.classes]
        return pd.DataFrame(rows).set_index("class")

    @property
    def conversions(self) -> pd.DataFrame:
        """Used files that needed more than decoding (CMYK, grayscale, EXIF rotation, ...)."""
        df = self.images[self.images["note"].fillna("") != ""]
        return df[["path", "class", "source", "note"]].reset_index(drop=True)

    def split(self, family: str, part: str) -> Split:
        _check_split(self.split_table, family, part)
        return read_split(self.splits_dir, self.root, family, part, self.source)

    def paths_by_class(self) -> dict[str, list[Path]]:
        return {c: [self.root / p for p in self.images.loc[self.images["class"] == c, "path"]]
                for c in self.classes}

    def overlap_matrix(self) -> pd.DataFrame:
        """Images shared by every pair of splits, read back from the written manifests.

        Zero everywhere except where the layout shares on purpose: a split with itself, the
        nested cat_dog families' identical validate/test and their prefix train sets.
        """
        names = list(self.split_table["split"])
        sets = {n: set(self.split(*n.split("/")).paths) for n in names}
        return pd.DataFrame([[len(sets[a] & sets[b]) for b in names] for a in names], index=names, columns=names)

    def summary(self) -> dict:
        """The numbers chapter 01 saves: counts and split sizes."""
        return {
            "source": self.source, "synthetic": self.synthetic, "classes": self.classes,
            "image_size": list(self.size), "resize_mode": self.mode,
            "found": self.found, "used": self.used, "skipped": self.skipped,
            "skipped_by_reason": {str(k): int(v) for k, v in self.report["reason"].value_counts().items()},
            "per_class": {c: {k: int(v) for k, v in row.items()} for c, row in self.per_class.iterrows()},
            "splits": {r["split"]: {c: int(r[c]) for c in self.classes} | {"total": int(r["total"])}
                       for _, r in self.split_table.iterrows()},
        }


def _check_split(table: pd.DataFrame, family: str, part: str) -> None:
    names = list(table["split"])
    if f"{family}/{part}" not in names:
        raise DataError(f"Unknown split {family}/{part} for this profile. Valid: {', '.join(names)}.")


def prepare_pets(cfg: Config, *, progress: bool = True) -> PetsPrep:
    """Resolve the pets source, resize it into ``cfg.work_dir`` and build every split in
    ``cfg.splits``. Idempotent: a second call with nothing changed reads back what the first
    wrote (one ``stat`` per source file to notice changes)."""
    source = resolve_pets_source(cfg)
    files = _limit(source.files, cfg.pets_per_class_limit, cfg.seed)
    size = image_hw(cfg)
    root = Path(cfg.work_dir) / "pets" / f"{source.name}-{size[0]}x{size[1]}-{cfg.resize_mode}-{_content_key(cfg, source, size)}"
    fingerprint = stable_hash(source.fingerprint(files), cfg.pets_per_class_limit, cfg.seed)
    meta_path = root / "prep.json"
    meta = json.loads(meta_path.read_text()) if meta_path.is_file() else {}
    if meta.get("fingerprint") != fingerprint:
        if not cfg.allow_fewer:  # fail before resizing anything if the files cannot suffice
            assign({c: list(v) for c, v in files.items()}, cfg.splits, cfg.seed, what="found")
        with one_at_a_time(_lock_for(root), f"resizing {source.name}"):
            meta = json.loads(meta_path.read_text()) if meta_path.is_file() else {}
            if meta.get("fingerprint") != fingerprint:  # not done meanwhile by another job
                _resize_pets(cfg, source, files, root, size, fingerprint, progress)
                meta = json.loads(meta_path.read_text())
    text = {c: str for c in ("path", "class", "key", "source", "note", "reason", "detail")}
    images = pd.read_csv(root / "images.csv", dtype=text, keep_default_na=False)
    report = pd.read_csv(root / "skipped.csv", dtype=text, keep_default_na=False)
    classes = list(meta["classes"])

    # Splits are drawn on each file's name in its source (not on the output name, whose tag
    # depends on file times), so the same seed gives the same splits on every machine.
    by_class = {c: list(images.loc[images["class"] == c, "key"]) for c in classes}
    key = split_key(cfg.splits, cfg.seed, cfg.allow_fewer, by_class, list(images["path"]))
    splits_dir = root / "splits" / key
    if (splits_dir / "done.json").is_file():
        done = json.loads((splits_dir / "done.json").read_text())
        table = pd.read_csv(splits_dir / "split_table.csv")
        for msg in done.get("shortfalls", []):
            warnings.warn(msg, stacklevel=2)
        short = done.get("shortfalls", [])
    else:
        assigned, short = assign(by_class, cfg.splits, cfg.seed, cfg.allow_fewer)
        out_path = {(c, k): p for c, k, p in zip(images["class"], images["key"], images["path"])}
        assigned = {split: {c: [out_path[(c, k)] for k in keys] for c, keys in parts.items()}
                    for split, parts in assigned.items()}
        table = split_table(assigned, classes, cfg.splits)
        atomic_write_text(splits_dir / "split_table.csv", table.to_csv(index=False))
        write_splits(splits_dir, assigned, classes, short, cfg.splits)
    prep = PetsPrep(source.name, source.note, source.root, root, classes, images, report, table,
                    splits_dir, size, cfg.resize_mode, source.synthetic, short,
                    meta.get("found_per_class", {}))
    _record_splits(cfg, prep, source)
    return prep


def _lock_for(root: Path) -> Path:
    """Beside ``root``, not in it: jobs of an array that all find the images unprepared
    take turns (:func:`~clipdistill.io.one_at_a_time`), so one resizes and the rest reuse."""
    return root.with_name(root.name + ".lock")


def _record_splits(cfg: Config, prep: PetsPrep, source: Source) -> None:
    """Every split's manifest digest and seed, for the provenance (:mod:`.manifests`)."""
    named = dict(zip(prep.images["path"], zip(prep.images["class"], prep.images["key"])))
    for split in prep.split_table["split"]:
        lines = (prep.splits_dir / split / "manifest.txt").read_text().splitlines()
        manifests.record(split, source.name, cfg.seed, (named[rel] for rel in lines if rel),
                         archives=source.extra.get("archives"), synthetic=source.synthetic)


def _resize_pets(cfg: Config, source: Source, files: Mapping[str, Mapping[str, Path]], root: Path,
                 size: tuple[int, int], fingerprint: str, progress: bool) -> None:
    """Resize every file (skipping outputs already there) and write the three reports."""
    previous = {}
    if (root / "images.csv").is_file():  # notes of images resized by an earlier run
        old = pd.read_csv(root / "images.csv", dtype=str, keep_default_na=False)
        previous = {r["path"]: r for r in old.to_dict("records")}
    entries, jobs = [], []
    for cls in sorted(files):
        for key, path in sorted(files[cls].items()):
            rel = f"images/{_safe(cls)}/{_out_name(key, path)}"
            entries.append((cls, key, rel))
            jobs.append(_job(cfg, path, root / rel, size))
    results = convert_many(jobs, cfg.num_workers, desc=f"resizing {source.name} to {size[0]}x{size[1]}",
                           progress=progress)
    used, skipped = [], []
    for (cls, key, rel), res in zip(entries, results):
        if res.ok:
            old = previous.get(rel, {})
            w, h = res.src_size if res.src_size else (old.get("width", ""), old.get("height", ""))
            used.append({"path": rel, "class": cls, "key": key, "source": str(files[cls][key]),
                         "note": res.note if res.status == "done" else old.get("note", ""),
                         "width": w, "height": h})
        else:
            skipped.append({"path": str(files[cls][key]), "class": cls, "reason": res.reason, "detail": res.detail})
    found = sum(len(v) for v in files.values())
    assert found == len(used) + len(skipped), "every file is either used or skipped"
    atomic_write_text(root / "images.csv", pd.DataFrame(used, columns=["path", "class", "key", "source", "note", "width", "height"]).to_csv(index=False))
    atomic_write_text(root / "skipped.csv", pd.DataFrame(skipped, columns=["path", "class", "reason", "detail"]).to_csv(index=False))
    atomic_write_json(root / "prep.json", {
        "version": PREP_VERSION, "fingerprint": fingerprint, "source": source.identity(),
        "note": source.note, "classes": sorted(files), "size": list(size), "mode": cfg.resize_mode,
        "found": found, "used": len(used), "skipped": len(skipped),
        "found_per_class": {c: len(v) for c, v in files.items()},
    })


def load_split(cfg: Config, family: str, part: str) -> Split:
    """One split of the pets set (e.g. ``("knn", "train")``); prepares the data first if needed,
    so any chapter can be opened first."""
    valid = [f"{f}/{p}" for f in cfg.splits for p in cfg.splits[f]]
    if family not in cfg.splits or part not in cfg.splits[family]:
        raise DataError(f"Unknown split {family}/{part} for profile {cfg.profile!r}. Valid: {', '.join(valid)}.")
    return prepare_pets(cfg, progress=True).split(family, part)


# -- labelled sets and the other pool -----------------------------------------------------------

def _take_usable(cfg: Config, jobs: Mapping[str, list[ConvertJob]], n: int, desc: str
                 ) -> tuple[dict[str, list[ConvertResult]], dict[str, list[ConvertResult]]]:
    """Walk each class's jobs in order until ``n`` usable outputs exist (or the jobs run out).

    Converts only what is needed, in rounds: a bad file costs one more candidate, not a
    rescan. Returns ``(usable, skipped)`` per class, usable in job order.
    """
    usable: dict[str, list[ConvertResult]] = {c: [] for c in jobs}
    skipped: dict[str, list[ConvertResult]] = {c: [] for c in jobs}
    pos = {c: 0 for c in jobs}
    while True:
        batch, owners = [], []
        for cls, js in jobs.items():
            want = n - len(usable[cls])
            if want <= 0 or pos[cls] >= len(js):
                continue
            take = js[pos[cls]:pos[cls] + want + (want // 20 if skipped[cls] else 0)]
            pos[cls] += len(take)
            batch += take
            owners += [cls] * len(take)
        if not batch:
            break
        for cls, res in zip(owners, convert_many(batch, cfg.num_workers, desc=desc)):
            (usable if res.ok else skipped)[cls].append(res)
    return {c: v[:n] for c, v in usable.items()}, skipped


def _shortfall(cfg: Config, what: str, cls: str | None, n: int, got: int, source: Source, skipped: int) -> None:
    who = f" of class {cls!r}" if cls else ""
    msg = (f"{what} needs {n} images{who} but only {got} are usable in {source.name} ({source.root}; "
           f"{skipped} bad files skipped)")
    if not cfg.allow_fewer:
        raise DataError(msg + "; ask for fewer or set allow_fewer=True.")
    warnings.warn(msg + "; taking what there is (allow_fewer=True).", stacklevel=3)


def load_labelled(cfg: Config, name: str, per_class: int) -> Split:
    """A seeded sample of ``per_class`` images per class of a labelled set.

    ``name`` is one of cats_dogs, oxford_pets_37, cifar10, mnist, caltech101. Images are
    clean RGB copies at native size (shrunk only if larger than ``image_size``); CLIP's own
    preprocessing does the final resize. The sample for a smaller ``per_class`` is a prefix
    of the sample for a larger one.
    """
    if per_class <= 0:
        raise DataError(f"load_labelled({name!r}) needs per_class >= 1, got {per_class}.")
    source = labelled_source(cfg, name, per_class)
    max_side = max(image_hw(cfg))
    root = Path(cfg.work_dir) / "labelled" / f"{name}-{_content_key(cfg, source, None)}-{max_side}"
    jobs = {}
    for cls in source.classes:
        order = seeded_order(list(source.files[cls]), cfg.seed, f"{name}/{cls}")
        jobs[cls] = [_job(cfg, source.files[cls][k], root / _safe(cls) / _out_name(k, source.files[cls][k], keep_png=True), None, max_side)
                     for k in order]
    with one_at_a_time(_lock_for(root), f"preparing {name}"):
        usable, skipped = _take_usable(cfg, jobs, per_class, f"preparing {name}")
    paths, labels, rows = [], [], []
    for i, cls in enumerate(source.classes):
        if len(usable[cls]) < per_class:
            _shortfall(cfg, f"load_labelled({name!r})", cls, per_class, len(usable[cls]), source, len(skipped[cls]))
        paths += [Path(r.dst) for r in usable[cls]]
        labels += [i] * len(usable[cls])
        names = {str(path): key for key, path in source.files[cls].items()}
        rows += [(cls, names[r.src]) for r in usable[cls]]
    manifests.record(f"{name} ({per_class} a class)", source.name, cfg.seed, rows,
                     archives=source.extra.get("archives"), synthetic=source.synthetic)
    return Split(paths, np.asarray(labels, dtype=np.int64), source.classes, name,
                 "synthetic" if source.synthetic else source.name,
                 {"note": source.note, "synthetic": source.synthetic, "root": str(source.root)})


def load_other_pool(cfg: Config, n: int) -> list[Path]:
    """``n`` unlabelled non-pet images, resized exactly like the pets (same size, same
    padding: a student must not be able to tell "pet" from "other" by the borders).

    Seeded, and nested: the pool for a smaller ``n`` is a prefix of the pool for a larger one.
    """
    if n <= 0:
        return []
    source = other_source(cfg, n)
    size = image_hw(cfg)
    root = Path(cfg.work_dir) / "other" / f"{source.name}-{size[0]}x{size[1]}-{cfg.resize_mode}-{_content_key(cfg, source, size)}"
    order = seeded_order(list(source.files["other"]), cfg.seed, "other")
    jobs = {"other": [_job(cfg, source.files["other"][k], root / "images" / _out_name(k, source.files["other"][k]), size) for k in order]}
    with one_at_a_time(_lock_for(root), "preparing the other pool"):
        usable, skipped = _take_usable(cfg, jobs, n, f"preparing other pool ({source.name})")
    if len(usable["other"]) < n:
        _shortfall(cfg, "The other pool", None, n, len(usable["other"]), source, len(skipped["other"]))
    names = {str(path): key for key, path in source.files["other"].items()}
    manifests.record(f"other ({n} images)", source.name, cfg.seed,
                     (("other", names[r.src]) for r in usable["other"]),
                     archives=source.extra.get("archives"), synthetic=source.synthetic)
    return [Path(r.dst) for r in usable["other"]]
