"""The describer protocol and the resumable JSON Lines cache every backend writes through.

Describing 20,000 images with a 7B VLM takes hours; a run will be killed at some point.
So descriptions are appended to a JSON Lines file as each batch finishes, keyed by the
image's *content*, the describer (model + generation settings) and the prompt. A rerun
reads the file, skips what is there and carries on; a line cut in half by a kill is
dropped and regenerated.
"""

from __future__ import annotations

import json
import os
import time
from pathlib import Path
from typing import Any, Iterable, Protocol, Sequence, runtime_checkable

from ..io import atomic_write_json, atomic_write_text, chunked, file_digest, stable_hash

__all__ = [
    "Describer",
    "KeyedBySettings",
    "DescribeError",
    "describe_images",
    "load_cache",
    "record_id",
    "throughput",
    "open_rgb",
]


@runtime_checkable
class Describer(Protocol):
    """Anything that turns images into one text each.

    ``key`` names the model, its weights and every generation setting: two describers
    with the same key must give the same text for the same image and prompt.
    """

    key: str

    def describe(self, paths: Sequence[Path], prompt: str) -> list[str]:
        """One text per path, in order; raise :class:`DescribeError` on failure."""
        ...


class KeyedBySettings:
    """Shared by the backends: ``settings`` lists what changes the text, ``key`` is its JSON.

    Subclasses set ``backend``, ``max_new_tokens``, ``temperature``, ``repetition_penalty``
    and ``seed``, and return their model-specific entries from ``_model_settings``.
    """

    backend: str
    max_new_tokens: int
    temperature: float
    repetition_penalty: float
    seed: int

    def _model_settings(self) -> dict[str, Any]:
        raise NotImplementedError

    @property
    def settings(self) -> dict[str, Any]:
        s = {"backend": self.backend, **self._model_settings(),
             "max_new_tokens": self.max_new_tokens, "temperature": self.temperature,
             "repetition_penalty": self.repetition_penalty}
        if self.temperature > 0:
            s["seed"] = self.seed  # sampling: the seed is part of the output
        return s

    @property
    def key(self) -> str:
        return json.dumps(self.settings, sort_keys=True, separators=(",", ":"))


class DescribeError(RuntimeError):
    """A describer gave up on some images; ``partial`` maps batch index -> text it did get.

    :func:`describe_images` saves ``partial`` before re-raising, so no finished work is lost.
    """

    def __init__(self, message: str, partial: dict[int, str] | None = None):
        super().__init__(message)
        self.partial = dict(partial or {})


def open_rgb(path: str | os.PathLike) -> "Image.Image":  # noqa: F821
    """An image as upright 8-bit RGB, via chapter 01's safe loader (EXIF, alpha, 16-bit,
    CMYK handled; a bad file raises ``data.BadImage`` with a one-line reason)."""
    from ..data.images import open_rgb as _open_rgb

    return _open_rgb(path)[0]


def record_id(image_digest: str, describer_key: str, prompt: str) -> str:
    """The cache key of one description: image bytes x describer x prompt."""
    return stable_hash("vlm-description", image_digest, describer_key, prompt, length=24)


# -- the JSON Lines file ---------------------------------------------------------------

def _lock(fh: Any) -> None:
    try:
        import fcntl

        fcntl.flock(fh.fileno(), fcntl.LOCK_EX)
    except (ImportError, OSError):  # pragma: no cover - Windows / odd filesystems
        pass


def _append_lines(path: Path, records: Iterable[dict[str, Any]]) -> None:
    """Append whole lines in one write, then fsync: a kill leaves at most one torn line."""
    payload = "".join(json.dumps(r, sort_keys=True, ensure_ascii=False) + "\n" for r in records)
    if not payload:
        return
    path.parent.mkdir(parents=True, exist_ok=True)
    with open(path, "ab") as fh:
        _lock(fh)
        fh.write(payload.encode("utf-8"))
        fh.flush()
        os.fsync(fh.fileno())


def load_cache(path: str | os.PathLike, *, repair: bool = True) -> dict[str, dict[str, Any]]:
    """Every complete record in a cache file, by id (first occurrence wins).

    With ``repair`` (the default) a torn last line is cut off, and a file holding
    duplicates or unreadable lines is rewritten atomically without them, so the file on
    disk always ends in a whole line and holds each description once.
    """
    path = Path(path)
    if not path.is_file():
        return {}
    raw = path.read_bytes()
    records: dict[str, dict[str, Any]] = {}
    dirty = False
    body, sep, tail = raw.rpartition(b"\n")
    complete = body + sep if sep else b""
    torn = tail if sep else raw
    for line in complete.splitlines():
        if not line.strip():
            dirty = True
            continue
        try:
            rec = json.loads(line)
            rid = rec["id"]
            rec["text"]  # noqa: B018 - a record without text is unreadable
        except (ValueError, KeyError, TypeError):
            dirty = True
            continue
        if rid in records:
            dirty = True
            continue
        records[rid] = rec
    if repair and (dirty or torn):
        lines = "".join(json.dumps(r, sort_keys=True, ensure_ascii=False) + "\n" for r in records.values())
        atomic_write_text(path, lines)
    return records


def _timing_path(cache_path: Path) -> Path:
    return cache_path.with_name(cache_path.name + ".timing.json")


def _add_timing(cache_path: Path, describer_key: str, images: int, seconds: float) -> None:
    """Generation time lives beside the cache (not in it), so reruns stay byte-identical."""
    path = _timing_path(cache_path)
    try:
        timing = json.loads(path.read_text()) if path.is_file() else {}
    except ValueError:
        timing = {}
    entry = timing.setdefault(describer_key, {"images": 0, "seconds": 0.0})
    entry["images"] += int(images)
    entry["seconds"] += float(seconds)
    atomic_write_json(path, timing)


def throughput(cache_path: str | os.PathLike, describer_key: str | None = None) -> dict[str, float] | None:
    """Images/s over everything this describer ever generated into ``cache_path``.

    Model loading is excluded; cached images count nothing. None when never timed.
    """
    path = _timing_path(Path(cache_path))
    if not path.is_file():
        return None
    timing = json.loads(path.read_text())
    entries = [timing[describer_key]] if describer_key else list(timing.values())
    entries = [e for e in entries if e.get("images")]
    if not entries:
        return None
    images = sum(e["images"] for e in entries)
    seconds = sum(e["seconds"] for e in entries)
    return {"images": images, "seconds": seconds, "images_per_s": images / seconds if seconds else float("nan")}


# -- the driver ------------------------------------------------------------------------

def describe_images(
    describer: Describer,
    paths: Sequence[str | os.PathLike],
    prompt: str,
    *,
    cache_path: str | os.PathLike,
    batch_size: int = 8,
    progress: bool = True,
) -> list[str]:
    """Describe ``paths`` with ``prompt``; return one text per path, in order.

    Texts already in ``cache_path`` (same image bytes, describer key and prompt) are
    reused; the rest are generated ``batch_size`` at a time, each batch appended to the
    file as soon as it is done. Identical images are described once.
    """
    if not isinstance(prompt, str) or not prompt.strip():
        raise ValueError("The prompt must be a non-empty string.")
    if batch_size < 1:
        raise ValueError(f"batch_size must be at least 1, got {batch_size}.")
    cache_path = Path(cache_path)
    paths = [Path(p) for p in paths]
    missing = [str(p) for p in paths if not p.is_file()]
    if missing:
        raise FileNotFoundError(f"{len(missing)} image(s) to describe do not exist, e.g. {missing[0]}.")
    key = describer.key
    digests = [file_digest(p) for p in paths]
    ids = [record_id(d, key, prompt) for d in digests]
    cached = load_cache(cache_path)

    todo: dict[str, tuple[Path, str]] = {}  # id -> first (path, digest) with it, in input order
    for rid, p, d in zip(ids, paths, digests):
        if rid not in cached and rid not in todo:
            todo[rid] = (p, d)
    if todo:
        _generate(describer, todo, prompt, cache_path, cached, batch_size, progress,
                  total=len(set(ids)))
    return [cached[rid]["text"] for rid in ids]


def _generate(describer: Describer, todo: dict[str, tuple[Path, str]], prompt: str,
              cache_path: Path, cached: dict[str, dict[str, Any]], batch_size: int,
              progress: bool, total: int) -> None:
    from ..progress import progress_bar

    load = getattr(describer, "load", None)
    if callable(load):
        load()  # outside the timed loop: images/s measures generation, not loading
    key = describer.key
    bar = progress_bar(total, "describing", enabled=progress, unit="img")
    bar.update(total - len(todo))  # already cached
    try:
        for batch in chunked(list(todo.items()), batch_size):
            start = time.perf_counter()
            error: DescribeError | None = None
            try:
                texts = describer.describe([p for _, (p, _) in batch], prompt)
            except DescribeError as exc:
                error, done = exc, exc.partial
            else:
                if len(texts) != len(batch):
                    raise DescribeError(
                        f"The describer returned {len(texts)} texts for {len(batch)} images."
                    )
                done = dict(enumerate(texts))
            elapsed = time.perf_counter() - start
            records = [
                {"id": rid, "image": digest, "path": str(p), "describer": key,
                 "prompt": prompt, "text": str(done[i])}
                for i, (rid, (p, digest)) in enumerate(batch) if i in done
            ]
            _append_lines(cache_path, records)
            for rec in records:
                cached[rec["id"]] = rec
            if records and error is None:
                _add_timing(cache_path, key, len(records), elapsed)
            bar.update(len(records))
            if error is not None:
                raise error
    finally:
        bar.close()
