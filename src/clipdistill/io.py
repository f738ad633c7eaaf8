"""Small file primitives shared by every cache: atomic writes and content hashes.

A run may be killed at any moment (Ctrl-C, a papermill timeout, a full disk); writing to a
temporary file and renaming it means a reader only ever sees a whole file or none.
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import os
import shutil
import tempfile
from pathlib import Path
from typing import Any, Iterable, Iterator

import numpy as np

__all__ = [
    "atomic_path",
    "atomic_dir",
    "atomic_write_bytes",
    "atomic_write_text",
    "atomic_write_json",
    "atomic_save_npy",
    "file_digest",
    "bytes_digest",
    "array_digest",
    "stable_hash",
    "writer_id",
    "writer_gone",
    "exclusive_lock",
    "one_at_a_time",
    "SET_ASIDE",
    "set_aside",
]


@contextlib.contextmanager
def atomic_path(path: str | os.PathLike, suffix: str = ".tmp") -> Iterator[Path]:
    """A temporary file beside ``path`` that becomes ``path`` when the block ends normally.

    For writers that need a real file to fill (a memory map, a library's ``save``); an
    exception or a kill leaves ``path`` as it was and removes the temporary file.
    """
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=suffix)
    os.close(fd)
    try:
        yield Path(tmp)
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


@contextlib.contextmanager
def atomic_dir(path: str | os.PathLike) -> Iterator[Path]:
    """A temporary folder beside ``path`` that is renamed to ``path`` when the block ends.

    If another process created ``path`` meanwhile, its copy is kept (both built the same
    thing); either way the temporary folder is gone afterwards.
    """
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = Path(tempfile.mkdtemp(dir=path.parent, prefix=f".{path.name}."))
    try:
        yield tmp
        try:
            os.replace(tmp, path)
        except OSError:
            if not path.is_dir():
                raise
    finally:
        shutil.rmtree(tmp, ignore_errors=True)


def atomic_write_bytes(path: str | os.PathLike, data: bytes) -> Path:
    """Write ``data`` to ``path`` so that the file is either complete or absent."""
    with atomic_path(path) as tmp, open(tmp, "wb") as fh:
        fh.write(data)
        fh.flush()
        os.fsync(fh.fileno())
    return Path(path)


def atomic_write_text(path: str | os.PathLike, text: str) -> Path:
    return atomic_write_bytes(path, text.encode("utf-8"))


def atomic_write_json(path: str | os.PathLike, obj: Any) -> Path:
    return atomic_write_text(path, json.dumps(obj, indent=2, sort_keys=True, default=_jsonable) + "\n")


def atomic_save_npy(path: str | os.PathLike, array: np.ndarray) -> Path:
    import io as _io

    buf = _io.BytesIO()
    np.save(buf, np.asarray(array), allow_pickle=False)
    return atomic_write_bytes(path, buf.getvalue())


def file_digest(path: str | os.PathLike, algo: str = "sha1", chunk: int = 1 << 20) -> str:
    """Hash of a file's bytes: the cache key of an image is its content, not its name."""
    h = hashlib.new(algo)
    with open(path, "rb") as fh:
        while block := fh.read(chunk):
            h.update(block)
    return h.hexdigest()


def bytes_digest(data: bytes, algo: str = "sha1") -> str:
    """Hash of bytes already in memory; equals :func:`file_digest` of a file holding them."""
    return hashlib.new(algo, data).hexdigest()


def array_digest(a: np.ndarray) -> str:
    """Content hash of a float32 array, shape included (cache keys that depend on embeddings)."""
    a = np.ascontiguousarray(a, dtype=np.float32)
    return hashlib.sha1(a.tobytes()).hexdigest() + str(a.shape)


def stable_hash(*parts: Any, length: int = 16) -> str:
    """Deterministic short hash of JSON-able parts (dict order does not matter)."""
    payload = json.dumps(parts, sort_keys=True, default=_jsonable, separators=(",", ":"))
    return hashlib.sha256(payload.encode("utf-8")).hexdigest()[:length]


def _jsonable(obj: Any) -> Any:
    if isinstance(obj, (np.integer,)):
        return int(obj)
    if isinstance(obj, (np.floating,)):
        return float(obj)
    if isinstance(obj, np.ndarray):
        return obj.tolist()
    if isinstance(obj, Path):
        return str(obj)
    if isinstance(obj, (set, frozenset)):
        return sorted(obj)
    raise TypeError(f"not JSON serialisable: {type(obj).__name__}")


def chunked(items: Iterable[Any], size: int) -> Iterable[list[Any]]:
    batch: list[Any] = []
    for item in items:
        batch.append(item)
        if len(batch) == size:
            yield batch
            batch = []
    if batch:
        yield batch


# -- several writers, several machines ---------------------------------------------------

def writer_id() -> str:
    """``<host>-<pid>``: which process wrote a file, for :func:`writer_gone` to judge later."""
    import socket

    host = "".join(c if c.isalnum() or c in "._" else "_" for c in socket.gethostname()) or "host"
    return f"{host}-{os.getpid()}"


def writer_gone(writer: str) -> bool | None:
    """True when the process named by :func:`writer_id` has ended, False while it runs,
    None when it ran on another machine (a shared filesystem cannot tell)."""
    host, _, pid = writer.rpartition("-")
    if host != writer_id().rpartition("-")[0] or not pid.isdigit():
        return None
    try:
        os.kill(int(pid), 0)
    except ProcessLookupError:
        return True
    except PermissionError:  # alive, someone else's
        return False
    return False


@contextlib.contextmanager
def exclusive_lock(path: str | os.PathLike, *, stale_s: float = 600.0) -> Iterator[bool]:
    """Hold ``path`` as a lock file, or learn that someone else does; never blocks.

    Why a file created with ``O_EXCL`` and not ``flock``: the creation is atomic on local
    filesystems and on NFS v3 and later, where ``flock`` between machines is not
    dependable. Yields True when this process holds the lock (removed when the block
    ends), False when another does. A lock whose holder was killed is broken: at once on
    the same machine, after ``stale_s`` seconds without a touch elsewhere. Best effort:
    callers use it to avoid wasted work, and stay correct without it.
    """
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    held = _try_create(path)
    if not held and _lock_is_stale(path, stale_s):
        with contextlib.suppress(FileNotFoundError):
            os.unlink(path)
        held = _try_create(path)
    try:
        yield held
    finally:
        if held:
            with contextlib.suppress(FileNotFoundError):
                os.unlink(path)


@contextlib.contextmanager
def one_at_a_time(path: str | os.PathLike, what: str, *, poll_s: float = 2.0,
                  stale_s: float = 600.0) -> Iterator[None]:
    """Run the block once this process holds ``path`` (:func:`exclusive_lock`), waiting
    for any other holder to finish first, and say once that it is waiting.

    For work several processes may start at once on a shared disk, such as an array of
    jobs that all find the images unprepared: one resizes them, the others wait, then
    find the files written and skip them. The work inside must be safe to repeat (it is,
    with atomic writes): a lock broken as stale means two may run it at once.
    """
    import time

    told = False
    while True:
        with exclusive_lock(path, stale_s=stale_s) as held:
            if held:
                yield
                return
        if not told:
            print(f"Waiting for another process {what} (it holds {path}).", flush=True)
            told = True
        time.sleep(poll_s)


def _try_create(path: Path) -> bool:
    try:
        fd = os.open(path, os.O_CREAT | os.O_EXCL | os.O_WRONLY, 0o644)
    except FileExistsError:
        return False
    with os.fdopen(fd, "w") as fh:
        fh.write(writer_id())
    return True


def _lock_is_stale(path: Path, stale_s: float) -> bool:
    import time

    try:
        holder = path.read_text().strip()
        age = time.time() - path.stat().st_mtime
    except (FileNotFoundError, OSError):
        return False  # released meanwhile: the next attempt decides
    gone = writer_gone(holder)
    return bool(gone) or (gone is None and age > stale_s)


# -- entries a cache must not use ---------------------------------------------------------

SET_ASIDE = "set-aside"  # beside a cache's files: what failed its check, kept for a look


def set_aside(path: str | os.PathLike, what: str) -> Path | None:
    """Move a damaged, truncated or foreign cache file (or folder) into ``set-aside/``
    beside it and say so in one line; its entries are then computed again, never used.

    ``what`` says what was wrong (``"3 rows fail their checksum"``). Returns where it
    went, or None when another process moved (or merged) it first.
    """
    import time
    import warnings

    path = Path(path)
    dest = path.parent / SET_ASIDE / f"{time.strftime('%Y%m%dT%H%M%S')}-{os.getpid()}-{path.name}"
    dest.parent.mkdir(parents=True, exist_ok=True)
    try:
        os.replace(path, dest)
    except FileNotFoundError:
        return None
    warnings.warn(f"Cache file {path} not used: {what}; set aside in {dest.parent}, its entries "
                  "will be computed again.", stacklevel=2)
    return dest
