"""The embedding engine: every image and prompt goes through the encoder once, ever
(chapter 02; every later chapter embeds through it).

- :func:`embed_images` (``images``): batched, content-cached, resumable image embedding;
  files are read once, decoded off the encoder's path (``decode``);
- :func:`embed_to_cache` (``images``): the same engine filling the cache from any number
  of files (a generator is fine) without returning them: memory flat in the count, and
  several processes (``clipdistill embed --shard i/N``) may fill one cache at once;
- :func:`embed_texts` (``texts``): the same for prompts and descriptions;
- :class:`EmbeddingStore` (``store``): the on-disk rows, keyed by content and ``clip.key``:
  batches as parts, merged into sorted segments; lookups read keys, then only the rows asked;
- ``onednn``: on a CPU the engine runs a copy of the model with its linear layers packed
  for oneDNN (1.7-1.8x on CPUs where MKL falls back to AVX2), in bf16 where the processor
  has bf16 matrix units (``clipdistill.device.cpu_dtype``); the model the reader holds
  stays the framework's own;
- :func:`benchmark` (``throughput``): images/s cold and warm, texts/s, peak memory;
  :func:`speed_table` shows its result.
"""

from __future__ import annotations

from .decode import split_preprocess
from .images import embed_images, embed_to_cache
from .store import EmbeddingStore, cache_dir_for, content_digest, text_digest
from .texts import embed_texts
from .throughput import benchmark, speed_table

__all__ = [
    "embed_images",
    "embed_to_cache",
    "embed_texts",
    "EmbeddingStore",
    "cache_dir_for",
    "content_digest",
    "text_digest",
    "benchmark",
    "speed_table",
    "split_preprocess",
]
