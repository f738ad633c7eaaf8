"""``embed_images``: every image through the encoder once, ever.

Batches run under ``torch.inference_mode()`` (and autocast on a GPU) on the engine's
inference copy of the model (:func:`clipdistill.embed.onednn.inference_model`); the
L2-normalised rows are written to the cache after every batch, so an interrupted run
resumes where it stopped. When the cache holds rows, the files are hashed in the calling
process first (threads) and only the misses are decoded: a warm call decodes nothing.
"""

from __future__ import annotations

import os
from typing import Any, Callable, Sequence

import numpy as np
import torch

from ..progress import progress_bar
from .decode import ImageFiles, batches, digests, split_preprocess
from .onednn import inference_model
from .store import EmbeddingStore, store_for

__all__ = ["embed_images", "encode_images"]


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
    cached = store.load() if store is not None else {}
    bar = progress_bar(len(paths), desc, enabled=progress, unit="img")
    try:
        todo = list(range(len(paths)))
        if cached:
            todo = []
            for i, d in enumerate(digests(paths, threads=int(num_workers))):
                row = cached.get(d)
                if row is None:
                    todo.append(i)
                else:
                    out[i] = row
            bar.update(len(paths) - len(todo))
        if todo:
            _embed_misses(clip, [paths[i] for i in todo], todo, out, cached, store, batch_size,
                          num_workers, bar)
    finally:
        bar.close()
    if store is not None:
        store.merge()
    return out


def _embed_misses(clip: Any, paths: list[str], rows: list[int], out: np.ndarray,
                  cached: dict[str, np.ndarray], store: "EmbeddingStore | None", batch_size: int,
                  num_workers: int, bar: Any) -> None:
    """Stream ``paths`` through decoding (:func:`_batches`) and the encoder into ``out[rows]``."""
    per_image, per_batch = split_preprocess(clip.preprocess)
    dataset = ImageFiles(paths, frozenset(cached), per_image)
    for batch in batches(dataset, batch_size, num_workers, clip.device):
        index, digests, miss = batch["index"], batch["digest"], batch["miss"]
        if batch["pixels"] is not None:
            emb = encode_images(clip, batch["pixels"], per_batch)
            new_keys = [d for d, m in zip(digests, miss) if m]
            if store is not None:
                store.put(new_keys, emb)
            fresh = dict(zip(new_keys, emb))
        else:
            fresh = {}
        for i, d in zip(index, digests):
            out[rows[i]] = fresh[d] if d in fresh else cached[d]
        bar.update(len(index))
