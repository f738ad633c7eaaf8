"""The on-disk embedding store: content-keyed rows, streamed, safe for several writers.

Layout (all writes atomic, through :mod:`clipdistill.io`)::

    <cache_dir>/<clip.key>/model.json       what the key stands for (name, weights, preprocessing)
    <cache_dir>/<clip.key>/images/          the image rows; texts/ the same for texts
        part-<host>-<pid>-<hash>.npz        one batch: keys (sha1 hex), emb (N, D) float32,
                                            sums (N,) a checksum a row (:mod:`.integrity`)
        seg-<hash>/keys.npy, emb.npy,       many batches merged: keys as 20-byte digests,
                   sums.npy                 sorted and unique; row i of emb and sums is keys[i]'s
        set-aside/                          files that failed a check, kept for a look

Why two kinds: a batch must be on disk the moment it is computed (a killed run resumes
from it), and a part is one small file written whole. Thousands of parts would make every
lookup open thousands of files, so :meth:`EmbeddingStore.merge` folds them into a
*segment*, and folds segments of similar size together (each row is rewritten about
log16(rows / 2048) times). Nothing holds every row in memory: a lookup reads only the keys
(20 bytes a row) and then only the rows it needs; merging streams sorted segments a block
at a time (the files' format, reading and merging live in :mod:`.segments`). Parts are
immutable files, so any process may fold any of them; a lock file
keeps two processes from folding the same ones (on a shared filesystem too). Every row
sits beside its key and its checksum: a row that fails it (a flipped byte, a file cut
short, a file from another model's store or from before rows had sums) is never used, and
its file is set aside with one line of warning (:mod:`.integrity`).

``clip.key`` covers the architecture, the weights (tag source, checkpoint bytes or the
seed of random weights), the preprocessing, the precision, the autocast dtype and the CPU
kernels, so a different model or preprocessing never reads another's rows. Stores written
before segments existed (``part-<hash>.npz``, ``merged-<hash>.npz``) are read as they are
and, having no checksums, set aside: their rows are computed again.
"""

from __future__ import annotations

import io as _io
import os
import shutil
import threading
from pathlib import Path
from typing import Any, Sequence

import numpy as np

from ..io import atomic_write_bytes, atomic_write_json, bytes_digest, exclusive_lock
from ..io import set_aside, stable_hash, writer_id
from .integrity import row_sums, store_identity
from .segments import StoreFile, npy_shape, to_hex, to_raw, why_unreadable, write_segment

__all__ = ["EmbeddingStore", "store_for", "cache_dir_for", "content_digest", "text_digest",
           "MERGE_ABOVE", "TIER_WIDTH"]

MERGE_ABOVE = 64  # parts (batch files) before a merge folds them into a segment
TIER_WIDTH = 16  # segments of one size tier before they are merged into one
MERGE_BUFFER_BYTES = 16 << 20  # rows held per merge, over all inputs together
content_digest = bytes_digest  # an image's cache key: the hash of its bytes (== io.file_digest)


def text_digest(text: str) -> str:
    """A prompt's or description's cache key: the hash of its UTF-8 bytes."""
    return content_digest(text.encode("utf-8"))


def cache_dir_for(cfg: Any) -> Path:
    """Where a chapter keeps embeddings: ``<work_dir>/embeddings`` (shared by profiles)."""
    return Path(cfg.work_dir) / "embeddings"


# -- the store ---------------------------------------------------------------------------

class EmbeddingStore:
    """Content-keyed rows: batches appended as parts, merged into sorted segments.

    ``contains`` and ``fetch`` read keys (20 bytes a row, remembered per file while the
    file lasts) and then only the rows asked for. ``snapshot=True`` fixes the set of
    files at the first lookup: a long run then never rereads the rows it wrote itself.
    """

    _memo: dict[str, dict[str, StoreFile]] = {}
    _lock = threading.Lock()

    def __init__(self, folder: str | os.PathLike, dim: int, *, snapshot: bool = False) -> None:
        self.folder = Path(folder)
        self.dim = int(dim)
        self.snapshot = snapshot
        self.identity = store_identity(self.folder)  # what every row's checksum is keyed by
        self._files: list[StoreFile] | None = None

    # -- files ---------------------------------------------------------------------
    def _names(self) -> list[Path]:
        if not self.folder.is_dir():
            return []
        return sorted(p for p in self.folder.iterdir()
                      if (p.suffix == ".npz" and not p.name.startswith(".")) or
                      (p.name.startswith("seg-") and p.is_dir()))

    def files(self) -> list[StoreFile]:
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
                        f = known[path.name] = StoreFile(path, self.dim)
                    except FileNotFoundError:  # merged away by another process meanwhile
                        continue
                    except Exception as exc:  # noqa: BLE001 - a damaged file costs a recompute only
                        set_aside(path, why_unreadable(exc))
                        continue
                out.append(f)
            for gone in set(known) - {p.name for p in names}:
                del known[gone]
        self._files = out
        return out

    def _locate(self, keys: Sequence[str]) -> tuple[np.ndarray, np.ndarray, list[StoreFile]]:
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
                    try:
                        out[at] = files[i].rows(row[at])
                    except FileNotFoundError:
                        raise
                    except Exception as exc:  # noqa: BLE001 - damaged since it was opened
                        which[at] = -1
                        self._set_aside(files[i], why_unreadable(exc))
                        continue
                    bad = files[i].bad_rows(row[at], out[at], self.identity)
                    if bad.any():  # never used: a miss, computed again
                        which[at[bad]], out[at[bad]] = -1, 0
                        self._set_aside(files[i], f"{int(bad.sum())} of the {len(at)} rows read "
                                                  "fail their checksum (damaged, or from another store)")
                return which >= 0
            except FileNotFoundError:  # merged away between the lookup and the read
                if attempt or self.snapshot:
                    raise
        raise AssertionError("unreachable")  # pragma: no cover

    def _set_aside(self, f: StoreFile, why: str) -> None:
        set_aside(f.path, why)
        with self._lock:
            self._memo.get(str(self.folder), {}).pop(f.path.name, None)
        if self._files is not None:
            self._files = [g for g in self._files if g is not f]

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
        raw = to_raw(list(keys))  # fail now on a key that is not a digest, not at the next read
        name = f"part-{writer_id()}-{stable_hash(list(keys), length=20)}.npz"
        buf = _io.BytesIO()
        np.savez(buf, keys=np.asarray(keys, dtype=str), emb=emb,
                 sums=row_sums(self.identity, raw, emb))
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
                        tiers.setdefault(_tier(npy_shape(path / "keys.npy")[0]), []).append(path)
                full = next((t for _, t in sorted(tiers.items()) if len(t) >= TIER_WIDTH), None)
                if full is None:
                    return True
                self._write_segment(full)

    def _write_segment(self, sources: list[Path]) -> None:
        """Merge ``sources`` into one new segment, then remove them."""
        readers = write_segment(self.folder, sources, self.dim, MERGE_BUFFER_BYTES, set_aside)
        for r in readers:  # the segment holds every row now
            if r.segment:  # out of readers' sight at once, then deleted file by file
                hidden = r.path.with_name(f".gone-{r.path.name}")
                try:
                    os.replace(r.path, hidden)
                except FileNotFoundError:
                    continue
                shutil.rmtree(hidden, ignore_errors=True)
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
