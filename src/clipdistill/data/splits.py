"""Seeded, per-class splits laid out so that no evaluation image can leak into training.

For each class the usable images are shuffled once (seeded) and cut into consecutive
ranges, in this order:

1. ``knn/test``, then ``knn/train`` (and any other ``knn`` part): reserved first, so the
   final kNN evaluation images are never in any training split of any family;
2. the evaluation parts shared by every other family (``validate``, ``test``): one range
   each, as long as the largest family asks for, so ``cat_dog_1k`` and ``cat_dog_10k``
   are judged on the *same* images;
3. one ``train`` range that every family takes a prefix of, so ``cat_dog_1k/train`` is
   the first 1,000 images of ``cat_dog_10k/train`` (nested: a bigger family only adds).

Ranges never overlap, so every family is disjoint within itself and from ``knn``.
"""

from __future__ import annotations

import json
import warnings
from dataclasses import dataclass, field
from pathlib import Path
from typing import Mapping, Sequence

import numpy as np

from ..io import atomic_save_npy, atomic_write_json, atomic_write_text, stable_hash
from .errors import DataError

__all__ = ["Split", "layout", "seeded_order", "assign", "write_splits", "read_split", "split_table"]

RESERVED_FAMILY = "knn"  # the evaluation family, laid out before everything else
_EVAL_ORDER = ("validate", "test")


@dataclass
class Split:
    """One split: image paths, integer labels into ``classes``, and a name like ``knn/test``."""

    paths: list[Path]
    labels: np.ndarray
    classes: list[str]
    name: str
    source: str = ""  # where the images came from (e.g. "petimages", "synthetic")
    extra: dict = field(default_factory=dict)

    def __len__(self) -> int:
        return len(self.paths)

    def counts(self) -> dict[str, int]:
        """Images per class name."""
        return {c: int((self.labels == i).sum()) for i, c in enumerate(self.classes)}


def layout(spec: Mapping[str, Mapping[str, int]]) -> list[tuple[str, str, int, int]]:
    """``(family, part, start, stop)`` ranges into each class's shuffled list (see module doc)."""
    for fam, parts in spec.items():
        if not isinstance(parts, Mapping) or not parts:
            raise DataError(f"Split family {fam!r} must map part names to sizes, e.g. {{'train': 100}}.")
        for part, n in parts.items():
            if not isinstance(n, (int, np.integer)) or isinstance(n, bool) or n < 0:
                raise DataError(f"Split {fam}/{part} size must be a non-negative integer, got {n!r}.")
    out: list[tuple[str, str, int, int]] = []
    offset = 0
    if RESERVED_FAMILY in spec:
        parts = spec[RESERVED_FAMILY]
        for part in sorted(parts, key=lambda p: (p != "test", p != "train", p)):
            out.append((RESERVED_FAMILY, part, offset, offset + int(parts[part])))
            offset += int(parts[part])
    others = [f for f in spec if f != RESERVED_FAMILY]
    eval_parts = sorted({p for f in others for p in spec[f] if p != "train"},
                        key=lambda p: (_EVAL_ORDER.index(p) if p in _EVAL_ORDER else len(_EVAL_ORDER), p))
    for part in eval_parts:
        width = max(int(spec[f].get(part, 0)) for f in others)
        for fam in others:
            if part in spec[fam]:
                out.append((fam, part, offset, offset + int(spec[fam][part])))
        offset += width
    for fam in others:
        if "train" in spec[fam]:
            out.append((fam, "train", offset, offset + int(spec[fam]["train"])))
    return out


def seeded_order(names: list[str], seed: int, tag: str) -> list[str]:
    """``names`` shuffled by a generator seeded with ``(seed, tag)``: the same on every machine.

    Sorting first makes the order independent of how the file system listed the folder.
    """
    names = sorted(names)
    rng = np.random.default_rng(int(stable_hash(seed, tag), 16))
    return [names[i] for i in rng.permutation(len(names))]


def assign(images: Mapping[str, list[str]], spec: Mapping[str, Mapping[str, int]], seed: int,
           allow_fewer: bool = False, what: str = "usable"
           ) -> tuple[dict[tuple[str, str], dict[str, list[str]]], list[str]]:
    """Cut each class's seeded order into the ranges of :func:`layout`.

    Returns ``({(family, part): {class: [image, ...]}}, shortfalls)``. A range with fewer
    images than asked is an error naming split, class, needed and available, unless
    ``allow_fewer`` (then it takes what is left, and the shortfall is reported).
    """
    ranges = layout(spec)
    # keys in the order the reader wrote cfg.splits (the table reads top to bottom like it)
    out: dict[tuple[str, str], dict[str, list[str]]] = {(f, p): {} for f in spec for p in spec[f]}
    short: list[str] = []
    for cls in sorted(images):
        order = seeded_order(list(images[cls]), seed, f"split/{cls}")
        for fam, part, start, stop in ranges:
            needed, available = stop - start, max(0, min(stop, len(order)) - start)
            if available < needed:
                msg = (f"Split {fam}/{part} needs {needed} images of class {cls!r} but only {available} are "
                       f"available ({len(order)} {what} {cls!r} images; the splits laid out before it take "
                       f"{min(start, len(order))})")
                if not allow_fewer:
                    raise DataError(msg + ". Ask for fewer in cfg.splits, add images, or set allow_fewer=True.")
                short.append(msg + "; taking what there is (allow_fewer=True).")
            out[(fam, part)][cls] = order[start:stop]
    for msg in short:
        warnings.warn(msg, stacklevel=2)
    return out, short


def split_key(spec: Mapping, seed: int, allow_fewer: bool, images: Mapping[str, list[str]],
              outputs: Sequence[str] = ()) -> str:
    """Everything that decides the splits' content, hashed (for the splits folder name).

    ``outputs``: the prepared files the manifests name. A source file replaced under the
    same name is resized to a new output name: its splits are the same draw, written again
    so that no manifest names the old copy.
    """
    listing = {c: stable_hash(sorted(v)) for c, v in images.items()}
    named = [stable_hash(sorted(outputs))] if outputs else []
    return stable_hash("splits-v1", {f: dict(p) for f, p in spec.items()}, seed, bool(allow_fewer), listing,
                       *named)


def write_splits(folder: Path, assigned: Mapping[tuple[str, str], Mapping[str, list[str]]],
                 classes: list[str], short: list[str], spec: Mapping) -> None:
    """Per split: ``manifest.txt`` (image paths relative to the prepared folder, one a line),
    ``y_true.npy`` (int64 labels in the same order) and ``classes.json``. ``done.json`` goes
    last, so a half-written splits folder is never mistaken for a finished one."""
    for (fam, part), by_class in assigned.items():
        paths, labels = [], []
        for i, cls in enumerate(classes):
            for rel in by_class.get(cls, []):
                paths.append(rel)
                labels.append(i)
        d = folder / fam / part
        atomic_write_text(d / "manifest.txt", "".join(p + "\n" for p in paths))
        atomic_save_npy(d / "y_true.npy", np.asarray(labels, dtype=np.int64))
        atomic_write_json(d / "classes.json", classes)
    atomic_write_json(folder / "done.json", {"spec": spec, "shortfalls": short, "classes": classes,
                                             "splits": [f"{f}/{p}" for f, p in assigned]})


def read_split(folder: Path, base: Path, family: str, part: str, source: str = "") -> Split:
    """Load one split written by :func:`write_splits`; paths come back absolute."""
    d = folder / family / part
    rels = [line for line in (d / "manifest.txt").read_text().splitlines() if line]
    labels = np.load(d / "y_true.npy", allow_pickle=False).astype(np.int64)
    classes = json.loads((d / "classes.json").read_text())
    return Split([base / r for r in rels], labels, classes, f"{family}/{part}", source)


def split_table(assigned: Mapping[tuple[str, str], Mapping[str, list[str]]], classes: list[str],
                spec: Mapping[str, Mapping[str, int]]):
    """One row per split: what was asked per class, what each class got, the total."""
    import pandas as pd

    rows = []
    for (fam, part), by_class in assigned.items():
        row = {"split": f"{fam}/{part}", "family": fam, "part": part,
               "requested per class": int(spec[fam][part])}
        for cls in classes:
            row[cls] = len(by_class.get(cls, []))
        row["total"] = sum(len(v) for v in by_class.values())
        rows.append(row)
    return pd.DataFrame(rows)
