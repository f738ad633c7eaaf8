"""The on-disk embedding store: content-keyed rows, streamed, safe for several writers.

Layout (all writes atomic, through :mod:`clipdistill.io`)::

    <cache_dir>/<clip.key>/model.json       what the key stands for (name, weights, preprocessing)
    <cache_dir>/<clip.key>/images/          the image rows; texts/ the same for texts
        part-<host>-<pid>-<hash>.npz        one batch: keys (sha1 hex), emb (N, D) float32
        seg-<hash>/keys.npy, emb.npy        many batches merged: keys as 20-byte digests,
                                            sorted and unique; emb row i is keys[i]'s

Why two kinds: a batch must be on disk the moment it is computed (a killed run resumes
from it), and a part is one small file written whole. Thousands of parts would make every
lookup open thousands of files, so :meth:`EmbeddingStore.merge` folds them into a
*segment*, and folds segments of similar size together (each row is rewritten about
log16(rows / 2048) times). Nothing holds every row in memory: a lookup reads only the keys
(20 bytes a row) and then only the rows it needs; merging streams sorted segments a block
at a time. Parts are immutable files, so any process may fold any of them; a lock file
keeps two processes from folding the same ones (on a shared filesystem too). Every row
sits beside its key, so a per-row checksum can be added later without a new layout.

``clip.key`` covers the architecture, the weights (tag source, checkpoint bytes or the
seed of random weights), the preprocessing, the precision, the autocast dtype and the CPU
kernels, so a different model or preprocessing never reads another's rows. Stores written
before segments existed (``part-<hash>.npz``, ``merged-<hash>.npz``) are read as they are
and folded into segments by the first merge.
"""

from __future__ import annotations

import io as _io
import os
import shutil
import threading
from pathlib import Path
from typing import Any, Iterator, Sequence

import numpy as np

from ..io import atomic_dir, atomic_write_bytes, atomic_write_json, bytes_digest, exclusive_lock
from ..io import stable_hash, writer_id

__all__ = ["EmbeddingStore", "store_for", "cache_dir_for", "content_digest", "text_digest",
           "MERGE_ABOVE", "TIER_WIDTH"]

MERGE_ABOVE = 64  # parts (batch files) before a merge folds them into a segment
TIER_WIDTH = 16  # segments of one size tier before they are merged into one
MERGE_BUFFER_BYTES = 16 << 20  # rows held per merge, over all inputs together
KEY = np.dtype("S20")  # a sha1 digest, raw
content_digest = bytes_digest  # an image's cache key: the hash of its bytes (== io.file_digest)


def text_digest(text: str) -> str:
    """A prompt's or description's cache key: the hash of its UTF-8 bytes."""
    return content_digest(text.encode("utf-8"))


def cache_dir_for(cfg: Any) -> Path:
    """Where a chapter keeps embeddings: ``<work_dir>/embeddings`` (shared by profiles)."""
    return Path(cfg.work_dir) / "embeddings"


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


# -- one file's keys and rows ----------------------------------------------------------

class _File:
    """Keys of one part or segment, sorted (``order`` maps back to file rows for parts)."""

    def __init__(self, path: Path, dim: int):
        self.path = path
        self.segment = path.is_dir()
        if self.segment:
            keys = np.load(path / "keys.npy", allow_pickle=False)  # 20 bytes a row
            rows = _npy_shape(path / "emb.npy")
            if keys.dtype != KEY or keys.ndim != 1 or rows != (len(keys), dim):
                raise ValueError(f"segment keys {keys.shape} do not match its rows {rows}")
            self.keys, self.order = keys, None
        else:
            with np.load(path, allow_pickle=False) as z:
                hexkeys, shape = z["keys"], z["emb"].shape
            if len(shape) != 2 or shape != (len(hexkeys), dim):
                raise ValueError(f"part shape {shape} does not match {len(hexkeys)} keys x {dim}")
            self.keys, self.order = _sorted_unique(to_raw(hexkeys.tolist()))

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


def _npy_shape(path: Path) -> tuple[int, ...]:
    with open(path, "rb") as fh:
        return _read_header(fh)


class _Reader:
    """A sorted source read a block at a time: a segment from disk, a part from memory
    (parts are one batch; an old ``merged-*.npz`` is read whole, once, when folded)."""

    def __init__(self, path: Path, dim: int):
        self.path = path
        self.segment = path.is_dir()
        self.pos = 0
        self.keys = np.empty(0, KEY)
        self.start = 0  # file position of self.keys[0]
        if self.segment:
            self._kfh = open(path / "keys.npy", "rb")
            self._koff = _data_offset(self._kfh)
            self._efh = open(path / "emb.npy", "rb")
            self._eoff = _data_offset(self._efh)
            self.n = _npy_shape(path / "keys.npy")[0]
        else:
            with np.load(path, allow_pickle=False) as z:
                hexkeys, self._emb = z["keys"], z["emb"]
            if self._emb.shape != (len(hexkeys), dim):
                raise ValueError(f"part shape {self._emb.shape} does not match {len(hexkeys)} keys x {dim}")
            self._all, self._order = _sorted_unique(to_raw(hexkeys.tolist()))
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

    def close(self) -> None:
        if self.segment:
            self._kfh.close()
            self._efh.close()


def _data_offset(fh: Any) -> int:
    _read_header(fh)
    return fh.tell()


def _merge_blocks(readers: list[_Reader], block: int) -> Iterator[tuple[np.ndarray, np.ndarray, np.ndarray]]:
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


# -- the store ---------------------------------------------------------------------------

class EmbeddingStore:
    """Content-keyed rows: batches appended as parts, merged into sorted segments.

    ``contains`` and ``fetch`` read keys (20 bytes a row, remembered per file while the
    file lasts) and then only the rows asked for. ``snapshot=True`` fixes the set of
    files at the first lookup: a long run then never rereads the rows it wrote itself.
    """

    _memo: dict[str, dict[str, _File]] = {}
    _lock = threading.Lock()

    def __init__(self, folder: str | os.PathLike, dim: int, *, snapshot: bool = False) -> None:
        self.folder = Path(folder)
        self.dim = int(dim)
        self.snapshot = snapshot
        self._files: list[_File] | None = None

    # -- files ---------------------------------------------------------------------
    def _names(self) -> list[Path]:
        if not self.folder.is_dir():
            return []
        return sorted(p for p in self.folder.iterdir()
                      if (p.suffix == ".npz" and not p.name.startswith(".")) or
                      (p.name.startswith("seg-") and p.is_dir()))

    def files(self) -> list[_File]:
        """Every readable part and segment, by name (a damaged one is skipped with a warning)."""
        if self.snapshot and self._files is not None:
            return self._files
        with self._lock:
            known = self._memo.setdefault(str(self.folder), {})
            out = []
            names = self._names()
            for path in names:
                f = known.get(path.name)
                if f is None:
                    try:
                        f = known[path.name] = _File(path, self.dim)
                    except FileNotFoundError:  # merged away by another process meanwhile
                        continue
                    except Exception as exc:  # noqa: BLE001 - a damaged file costs a recompute only
                        import warnings

                        warnings.warn(f"Ignoring unreadable cache file {path}: {exc}", stacklevel=3)
                        continue
                out.append(f)
            for gone in set(known) - {p.name for p in names}:
                del known[gone]
        self._files = out
        return out

    def _locate(self, keys: Sequence[str]) -> tuple[np.ndarray, np.ndarray, list[_File]]:
        query = to_raw(list(keys))
        files = self.files()
        which = np.full(len(query), -1)
        row = np.full(len(query), -1)
        for i, f in enumerate(files):
            todo = np.flatnonzero(which < 0)
            if not len(todo):
                break
            found = f.find(query[todo])
            hit = found >= 0
            which[todo[hit]], row[todo[hit]] = i, found[hit]
        return which, row, files

    def contains(self, keys: Sequence[str]) -> np.ndarray:
        """Which keys have a row (reads keys only)."""
        return self._locate(keys)[0] >= 0 if len(keys) else np.zeros(0, bool)

    def fetch(self, keys: Sequence[str], out: np.ndarray) -> np.ndarray:
        """Fill ``out[i]`` with the row of ``keys[i]`` where there is one; return which."""
        if not len(keys):
            return np.zeros(0, bool)
        for attempt in (0, 1):
            which, row, files = self._locate(keys)
            try:
                for i in np.unique(which[which >= 0]):
                    at = np.flatnonzero(which == i)
                    out[at] = files[i].rows(row[at])
                return which >= 0
            except FileNotFoundError:  # merged away between the lookup and the read
                if attempt or self.snapshot:
                    raise
        raise AssertionError("unreachable")  # pragma: no cover

    def __len__(self) -> int:
        return len(self.keys())

    def keys(self) -> list[str]:
        """Every key with a row (hex), once each."""
        raw = [f.keys for f in self.files()]
        return to_hex(np.unique(np.concatenate(raw))) if raw else []

    def load(self) -> dict[str, np.ndarray]:
        """key -> row for everything: for small stores and inspection only (the engine
        never holds every row)."""
        keys = self.keys()
        out = np.empty((len(keys), self.dim), np.float32)
        self.fetch(keys, out)
        return dict(zip(keys, out))

    # -- writing -------------------------------------------------------------------
    def put(self, keys: Sequence[str], emb: np.ndarray) -> Path:
        """Write one part (atomically) and return its path."""
        emb = np.ascontiguousarray(emb, dtype=np.float32)
        if emb.shape != (len(keys), self.dim):
            raise ValueError(f"shard shape {emb.shape} does not match {len(keys)} keys x {self.dim}")
        to_raw(list(keys))  # fail now on a key that is not a digest, not at the next read
        name = f"part-{writer_id()}-{stable_hash(list(keys), length=20)}.npz"
        buf = _io.BytesIO()
        np.savez(buf, keys=np.asarray(keys, dtype=str), emb=emb)
        return atomic_write_bytes(self.folder / name, buf.getbuffer())  # a view: no second copy

    def merge(self, above: int | None = None) -> bool:
        """Fold parts into a segment once there are more than ``above`` (default
        :data:`MERGE_ABOVE`) or an old merged file is there, then merge segment tiers that
        have :data:`TIER_WIDTH` members. Streams: holds one block of each input, never a
        store's keys or rows. Returns False when another process holds the store's lock
        (it is merging the same files)."""
        with exclusive_lock(self.folder.with_name(self.folder.name + ".lock")) as held:
            if not held:
                return False
            parts = [p for p in self._names() if not p.is_dir()]
            legacy = any(p.name.startswith("merged-") for p in parts)
            if parts and (legacy or len(parts) > (MERGE_ABOVE if above is None else above)):
                self._write_segment(parts)
            while True:
                tiers: dict[int, list[Path]] = {}
                for path in self._names():
                    if path.is_dir():
                        tiers.setdefault(_tier(_npy_shape(path / "keys.npy")[0]), []).append(path)
                full = next((t for _, t in sorted(tiers.items()) if len(t) >= TIER_WIDTH), None)
                if full is None:
                    return True
                self._write_segment(full)

    def _write_segment(self, sources: list[Path]) -> None:
        """Merge ``sources`` (sorted streams) into one new segment, then remove them."""
        readers = []
        for path in sources:
            try:
                readers.append(_Reader(path, self.dim))
            except Exception:  # noqa: BLE001 - gone, or damaged: left where it is
                continue
        block = max(64, MERGE_BUFFER_BYTES // (max(len(readers), 1) * (self.dim * 4 + KEY.itemsize)))
        try:
            total = sum(len(k) for k, _, _ in _merge_blocks(readers, block))
            for r in readers:
                r.pos = 0
            name = f"seg-{stable_hash([r.path.name for r in readers], length=20)}"
            with atomic_dir(self.folder / name) as tmp:
                with open(tmp / "keys.npy", "wb") as kf, open(tmp / "emb.npy", "wb") as ef:
                    _npy_header(kf, KEY, (total,))
                    _npy_header(ef, np.dtype(np.float32), (total, self.dim))
                    for keys, src, local in _merge_blocks(readers, block):
                        rows = np.empty((len(keys), self.dim), np.float32)
                        for i, r in enumerate(readers):
                            at = np.flatnonzero(src == i)
                            rows[at] = r.take_rows(local[at], self.dim)
                        kf.write(keys.tobytes())
                        ef.write(rows.tobytes())
                    for fh in (kf, ef):
                        fh.flush()
                        os.fsync(fh.fileno())
        finally:
            for r in readers:
                r.close()
        for r in readers:  # the segment holds every row now
            if r.segment:
                shutil.rmtree(r.path, ignore_errors=True)
            else:
                r.path.unlink(missing_ok=True)


def _tier(rows: int) -> int:
    """Segments within a factor TIER_WIDTH of each other share a tier."""
    base = 2048
    tier = 0
    while rows > base:
        base *= TIER_WIDTH
        tier += 1
    return tier


def _npy_header(fh: Any, dtype: np.dtype, shape: tuple[int, ...]) -> None:
    np.lib.format.write_array_header_1_0(fh, {"descr": np.lib.format.dtype_to_descr(dtype),
                                              "fortran_order": False, "shape": shape})


def store_for(cache_dir: str | os.PathLike | None, clip: Any, kind: str, *,
              snapshot: bool = False) -> EmbeddingStore | None:
    """``clip``'s store of ``kind`` ("images" or "texts") under ``cache_dir`` (None: no cache)."""
    if cache_dir is None:
        return None
    root = Path(cache_dir) / clip.key
    meta = root / "model.json"
    if not meta.is_file():
        atomic_write_json(meta, {
            "key": clip.key, "name": clip.name, "pretrained": clip.pretrained,
            "random_weights": clip.random_weights, "backend": clip.backend,
            "precision": clip.precision, "amp": str(clip.amp_dtype), "embed_dim": clip.embed_dim,
            **{k: v for k, v in clip.info.items() if k != "params"},
        })
    return EmbeddingStore(root / kind, clip.embed_dim, snapshot=snapshot)
