"""The students' images, decoded once: uint8 squares in memory-mapped chunk files.

Every run of a sweep reads the same images from ``work_dir/distill/images/``, so an epoch
costs the network, not JPEG decoding. A list of images is stored in *content-defined*
chunks: a chunk ends after every path whose hash is 0 modulo ``CHUNK_AVG`` (or at
``CHUNK_MAX`` images), and is named by its own files. Lists that share a run of paths
(the 1K extra pool inside the 10K one, the same train split in every cell of the sweep)
therefore share those chunks on disk, and the 100K extra pool is stored once, not once per
cell. Each chunk is written atomically, so an interrupted decode loses at most one chunk.
"""

from __future__ import annotations

import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Iterator, Sequence

import numpy as np

from ..io import atomic_path, stable_hash
from ..progress import progress_bar

__all__ = ["ImageStore", "image_store", "store_dir", "iter_batches", "CHUNK_AVG", "CHUNK_MAX"]

STORE_VERSION = 1
CHUNK_AVG = 512
CHUNK_MAX = 4 * CHUNK_AVG


def store_dir(work_dir: str | os.PathLike) -> Path:
    """Where every distillation run keeps its decoded images (shared by all runs)."""
    return Path(work_dir) / "distill" / "images"


def _load_square(path: str | os.PathLike, size: int) -> np.ndarray:
    """An RGB image as a ``size`` x ``size`` uint8 array (chapter 01's safe loader; the
    shorter side is fitted and the centre kept, like CLIP's own preprocessing)."""
    from ..data.images import fit, open_rgb

    im, _ = open_rgb(path, draft=(size, size))
    return np.asarray(fit(im, size, mode="crop"), dtype=np.uint8)


def _files_key(paths: Sequence[str | os.PathLike]) -> list[Any]:
    """Identify files by path, size and modification time (data prep writes atomically,
    so a changed image has a new mtime); cheaper than hashing 100k images' bytes."""
    out = []
    for p in paths:
        st = os.stat(p)
        out.append([str(Path(p).resolve()), st.st_size, st.st_mtime_ns])
    return out


def _chunks(keys: list[Any]) -> list[tuple[int, int]]:
    """(start, stop) spans of ``keys``, cut where a path's hash says so."""
    spans, start = [], 0
    for i, key in enumerate(keys):
        cut = int(stable_hash("cut", key[0], length=8), 16) % CHUNK_AVG == 0
        if cut or i + 1 - start >= CHUNK_MAX or i + 1 == len(keys):
            spans.append((start, i + 1))
            start = i + 1
    return spans


@dataclass
class ImageStore:
    """A list of images as uint8 (S, S, 3) squares in memory-mapped chunk files."""

    chunks: list[Path]
    sizes: list[int]
    size: int
    _maps: list[np.ndarray] | None = field(default=None, repr=False)

    @property
    def count(self) -> int:
        return int(sum(self.sizes))

    def take(self, indices: Sequence[int] | np.ndarray) -> np.ndarray:
        """Images at ``indices`` (any order) as one (B, S, S, 3) uint8 array (a copy)."""
        if self._maps is None:  # mapped lazily, once
            self._maps = [np.load(c, mmap_mode="r") for c in self.chunks]
        idx = np.asarray(indices, dtype=np.int64)
        offsets = np.cumsum([0, *self.sizes])
        which = np.searchsorted(offsets, idx, side="right") - 1
        out = np.empty((len(idx), self.size, self.size, 3), dtype=np.uint8)
        for c in np.unique(which):
            sel = which == c
            out[sel] = self._maps[c][idx[sel] - offsets[c]]
        return out


def _build_chunk(paths: Sequence[str | os.PathLike], size: int, target: Path,
                 bar: Any) -> None:
    with atomic_path(target, suffix=".npy.tmp") as tmp:
        arr = np.lib.format.open_memmap(tmp, mode="w+", dtype=np.uint8,
                                        shape=(len(paths), size, size, 3))
        for i, p in enumerate(paths):
            arr[i] = _load_square(p, size)
            bar.update(1)
        arr.flush()
        del arr


def image_store(paths: Sequence[str | os.PathLike], size: int,
                cache_dir: str | os.PathLike, *, progress: bool = True) -> ImageStore:
    """Decode ``paths`` once into cached memory-mapped chunks (each built atomically)."""
    cache_dir = Path(cache_dir)
    cache_dir.mkdir(parents=True, exist_ok=True)
    keys = _files_key(paths)
    spans = _chunks(keys)
    targets = [cache_dir / f"{stable_hash('distill-images', STORE_VERSION, size, keys[a:b])}.npy"
               for a, b in spans]
    todo = [(span, t) for span, t in zip(spans, targets) if not t.is_file()]
    if todo:
        with progress_bar(sum(b - a for (a, b), _ in todo), f"decode images ({size}px)",
                          enabled=progress, unit="img", leave=False) as bar:
            for (a, b), t in todo:
                _build_chunk(paths[a:b], size, t, bar)
    return ImageStore(chunks=targets, sizes=[b - a for a, b in spans], size=size)


def iter_batches(store: ImageStore, batch_size: int) -> Iterator[np.ndarray]:
    """Consecutive uint8 (B, S, S, 3) batches of a store, in order (for evaluation)."""
    for start in range(0, store.count, batch_size):
        yield store.take(np.arange(start, min(start + batch_size, store.count)))
