"""Checksums for the embedding store: a damaged, truncated or foreign row is never used.

Every row is written with an 8-byte BLAKE2b of its key and its float32 bytes, keyed by
the store's identity (``<clip.key>/images`` or ``/texts``). A lookup recomputes the sums
of the rows it reads, so a flipped byte, a row cut short, or a file copied in from another
model's store (or written before rows had sums) fails its check. The file is then set
aside (:func:`clipdistill.io.set_aside`, one line of warning) and its rows count as
misses, computed again. Merging copies rows with the sums they were written with, so a
bad row stays detectable wherever it moves.
"""

from __future__ import annotations

import hashlib
import os
from pathlib import Path

import numpy as np

__all__ = ["SUM", "store_identity", "row_sums", "npy_size_problem"]

SUM = np.dtype("<u8")  # one checksum a row


def store_identity(folder: str | os.PathLike) -> bytes:
    """The key every row's checksum is made with: which model and kind the store holds."""
    folder = Path(folder)
    return hashlib.blake2b(f"{folder.parent.name}/{folder.name}".encode(), digest_size=32).digest()


def row_sums(identity: bytes, raw_keys: np.ndarray, emb: np.ndarray) -> np.ndarray:
    """One checksum per row of ``emb`` (float32) and its 20-byte key."""
    keys = np.ascontiguousarray(raw_keys).view(np.uint8).reshape(len(raw_keys), -1)
    rows = np.ascontiguousarray(emb, dtype=np.float32)
    out = np.empty(len(rows), SUM)
    for i in range(len(rows)):
        digest = hashlib.blake2b(keys[i].tobytes(), digest_size=8, key=identity)
        digest.update(rows[i].tobytes())
        out[i] = int.from_bytes(digest.digest(), "little")
    return out


def npy_size_problem(path: Path, offset: int, shape: tuple[int, ...], itemsize: int) -> str | None:
    """Why a ``.npy`` file is shorter or longer than its header says, or None."""
    want = offset + int(np.prod(shape, dtype=np.int64)) * itemsize
    got = path.stat().st_size
    if got != want:
        return f"{path.name} holds {got:,} bytes, its header says {want:,} (cut short?)"
    return None
