"""The description cache: one JSON Lines file the chapters read, fed by per-process parts.

Describing 120,000 images takes hours, on one machine or on many at once, and any of
them may be killed. So no process ever appends to a file another process writes:

- ``<cache>.jsonl`` is the file the chapters read: one description per line, sorted by
  record id, only ever replaced whole (temporary file + rename).
- ``<cache>.jsonl.parts/<start ns>-<host>-<pid>.live.jsonl`` belongs to one describing
  process, which appends each description the moment it arrives. When the process ends it
  renames its part to ``.jsonl`` (closed). A kill leaves a ``.live`` part behind.
- :func:`merge` folds every part into the main file (under ``<cache>.jsonl.lock``) and
  removes the parts whose writer is done: closed ones, and live ones whose process is gone
  (same machine) or that nobody touched for :data:`STALE_S` (another machine).

Readers (:func:`load_cache`) take the main file plus every part, so what a killed worker
wrote counts at once. Every record carries its own id (``record_id`` of image, describer
and prompt), so a per-record checksum can be added without a new layout. The worst a lost
race can do is drop a few records, which the next run regenerates: never a torn or
duplicated record.
"""

from __future__ import annotations

import json
import os
import time
from pathlib import Path
from typing import Any, Iterable

from ..io import atomic_write_json, atomic_write_text, exclusive_lock, writer_gone, writer_id

__all__ = ["PartWriter", "load_cache", "merge", "parts_dir", "throughput", "STALE_S"]

STALE_S = 3600.0  # a live part on another machine untouched this long is taken as abandoned
LIVE, CLOSED = ".live.jsonl", ".jsonl"
FSYNC_EVERY_S = 1.0  # a kill loses nothing written; fsync bounds what a power cut can take


def parts_dir(cache_path: str | os.PathLike) -> Path:
    path = Path(cache_path)
    return path.with_name(path.name + ".parts")


def _lock_path(cache_path: Path) -> Path:
    return cache_path.with_name(cache_path.name + ".lock")


def _timing_path(cache_path: Path) -> Path:
    return cache_path.with_name(cache_path.name + ".timing.json")


def _dumps(record: dict[str, Any]) -> str:
    return json.dumps(record, sort_keys=True, ensure_ascii=False) + "\n"


def _parse(path: Path) -> tuple[list[dict[str, Any]], bool]:
    """The whole, readable records of a file, and whether it held anything else (a torn
    last line, a blank or unreadable line)."""
    try:
        raw = path.read_bytes()
    except FileNotFoundError:
        return [], False
    body, sep, tail = raw.rpartition(b"\n")
    dirty = bool(tail if sep else raw)
    records = []
    for line in (body + sep if sep else b"").splitlines():
        try:
            rec = json.loads(line)
            if not isinstance(rec.get("id"), str) or "text" not in rec:
                raise ValueError
        except (ValueError, AttributeError):
            dirty = True
            continue
        records.append(rec)
    return records, dirty


def _parts(cache_path: Path) -> list[Path]:
    folder = parts_dir(cache_path)
    return sorted(folder.glob("*.jsonl")) if folder.is_dir() else []


def _stem(part: Path) -> str:
    """``<start ns>-<host>-<pid>``: a part's name without its state."""
    name = part.name
    return name[: -len(LIVE)] if name.endswith(LIVE) else name[: -len(CLOSED)]


def _part_timing(cache_path: Path, stem: str) -> Path:
    return parts_dir(cache_path) / f"{stem}.timing.json"


def _writer_done(part: Path) -> bool:
    """Closed, or live but its writer is gone (or silent for STALE_S on another machine)."""
    if not part.name.endswith(LIVE):
        return True
    writer = _stem(part).partition("-")[2]
    gone = writer_gone(writer)
    if gone is not None:
        return gone
    try:
        return time.time() - part.stat().st_mtime > STALE_S
    except FileNotFoundError:
        return True


def _collect(cache_path: Path) -> tuple[dict[str, dict[str, Any]], bool, list[Path], int]:
    """Main file first, then parts by name; the first record of an id wins. Also: was the
    main file dirty, which parts exist, and how many records came from parts only."""
    records: dict[str, dict[str, Any]] = {}
    main, dirty = _parse(cache_path)
    for rec in main:
        if rec["id"] in records:
            dirty = True
        else:
            records[rec["id"]] = rec
    parts = _parts(cache_path)
    fresh = 0
    for part in parts:
        for rec in _parse(part)[0]:
            if rec["id"] not in records:
                records[rec["id"]] = rec
                fresh += 1
    return records, dirty, parts, fresh


def load_cache(path: str | os.PathLike, *, repair: bool = True) -> dict[str, dict[str, Any]]:
    """Every complete record of a cache (main file and parts), by id.

    With ``repair`` (the default) the parts are folded into the main file and a torn or
    duplicated line is dropped from it (:func:`merge`), unless another process is
    merging right now.
    """
    path = Path(path)
    records, dirty, parts, _ = _collect(path)
    if repair and (dirty or parts):
        merged = merge(path)
        if merged is not None:
            return merged
    return records


def merge(cache_path: str | os.PathLike, *, wait_s: float = 0.0) -> dict[str, dict[str, Any]] | None:
    """Fold the parts into the main file; return every record, or None when another
    process held the lock (merging the same files) for all of ``wait_s`` seconds.

    A describing process waits when it ends: a merge that began before its last
    descriptions arrived cannot have folded them, so the last process to finish must.
    """
    cache_path = Path(cache_path)
    deadline = time.monotonic() + wait_s
    while True:
        merged = _merge_once(cache_path)
        if merged is not None or time.monotonic() >= deadline:
            return merged
        time.sleep(0.05)


def _merge_once(cache_path: Path) -> dict[str, dict[str, Any]] | None:
    with exclusive_lock(_lock_path(cache_path)) as held:
        if not held:
            return None
        records, dirty, parts, fresh = _collect(cache_path)
        done = [p for p in parts if _writer_done(p)]
        if dirty or fresh:
            text = "".join(_dumps(records[k]) for k in sorted(records))
            atomic_write_text(cache_path, text)
        if done:
            _fold_timing(cache_path, done)
        for part in done:
            part.unlink(missing_ok=True)
        if parts and len(done) == len(parts):
            try:
                parts_dir(cache_path).rmdir()
            except OSError:  # a new writer arrived meanwhile
                pass
        return records


# -- timing: beside the cache, never in it -----------------------------------------------

def _read_timing(path: Path) -> dict[str, dict[str, float]]:
    try:
        data = json.loads(path.read_text())
    except (FileNotFoundError, ValueError):
        return {}
    return data if isinstance(data, dict) else {}


def _fold_timing(cache_path: Path, parts: Iterable[Path]) -> None:
    total = _read_timing(_timing_path(cache_path))
    sources = [_part_timing(cache_path, _stem(p)) for p in parts]
    found = [s for s in sources if s.is_file()]
    if not found:
        return
    for source in found:
        for key, entry in _read_timing(source).items():
            into = total.setdefault(key, {"images": 0, "seconds": 0.0})
            into["images"] += int(entry.get("images", 0))
            into["seconds"] += float(entry.get("seconds", 0.0))
    atomic_write_json(_timing_path(cache_path), total)
    for source in found:
        source.unlink(missing_ok=True)


def throughput(cache_path: str | os.PathLike, describer_key: str | None = None) -> dict[str, float] | None:
    """Images/s over everything this describer ever generated into ``cache_path``
    (every process's part included). Model loading is excluded; cached images count
    nothing. None when never timed."""
    cache_path = Path(cache_path)
    files = [_timing_path(cache_path)]
    if parts_dir(cache_path).is_dir():
        files += sorted(parts_dir(cache_path).glob("*.timing.json"))
    images, seconds = 0, 0.0
    for f in files:
        for key, entry in _read_timing(f).items():
            if describer_key is None or key == describer_key:
                images += int(entry.get("images", 0))
                seconds += float(entry.get("seconds", 0.0))
    if not images:
        return None
    return {"images": images, "seconds": seconds,
            "images_per_s": images / seconds if seconds else float("nan")}


# -- one process's part ------------------------------------------------------------------

class PartWriter:
    """Appends one process's descriptions to its own part file, each as it arrives.

    Opened lazily (a run that generates nothing leaves no file); :meth:`close` marks the
    part finished so the next :func:`merge` folds and removes it.
    """

    def __init__(self, cache_path: str | os.PathLike):
        self.cache_path = Path(cache_path)
        stem = f"{time.time_ns():020d}-{writer_id()}"
        self.path = parts_dir(self.cache_path) / (stem + LIVE)
        self.timing_path = _part_timing(self.cache_path, stem)
        self._fh: Any = None
        self._synced = time.monotonic()
        self._timing: dict[str, dict[str, float]] = {}
        self._timed = 0.0

    def append(self, records: Iterable[dict[str, Any]]) -> None:
        """Whole lines in one write: a kill leaves at most a torn last line, which
        readers skip."""
        payload = "".join(_dumps(r) for r in records).encode("utf-8")
        if not payload:
            return
        while self._fh is None:
            self.path.parent.mkdir(parents=True, exist_ok=True)
            try:
                self._fh = open(self.path, "ab")
            except FileNotFoundError:  # a merge removed the empty folder just now
                continue
        self._fh.write(payload)
        self._fh.flush()
        if time.monotonic() - self._synced > FSYNC_EVERY_S:
            os.fsync(self._fh.fileno())
            self._synced = time.monotonic()

    def add_timing(self, describer_key: str, images: int, seconds: float) -> None:
        """Add generation time; written beside the part at most once a second."""
        entry = self._timing.setdefault(describer_key, {"images": 0, "seconds": 0.0})
        entry["images"] += int(images)
        entry["seconds"] += float(seconds)
        if time.monotonic() - self._timed > FSYNC_EVERY_S:
            self._write_timing()

    def _write_timing(self) -> None:
        if self._timing:
            atomic_write_json(self.timing_path, self._timing)
        self._timed = time.monotonic()

    def close(self) -> None:
        """Flush, sync and mark the part closed (``.live.jsonl`` -> ``.jsonl``)."""
        self._write_timing()
        if self._fh is None:
            return
        self._fh.flush()
        os.fsync(self._fh.fileno())
        self._fh.close()
        self._fh = None
        os.replace(self.path, self.path.with_name(_stem(self.path) + CLOSED))
