"""The embedding store's files: parts and segments, read, checked and merged.

A *part* (``part-*.npz``) is one batch as it was computed: hex keys, rows, checksums. A
*segment* (``seg-*/keys.npy, emb.npy, sums.npy``) is many batches merged: 20-byte keys,
sorted and unique, with row i of ``emb`` and ``sums`` belonging to ``keys[i]``. This
module reads either kind without loading rows it does not need (:class:`StoreFile`),
checks a segment's files agree before trusting them, and merges sorted sources into a new
segment a block at a time (:func:`write_segment`), so memory stays flat however many rows
a store holds. :class:`clipdistill.embed.store.EmbeddingStore` decides what to read and
when to merge.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any, Iterator, Sequence

import numpy as np

from ..io import atomic_dir, stable_hash
from .integrity import SUM, npy_size_problem, row_sums

__all__ = ["KEY", "StoreFile", "Unverifiable", "to_raw", "to_hex", "write_segment", "why_unreadable"]

KEY = np.dtype("S20")  # a sha1 digest, raw


def to_raw(keys: Sequence[str]) -> np.ndarray:
    """sha1 hex digests -> an (N,) array of 20-byte keys (what segments store and sort)."""
    bad = next((k for k in keys if not isinstance(k, str) or len(k) != 40), None)
    try:
        if bad is None:
            return np.frombuffer(bytes.fromhex("".join(keys)), dtype=KEY).copy()
    except ValueError:
        bad = next(k for k in keys if any(c not in "0123456789abcdefABCDEF" for c in k))
    raise ValueError(f"store keys are sha1 hex digests (40 characters), got {bad!r}.")


def to_hex(raw: np.ndarray) -> list[str]:
    """The inverse of :func:`to_raw` (through bytes: numpy drops trailing zero bytes of S20)."""
    flat = np.ascontiguousarray(raw, dtype=KEY).view(np.uint8).tobytes().hex()
    return [flat[i:i + 40] for i in range(0, len(flat), 40)]


class StoreFile:
    """Keys of one part or segment, sorted (``order`` maps back to file rows for parts)."""

    def __init__(self, path: Path, dim: int):
        self.path = path
        self.segment = path.is_dir()
        if self.segment:
            n = check_segment(path, dim)
            keys = np.load(path / "keys.npy", allow_pickle=False)  # 20 bytes a row
            self.keys, self.order, self.row_keys = keys, None, keys
            self.sums = np.load(path / "sums.npy", allow_pickle=False)  # 8 bytes a row
            if keys.dtype != KEY or self.sums.dtype != SUM or len(keys) != n:
                raise ValueError(f"segment keys {keys.dtype} or sums {self.sums.dtype} malformed")
        else:
            with np.load(path, allow_pickle=False) as z:
                hexkeys, shape = z["keys"], z["emb"].shape
                if "sums" not in z.files:
                    raise Unverifiable("written without row checksums (an older version)")
                sums = z["sums"]
            if len(shape) != 2 or shape != (len(hexkeys), dim) or sums.shape != (len(hexkeys),):
                raise ValueError(f"part shape {shape} does not match {len(hexkeys)} keys x {dim}")
            self.row_keys = to_raw(hexkeys.tolist())
            self.keys, self.order = _sorted_unique(self.row_keys)
            self.sums = sums.astype(SUM)

    def bad_rows(self, rows: np.ndarray, emb: np.ndarray, identity: bytes) -> np.ndarray:
        """Which of ``emb`` (read from file rows ``rows``) fail their checksum."""
        return row_sums(identity, self.row_keys[rows], emb) != self.sums[rows]

    def __len__(self) -> int:
        return len(self.keys)

    def find(self, query: np.ndarray) -> np.ndarray:
        """File row of each query key, -1 where absent."""
        if not len(self.keys):
            return np.full(len(query), -1)
        pos = np.minimum(np.searchsorted(self.keys, query), len(self.keys) - 1)
        hit = self.keys[pos] == query
        rows = pos if self.order is None else self.order[pos]
        return np.where(hit, rows, -1)

    def rows(self, rows: np.ndarray) -> np.ndarray:
        """Rows by file position; a segment's are read from disk, not loaded whole."""
        if self.segment:
            emb = np.load(self.path / "emb.npy", mmap_mode="r")
            return np.asarray(emb[np.sort(rows)])[np.argsort(np.argsort(rows))]
        with np.load(self.path, allow_pickle=False) as z:
            return z["emb"][rows]


def _sorted_unique(raw: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Sorted unique keys, and the row of each one's first occurrence."""
    keys, first = np.unique(raw, return_index=True)
    return keys, first


def _read_header(fh: Any) -> tuple[int, ...]:
    """An open ``.npy`` file's shape, leaving the file at its first data byte."""
    version = np.lib.format.read_magic(fh)
    read = (np.lib.format.read_array_header_1_0 if version == (1, 0)
            else np.lib.format.read_array_header_2_0)
    return tuple(read(fh)[0])


def npy_shape(path: Path) -> tuple[int, ...]:
    with open(path, "rb") as fh:
        return _read_header(fh)


class Unverifiable(ValueError):
    """A store file without row checksums: nothing it holds can be trusted."""


def check_segment(path: Path, dim: int) -> int:
    """A segment's row count, once its three files agree in shape and in size (headers
    only: a merge reads segments a block at a time)."""
    if not (path / "sums.npy").is_file() and (path / "keys.npy").is_file():
        raise Unverifiable("written without row checksums (an older version)")
    shapes = {}
    for name, itemsize in (("keys.npy", KEY.itemsize), ("emb.npy", 4), ("sums.npy", SUM.itemsize)):
        with open(path / name, "rb") as fh:
            shapes[name] = _read_header(fh)
            cut = npy_size_problem(path / name, fh.tell(), shapes[name], itemsize)
        if cut:
            raise ValueError(cut)
    n = shapes["keys.npy"][0]
    if shapes["emb.npy"] != (n, dim) or shapes["sums.npy"] != (n,):
        raise ValueError(f"segment shapes {shapes} do not agree with {n} rows x {dim}")
    return n


class Reader:
    """A sorted source read a block at a time: a segment from disk, a part from memory
    (parts are one batch; an old ``merged-*.npz`` is read whole, once, when folded)."""

    def __init__(self, path: Path, dim: int):
        self.path = path
        self.segment = path.is_dir()
        self.pos = 0
        self.keys = np.empty(0, KEY)
        self.start = 0  # file position of self.keys[0]
        if self.segment:
            self.n = check_segment(path, dim)
            self._kfh = open(path / "keys.npy", "rb")
            self._koff = _data_offset(self._kfh)
            self._efh = open(path / "emb.npy", "rb")
            self._eoff = _data_offset(self._efh)
            self._sfh = open(path / "sums.npy", "rb")
            self._soff = _data_offset(self._sfh)
        else:
            checked = StoreFile(path, dim)  # a part is one batch: read whole
            with np.load(path, allow_pickle=False) as z:
                self._emb = z["emb"]
            self._sums, self._all, self._order = checked.sums, checked.keys, checked.order
            self.n = len(self._all)

    def fill(self, block: int) -> None:
        """Hold the next ``block`` keys (fewer at the end)."""
        self.start = self.pos
        stop = min(self.pos + block, self.n)
        if self.segment:
            self._kfh.seek(self._koff + self.pos * KEY.itemsize)
            self.keys = np.fromfile(self._kfh, dtype=KEY, count=stop - self.pos)
        else:
            self.keys = self._all[self.pos:stop]

    @property
    def last_block(self) -> bool:
        return self.start + len(self.keys) >= self.n

    def take_rows(self, local: np.ndarray, dim: int) -> np.ndarray:
        """Rows of ``self.keys[local]`` (local ascending)."""
        if not len(local):
            return np.empty((0, dim), np.float32)
        if self.segment:
            lo, hi = self.start + int(local[0]), self.start + int(local[-1]) + 1
            self._efh.seek(self._eoff + lo * dim * 4)
            block = np.fromfile(self._efh, dtype=np.float32, count=(hi - lo) * dim).reshape(-1, dim)
            return block[local - (lo - self.start)]
        return self._emb[self._order[self.start + local]]

    def take_sums(self, local: np.ndarray) -> np.ndarray:
        """The checksums the rows of :meth:`take_rows` were written with (copied, never
        recomputed: a bad row stays detectable in the segment it is merged into)."""
        if not len(local):
            return np.empty(0, SUM)
        if self.segment:
            lo, hi = self.start + int(local[0]), self.start + int(local[-1]) + 1
            self._sfh.seek(self._soff + lo * SUM.itemsize)
            return np.fromfile(self._sfh, dtype=SUM, count=hi - lo)[local - (lo - self.start)]
        return self._sums[self._order[self.start + local]]

    def close(self) -> None:
        if self.segment:
            self._kfh.close()
            self._efh.close()
            self._sfh.close()


def _data_offset(fh: Any) -> int:
    _read_header(fh)
    return fh.tell()


def merge_blocks(readers: list[Reader], block: int) -> Iterator[tuple[np.ndarray, np.ndarray, np.ndarray]]:
    """K-way merge of sorted sources, a block at a time: yields (keys, source, local row
    in the source's current block), keys sorted and unique (the first source wins)."""
    for r in readers:
        r.fill(block)
    while any(len(r.keys) for r in readers):
        open_ended = [r.keys[-1] for r in readers if len(r.keys) and not r.last_block]
        bound = min(open_ended) if open_ended else None
        keys, src, local = [], [], []
        for i, r in enumerate(readers):
            cut = len(r.keys) if bound is None else int(np.searchsorted(r.keys, bound, side="right"))
            keys.append(r.keys[:cut])
            src.append(np.full(cut, i))
            local.append(np.arange(cut))
        k, s, loc = np.concatenate(keys), np.concatenate(src), np.concatenate(local)
        order = np.lexsort((s, k))  # by key, then by source: the first source's row wins
        k, s, loc = k[order], s[order], loc[order]
        first = np.ones(len(k), bool)
        first[1:] = k[1:] != k[:-1]
        yield k[first], s[first], loc[first]
        for r, taken in zip(readers, keys):  # the caller has read this block's rows
            if len(taken):
                r.pos = r.start + len(taken)
                r.fill(block)


def write_segment(folder: Path, sources: list[Path], dim: int, buffer_bytes: int,
                  set_aside: Any) -> list["Reader"]:
    """Merge ``sources`` (sorted streams) into a new segment in ``folder``, named by what it
    merged; a source that cannot be read goes to ``set_aside(path, why)`` and is left out.
    Returns the readers merged, for the caller to delete their files once it is in place."""
    readers = []
    for path in sources:
        try:
            readers.append(Reader(path, dim))
        except FileNotFoundError:  # gone meanwhile
            continue
        except Exception as exc:  # noqa: BLE001 - damaged: never merged into anything
            set_aside(path, why_unreadable(exc))
    block = max(64, buffer_bytes // (max(len(readers), 1) * (dim * 4 + KEY.itemsize)))
    try:
        total = sum(len(k) for k, _, _ in merge_blocks(readers, block))
        for r in readers:
            r.pos = 0
        name = f"seg-{stable_hash([r.path.name for r in readers], length=20)}"
        with atomic_dir(folder / name) as tmp:
            with open(tmp / "keys.npy", "wb") as kf, open(tmp / "emb.npy", "wb") as ef, \
                    open(tmp / "sums.npy", "wb") as sf:
                _npy_header(kf, KEY, (total,))
                _npy_header(ef, np.dtype(np.float32), (total, dim))
                _npy_header(sf, SUM, (total,))
                for keys, src, local in merge_blocks(readers, block):
                    rows = np.empty((len(keys), dim), np.float32)
                    sums = np.empty(len(keys), SUM)
                    for i, r in enumerate(readers):
                        at = np.flatnonzero(src == i)
                        rows[at] = r.take_rows(local[at], dim)
                        sums[at] = r.take_sums(local[at])
                    kf.write(keys.tobytes())
                    ef.write(rows.tobytes())
                    sf.write(sums.tobytes())
                for fh in (kf, ef, sf):
                    fh.flush()
                    os.fsync(fh.fileno())
    finally:
        for r in readers:
            r.close()
    return readers


def why_unreadable(exc: Exception) -> str:
    """One line on why a store file cannot be read."""
    if isinstance(exc, Unverifiable):
        return str(exc)
    return f"unreadable ({type(exc).__name__}: {str(exc).splitlines()[0][:120] if str(exc) else ''})"


def _npy_header(fh: Any, dtype: np.dtype, shape: tuple[int, ...]) -> None:
    np.lib.format.write_array_header_1_0(fh, {"descr": np.lib.format.dtype_to_descr(dtype),
                                              "fortran_order": False, "shape": shape})


