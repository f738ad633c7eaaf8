"""The on-disk embedding store: content-keyed rows in small ``.npz`` shards.

Layout (all writes atomic, through :mod:`clipdistill.io`)::

    <cache_dir>/<clip.key>/model.json         what the key stands for (name, weights, preprocessing)
    <cache_dir>/<clip.key>/images/*.npz       shards: keys (sha1 of the file bytes), emb (N, D) float32
    <cache_dir>/<clip.key>/texts/*.npz        shards: keys (sha1 of the UTF-8 text), emb (N, D) float32

``clip.key`` covers the architecture, the weights (tag source, checkpoint bytes or the
seed of random weights), the preprocessing, the precision, the autocast dtype and the CPU
kernels, so a different model or preprocessing never reads another's rows. Each batch adds
one small shard; many shards are merged into one when a call ends.
"""

from __future__ import annotations

import io as _io
import os
import threading
from pathlib import Path
from typing import Any, Sequence

import numpy as np

from ..io import atomic_write_bytes, atomic_write_json, bytes_digest, stable_hash

__all__ = ["EmbeddingStore", "store_for", "cache_dir_for", "content_digest", "text_digest", "MERGE_ABOVE"]

MERGE_ABOVE = 64  # shards per store before a call merges them into one file
content_digest = bytes_digest  # an image's cache key: the hash of its bytes (== io.file_digest)


def text_digest(text: str) -> str:
    """A prompt's or description's cache key: the hash of its UTF-8 bytes."""
    return content_digest(text.encode("utf-8"))


def cache_dir_for(cfg: Any) -> Path:
    """Where a chapter keeps embeddings: ``<work_dir>/embeddings`` (shared by profiles)."""
    return Path(cfg.work_dir) / "embeddings"


class EmbeddingStore:
    """Content-keyed rows in small ``.npz`` shards; a shard is written whole or not at all.

    Readers in the same process keep what they loaded and only read shards that appeared
    since, so asking again is cheap.
    """

    _memo: dict[str, tuple[frozenset[str], dict[str, np.ndarray]]] = {}
    _lock = threading.Lock()

    def __init__(self, folder: str | os.PathLike, dim: int) -> None:
        self.folder = Path(folder)
        self.dim = int(dim)

    def _shards(self) -> list[Path]:
        return sorted(self.folder.glob("*.npz")) if self.folder.is_dir() else []

    def load(self) -> dict[str, np.ndarray]:
        """key -> float32 row, for everything stored so far."""
        with self._lock:
            names, rows = self._memo.get(str(self.folder), (frozenset(), {}))
            shards = self._shards()
            current = frozenset(p.name for p in shards)
            if not names <= current:  # shards vanished (merged, or the cache was wiped): reread all
                names, rows = frozenset(), {}
            rows = dict(rows)
            for path in shards:
                if path.name in names:
                    continue
                try:
                    with np.load(path, allow_pickle=False) as z:
                        keys, emb = z["keys"], z["emb"]
                except FileNotFoundError:  # merged away by another process meanwhile
                    continue
                except Exception as exc:  # noqa: BLE001 - a damaged shard costs a recompute only
                    import warnings

                    warnings.warn(f"Ignoring unreadable cache shard {path}: {exc}", stacklevel=2)
                    continue
                if emb.ndim != 2 or emb.shape[1] != self.dim or len(keys) != len(emb):
                    continue
                for k, row in zip(keys.tolist(), emb):
                    rows[k] = row
            self._memo[str(self.folder)] = (current, rows)
            return rows

    def put(self, keys: Sequence[str], emb: np.ndarray) -> Path:
        """Write one shard (atomically) and return its path."""
        emb = np.ascontiguousarray(emb, dtype=np.float32)
        if emb.shape != (len(keys), self.dim):
            raise ValueError(f"shard shape {emb.shape} does not match {len(keys)} keys x {self.dim}")
        name = f"part-{stable_hash(list(keys), length=20)}.npz"
        return self._write(self.folder / name, list(keys), emb)

    @staticmethod
    def _write(path: Path, keys: list[str], emb: np.ndarray) -> Path:
        buf = _io.BytesIO()
        np.savez(buf, keys=np.asarray(keys, dtype=str), emb=emb)
        return atomic_write_bytes(path, buf.getbuffer())  # a view: no second copy of the file

    def merge(self, above: int | None = None) -> None:
        """Fold many shards into one (written first, then the parts removed).

        Streams: the keys are read first to size the merged matrix, then one shard's rows
        at a time are copied into it, so the peak is one matrix (plus its file image), not
        a row dict, a stacked copy and two serialised copies.
        """
        shards = self._shards()
        if len(shards) <= (MERGE_ABOVE if above is None else above):
            return
        listed: list[tuple[Path, list[str]]] = []
        for path in shards:
            try:
                with np.load(path, allow_pickle=False) as z:
                    listed.append((path, z["keys"].tolist()))
            except Exception:  # noqa: BLE001 - leave what cannot be read where it is
                continue
        keys = sorted({k for _, ks in listed for k in ks})
        if not keys:
            return
        where = {k: i for i, k in enumerate(keys)}
        emb = np.empty((len(keys), self.dim), dtype=np.float32)
        filled = np.zeros(len(keys), dtype=bool)
        merged_parts = []
        for path, ks in listed:
            try:
                with np.load(path, allow_pickle=False) as z:
                    part = z["emb"]
            except Exception:  # noqa: BLE001 - vanished (merged by another process) or damaged
                continue
            if part.ndim != 2 or part.shape != (len(ks), self.dim):
                continue  # load() ignores it too; leave it where it is
            rows = [where[k] for k in ks]
            emb[rows] = part  # a key in several shards: the later one wins, as load() does
            filled[rows] = True
            merged_parts.append(path)
        if not filled.all():  # keys whose shard went away between the two passes
            keys = [k for k, f in zip(keys, filled) if f]
            emb = emb[filled]
        if not keys:
            return
        merged = self.folder / f"merged-{stable_hash(keys, length=20)}.npz"
        self._write(merged, keys, emb)
        for path in merged_parts:
            if path != merged:
                path.unlink(missing_ok=True)

    def __len__(self) -> int:
        return len(self.load())


def store_for(cache_dir: str | os.PathLike | None, clip: Any, kind: str) -> EmbeddingStore | None:
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
    return EmbeddingStore(root / kind, clip.embed_dim)
