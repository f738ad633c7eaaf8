"""``embed_images``: every image through the encoder once, ever.

Batches run under ``torch.inference_mode()`` (and autocast on a GPU) on the engine's
inference copy of the model (:func:`clipdistill.embed.onednn.inference_model`); the
L2-normalised rows are written to the cache after every batch, so an interrupted run
resumes where it stopped. When the cache holds rows, the files are hashed in the calling
process first (threads) and only the misses are decoded: a warm call decodes nothing.

``embed_to_cache`` is the same engine for collections too big to return: it fills the
cache a chunk of files at a time and returns counts, so its memory does not grow with
the number of images. ``clipdistill embed --shard i/N`` runs it on every i-th file, on as
many machines (or GPUs) as there are shards.
"""

from __future__ import annotations

import os
from itertools import islice
from typing import Any, Callable, Iterable, Sequence

import numpy as np
import torch

from ..progress import progress_bar
from .decode import ImageFiles, batches, digests, split_preprocess
from .onednn import inference_model
from .store import EmbeddingStore, store_for

__all__ = ["embed_images", "embed_to_cache", "encode_images"]

CHUNK = 4096  # files hashed, looked up and embedded together by embed_to_cache


@torch.inference_mode()
def encode_images(clip: Any, pixels: torch.Tensor,
                   per_batch: Callable[[torch.Tensor], torch.Tensor] = lambda x: x) -> np.ndarray:
    """One batch of preprocessed pixels -> (N, D) unit rows, on the engine's inference copy."""
    pixels = per_batch(pixels.to(clip.device, non_blocking=True))
    with clip.autocast():
        feats = clip.encode_image(pixels, module=inference_model(clip))
    return torch.nn.functional.normalize(feats.float(), dim=-1).cpu().numpy()


def embed_images(clip: Any, paths: Sequence[str | os.PathLike], *, cache_dir: str | os.PathLike | None = None,
                 batch_size: int = 32, num_workers: int = 2, progress: bool = True,
                 desc: str = "embedding images") -> np.ndarray:
    """(N, D) float32, L2-normalised; row i is ``paths[i]``. Cached by content when ``cache_dir``.

    A changed file (same path, new bytes) has a new digest and is re-embedded; rows
    computed before an interruption are reused. A file that cannot be read raises an
    error naming it (chapter 01 filters bad files before anything gets here).

    When the cache holds rows already, every file is hashed here first (threads: cheap)
    and only the misses are decoded, so a warm call decodes nothing. With an empty cache
    everything is a miss: each file is read, hashed and decoded in one go.
    ``num_workers``: DataLoader worker processes on a GPU; on a CPU, the least number of
    decoding threads (at least one per intra-op thread of torch).
    """
    paths = [os.fspath(p) for p in paths]
    out = np.zeros((len(paths), clip.embed_dim), dtype=np.float32)
    if not paths:
        return out
    store = store_for(cache_dir, clip, "images")
    bar = progress_bar(len(paths), desc, enabled=progress, unit="img")
    try:
        todo = list(range(len(paths)))
        if store is not None and store.files():
            found = store.fetch(digests(paths, threads=int(num_workers)), out)
            todo = np.flatnonzero(~found).tolist()
            hits = len(paths) - len(todo)
            if hits:  # a read-back's images/s is not the model's speed; fits 80 columns
                bar.set_description(f"{desc} ({'all' if not todo else hits} cached)")
            bar.update(hits)
        if todo:
            _embed_misses(clip, [paths[i] for i in todo], store, batch_size, num_workers, bar,
                          out=out, rows=todo)
    finally:
        bar.close()
    if store is not None:
        store.merge()
    return out


def embed_to_cache(clip: Any, paths: Iterable[str | os.PathLike], *, cache_dir: str | os.PathLike,
                   batch_size: int = 32, num_workers: int = 2, progress: bool = True,
                   shard: tuple[int, int] = (0, 1), total: int | None = None,
                   desc: str = "embedding images") -> dict[str, int]:
    """Make sure every image of ``paths`` (of shard ``(i, N)`` of them) has its row in
    the cache; return counts.

    The rows ``embed_images`` would return, without returning them: ``paths`` is read
    :data:`CHUNK` at a time (a generator of ten million paths is fine), each chunk's
    misses are embedded and written batch by batch, and parts are merged as they pile
    up. What the cache held when the call began is looked up by key; what this call
    writes is never read back. ``shard`` takes every N-th batch of ``paths``
    (:func:`clipdistill.shards.take_shard`), so N processes, one per shard, fill the
    cache with the rows one process would have written, bit for bit. ``total`` (of the
    whole list) sizes the progress bar when ``paths`` has no length.
    """
    from ..shards import take_shard

    store = store_for(cache_dir, clip, "images", snapshot=True)
    counts = {"images": 0, "embedded": 0}
    size = total if total is not None else (len(paths) if hasattr(paths, "__len__") else None)
    if size is not None and shard[1] > 1:  # this shard's share, to within a batch
        size = len(range(shard[0] * batch_size, size, shard[1] * batch_size)) * batch_size
    bar = progress_bar(size, desc, enabled=progress, unit="img")
    source = take_shard((os.fspath(p) for p in paths), *shard, block=batch_size)
    chunk_size = max(1, CHUNK // batch_size) * batch_size  # whole batches: the same as one process
    resume = bool(store.files())  # an empty cache at the start: hash while decoding, once
    try:
        while chunk := list(islice(source, chunk_size)):
            todo = chunk
            if resume:
                todo = [p for p, hit in zip(chunk, store.contains(digests(chunk, int(num_workers))))
                        if not hit]
                bar.update(len(chunk) - len(todo))
            if todo:
                _embed_misses(clip, todo, store, batch_size, num_workers, bar)
            counts["images"] += len(chunk)
            counts["embedded"] += len(todo)
            store.merge()
    finally:
        bar.close()
    store.merge()
    return counts


def _embed_misses(clip: Any, paths: list[str], store: "EmbeddingStore | None", batch_size: int,
                  num_workers: int, bar: Any, out: np.ndarray | None = None,
                  rows: list[int] | None = None) -> None:
    """Stream ``paths`` through decoding (:func:`batches`) and the encoder: each batch to
    the store, and into ``out[rows]`` when given."""
    per_image, per_batch = split_preprocess(clip.preprocess)
    dataset = ImageFiles(paths, frozenset(), per_image)
    for batch in batches(dataset, batch_size, num_workers, clip.device):
        emb = encode_images(clip, batch["pixels"], per_batch)
        if store is not None:
            store.put(batch["digest"], emb)
        if out is not None:
            out[[rows[i] for i in batch["index"]]] = emb
        bar.update(len(batch["index"]))
