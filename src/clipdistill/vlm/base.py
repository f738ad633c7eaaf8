"""The describer protocol and the driver every backend runs through.

Describing 20,000 images with a 7B VLM takes hours; a run will be killed at some point.
So each description is written as soon as it exists (a batch at a time from a local
model, one by one from a server), keyed by the image's *content*, the describer (model +
generation settings) and the prompt. A rerun reads the cache, skips what is there and
carries on; a line cut in half by a kill is dropped and regenerated. The cache's layout
(one file per process, folded into the file the chapters read) is :mod:`.cache`'s.
"""

from __future__ import annotations

import json
import os
import time
from pathlib import Path
from typing import Any, Iterable, Protocol, Sequence, runtime_checkable

from ..io import chunked, file_digest
from .cache import PartWriter, load_cache, merge, record_id, throughput

MERGE_WAIT_S = 60.0  # at the end of a run, how long to wait for another process's merge

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

    # Optional, for describers that keep many requests in flight (a server):
    # ``describe_stream(items, prompt)`` takes ``(key, path)`` pairs and yields
    # ``(key, text)`` or ``(key, DescribeError)`` in the order they finish.


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


# -- the driver ------------------------------------------------------------------------

def describe_images(
    describer: Describer,
    paths: Sequence[str | os.PathLike],
    prompt: str,
    *,
    cache_path: str | os.PathLike,
    batch_size: int = 8,
    progress: bool = True,
    label: str = "describing",
) -> list[str]:
    """Describe ``paths`` with ``prompt``; return one text per path, in order.

    Texts already in ``cache_path`` (same image bytes, describer key and prompt; any
    process's part included) are reused. The rest are generated and written to this
    process's part of the cache as they arrive: a batch at a time (``batch_size``), or,
    for a describer with ``describe_stream`` (a server), one by one from a sliding window
    of requests in flight. When the call ends, even by an error, the parts are folded
    into ``cache_path`` (:mod:`clipdistill.vlm.cache`). Identical images are described
    once. ``label`` starts the progress bar's line.
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
    digests = _digests(paths)
    ids = [record_id(d, key, prompt) for d in digests]
    cached = load_cache(cache_path)

    todo: dict[str, tuple[Path, str]] = {}  # id -> first (path, digest) with it, in input order
    for rid, p, d in zip(ids, paths, digests):
        if rid not in cached and rid not in todo:
            todo[rid] = (p, d)
    if todo:
        _generate(describer, todo, prompt, cache_path, cached, batch_size, progress,
                  total=len(set(ids)), label=label)
    return [cached[rid]["text"] for rid in ids]


def _digests(paths: list[Path]) -> list[str]:
    """Content hashes, read by a few threads (file reads and hashlib release the GIL)."""
    if len(paths) < 64:
        return [file_digest(p) for p in paths]
    from concurrent.futures import ThreadPoolExecutor

    with ThreadPoolExecutor(max_workers=8) as pool:
        return list(pool.map(file_digest, paths, chunksize=32))


def _generate(describer: Describer, todo: dict[str, tuple[Path, str]], prompt: str,
              cache_path: Path, cached: dict[str, dict[str, Any]], batch_size: int,
              progress: bool, total: int, label: str) -> None:
    from ..progress import progress_bar

    load = getattr(describer, "load", None)
    if callable(load):
        load()  # outside the timed loop: images/s measures generation, not loading
    key = describer.key
    writer = PartWriter(cache_path)
    # Already cached: the bar starts there, and its rate and time left count new work only.
    bar = progress_bar(total, label, enabled=progress, unit="img", initial=total - len(todo))

    def keep(rid: str, text: str) -> dict[str, Any]:
        path, digest = todo[rid]
        rec = {"id": rid, "image": digest, "path": str(path), "describer": key,
               "prompt": prompt, "text": str(text)}
        cached[rid] = rec
        return rec

    try:
        if callable(getattr(describer, "describe_stream", None)):
            _stream(describer, todo, prompt, writer, keep, bar)
        else:
            _batches(describer, todo, prompt, writer, keep, bar, batch_size)
    finally:
        bar.close()
        writer.close()
        merge(cache_path, wait_s=MERGE_WAIT_S)


def _batches(describer: Describer, todo: dict[str, tuple[Path, str]], prompt: str,
             writer: PartWriter, keep: Any, bar: Any, batch_size: int) -> None:
    """A batch at a time (a local model): each batch written as soon as it is done."""
    for batch in chunked(list(todo), batch_size):
        start = time.perf_counter()
        error: DescribeError | None = None
        try:
            texts = describer.describe([todo[rid][0] for rid in batch], prompt)
        except DescribeError as exc:
            error, done = exc, exc.partial
        else:
            if len(texts) != len(batch):
                raise DescribeError(f"The describer returned {len(texts)} texts for {len(batch)} images.")
            done = dict(enumerate(texts))
        elapsed = time.perf_counter() - start
        writer.append([keep(rid, done[i]) for i, rid in enumerate(batch) if i in done])
        if done and error is None:
            writer.add_timing(describer.key, len(done), elapsed)
        bar.update(len(done))
        if error is not None:
            raise error


def _stream(describer: Any, todo: dict[str, tuple[Path, str]], prompt: str,
            writer: PartWriter, keep: Any, bar: Any) -> None:
    """Every image in flight through ``describe_stream``; each text written on arrival.

    A failed image does not stop the others: they all run, then the first failure is
    raised with a count of the rest (the finished ones are already in the cache).
    """
    errors: list[str] = []
    start, timed = time.perf_counter(), 0.0
    for rid, result in describer.describe_stream(((rid, p) for rid, (p, _) in todo.items()), prompt):
        if isinstance(result, BaseException):
            errors.append(str(result))
            continue
        writer.append([keep(rid, result)])
        now = time.perf_counter()
        writer.add_timing(describer.key, 1, now - start - timed)  # wall time of the window
        timed = now - start
        bar.update(1)
    if errors:
        more = f" (and {len(errors) - 1} more)" if len(errors) > 1 else ""
        raise DescribeError(f"{errors[0]}{more}")
