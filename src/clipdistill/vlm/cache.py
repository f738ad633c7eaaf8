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
wrote counts at once. Every record carries its key (``id = record_id(image, describer,
prompt)``, with those three beside it) and a checksum of its content (``sum``). A record
whose checksum fails (a flipped byte), whose id is not its own content's (another version's
keys, or a line pasted from elsewhere), or that is cut short or unreadable is never used:
:func:`merge` moves it into ``<cache>.jsonl.set-aside`` with the reason, says so in one
line, and the next run describes the image again. The worst a lost race can do is drop a
few records, which the next run regenerates: never a torn, altered or duplicated record.
"""

from __future__ import annotations

import json
import os
import time
from pathlib import Path
from typing import Any, Iterable

from ..io import atomic_write_json, atomic_write_text, exclusive_lock, stable_hash, writer_gone
from ..io import writer_id

__all__ = ["PartWriter", "load_cache", "merge", "parts_dir", "throughput", "record_id", "seal",
           "STALE_S"]

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


def record_id(image_digest: str, describer_key: str, prompt: str) -> str:
    """The cache key of one description: image bytes x describer x prompt."""
    return stable_hash("vlm-description", image_digest, describer_key, prompt, length=24)


def _sum(record: dict[str, Any]) -> str:
    return stable_hash("vlm-record", {k: v for k, v in record.items() if k != "sum"}, length=16)


def seal(record: dict[str, Any]) -> dict[str, Any]:
    """``record`` with the checksum of its content (what every written record carries)."""
    return {**record, "sum": _sum(record)}


def _problem(rec: Any) -> str | None:
    """Why a parsed line must not be used, or None."""
    if not isinstance(rec, dict) or not isinstance(rec.get("id"), str) or "text" not in rec:
        return "not a description record"
    if "sum" not in rec:
        return "no checksum (written by an older version)"
    if rec["sum"] != _sum(rec):
        return "checksum mismatch (damaged)"
    if rec["id"] != record_id(rec.get("image", ""), rec.get("describer", ""), rec.get("prompt", "")):
        return "its id is not its own content's (another version's keys, or from elsewhere)"
    return None


def _dumps(record: dict[str, Any]) -> str:
    return json.dumps(record, sort_keys=True, ensure_ascii=False) + "\n"


def _parse(path: Path) -> tuple[list[dict[str, Any]], list[tuple[str, str]], bytes]:
    """The whole, sound records of a file; the lines that are not, each with its reason;
    and a last line without its newline (cut short, or still being written)."""
    try:
        raw = path.read_bytes()
    except FileNotFoundError:
        return [], [], b""
    body, sep, tail = raw.rpartition(b"\n")
    if not sep:
        body, tail = b"", raw
    records, bad = [], []
    for line in body.splitlines():
        try:
            rec = json.loads(line)
        except ValueError:
            rec = None
        why = _problem(rec) if line.strip() else None
        if why:
            bad.append((line.decode("utf-8", "replace"), why))
        elif rec is not None:
            records.append(rec)
    return records, bad, tail


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


def _collect(cache_path: Path) -> tuple[dict[str, dict[str, Any]], bool, list[Path], int,
                                         dict[Path, tuple[list[tuple[str, str]], bytes]]]:
    """Main file first, then parts by name; the first record of an id wins. Also: was the
    main file dirty, which parts exist, how many records came from parts only, and each
    file's unsound lines and unfinished last line."""
    records: dict[str, dict[str, Any]] = {}
    main, bad, tail = _parse(cache_path)
    unsound = {cache_path: (bad, tail)}
    dirty = bool(bad or tail)
    for rec in main:
        if rec["id"] in records:
            dirty = True
        else:
            records[rec["id"]] = rec
    parts = _parts(cache_path)
    fresh = 0
    for part in parts:
        found, bad, tail = _parse(part)
        unsound[part] = (bad, tail)
        for rec in found:
            if rec["id"] not in records:
                records[rec["id"]] = rec
                fresh += 1
    return records, dirty, parts, fresh, unsound


def load_cache(path: str | os.PathLike, *, repair: bool = True) -> dict[str, dict[str, Any]]:
    """Every complete record of a cache (main file and parts), by id.

    With ``repair`` (the default) the parts are folded into the main file and a torn or
    duplicated line is dropped from it (:func:`merge`), unless another process is
    merging right now.
    """
    path = Path(path)
    records, dirty, parts, _, _ = _collect(path)
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
        records, dirty, parts, fresh, unsound = _collect(cache_path)
        done = [p for p in parts if _writer_done(p)]
        _set_aside(cache_path, {f: unsound[f] for f in (cache_path, *done)})
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


def _set_aside(cache_path: Path, unsound: dict[Path, tuple[list[tuple[str, str]], bytes]]) -> None:
    """Keep what no reader may use in ``<cache>.set-aside`` (one JSON line each, with the
    file and the reason), and say so in one line. Called under the merge lock, for files
    whose writers are done (a live part's last line may still be on its way)."""
    aside = [{"file": f.name, "reason": why, "line": line}
             for f, (bad, _) in unsound.items() for line, why in bad]
    aside += [{"file": f.name, "reason": "cut short (a write stopped mid-line)",
               "line": tail.decode("utf-8", "replace")} for f, (_, tail) in unsound.items() if tail]
    if not aside:
        return
    target = cache_path.with_name(cache_path.name + ".set-aside")
    with open(target, "a", encoding="utf-8") as fh:
        fh.write("".join(json.dumps(a, ensure_ascii=False) + "\n" for a in aside))
    reasons = sorted({a["reason"] for a in aside})
    import warnings

    warnings.warn(f"{len(aside)} line(s) of the description cache {cache_path.name} not used "
                  f"({'; '.join(reasons)}): set aside in {target.name}, those images will be "
                  "described again.", stacklevel=4)


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
        payload = "".join(_dumps(seal(r)) for r in records).encode("utf-8")
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
