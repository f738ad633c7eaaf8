"""Image describers (chapter 03): a VLM writes one sentence per image, cached and resumable.

Quick use::

    from clipdistill import vlm
    describer = vlm.make_describer(cfg)            # cheap: the model loads on first use
    texts = vlm.describe_images(describer, paths, cfg.vlm_prompts["generic"],
                                cache_path=vlm.description_cache_path(cfg, "generic"))
    # or, in one call, generating only what is not cached yet:
    texts = vlm.describe_split(cfg, paths, "specific")

Backends (``cfg.vlm_backend``):

- ``transformers``: any image-text-to-text checkpoint (``cfg.vlm_model``: Qwen2.5-VL-3B in
  ``quick`` and 7B in ``paper`` on a GPU, SmolVLM-256M without one), batched
  (``cfg.vlm_batch_size``), bfloat16 and FlashAttention-2/SDPA on a GPU, greedy unless
  ``cfg.vlm_temperature > 0``. ``TINY_VLM`` and ``TINY_SMOLVLM`` (the ``smoke`` profile,
  on a GPU and on a CPU) build a random-weight Qwen2.5-VL or SmolVLM offline and run the
  same code.
- ``openai``: any OpenAI-compatible chat-completions server at ``cfg.vlm_api_base`` (vLLM,
  Ollama, LM Studio, a hosted API), or a list of them: a sliding window of
  ``cfg.vlm_concurrency`` requests per server (``window``), the least busy server first,
  a dead one skipped and probed later (``endpoints``), timeouts, retries with backoff, and
  with ``cfg.vlm_max_pixels`` images resized by the client exactly as a local Qwen
  processor would (``pixels``). ``clipdistill.offline.vlm_server`` is a stand-in server
  for tests and benchmarks.
  **The API key is read only from the environment variable ``CLIPDISTILL_VLM_API_KEY``**;
  it is never a config field or notebook parameter (papermill records those in the
  published notebook) and never appears in caches, results, logs or error messages.

Cache format: one JSON Lines file per (describer settings, prompt), found with
``description_cache_path(cfg, prompt_name)``. Each line is one description::

    {"id": "...", "image": "<sha1 of the image bytes>", "path": "...",
     "describer": "<describer.key>", "prompt": "...", "text": "..."}

``id = record_id(image, describer, prompt)``. Each describing process appends to its own
part (``<file>.parts/``) as descriptions arrive; when it ends, the parts are folded into
the file, sorted by id (``cache``: safe for many processes on many machines sharing a
filesystem). A rerun skips what is there, a torn last line (a kill mid-write) is dropped
and regenerated, duplicates are dropped. Generation time goes to ``<file>.timing.json``
(read with ``throughput``), not into the cache, so an interrupted-then-resumed file is
byte-identical to an uninterrupted one, and N shards give the bytes one process gives.
``clipdistill describe --shard i/N`` (:mod:`clipdistill.jobs`) fills the caches outside
the notebooks.

For chapter 05 (description embeddings as teachers)::

    texts = vlm.describe_split(cfg, split.paths, "generic")   # read from chapter 03's cache
    T = embed.embed_texts(clip, texts, cache_dir=...)          # CLIP cuts at 77 tokens itself

``describe_split`` generates only what the cache lacks (e.g. the distillation splits that
chapter 03 never described), with the same describer and file. To read without ever
generating, use ``cached_descriptions(cfg, paths, name)`` (None where missing) or read the
records with ``load_cache(description_cache_path(cfg, name))``.
``text_analysis.truncation_report(texts, cfg.clip_model)`` counts what CLIP will cut.
"""

from ..config import TINY_SMOLVLM, TINY_VLM
from .base import (
    Describer,
    DescribeError,
    describe_images,
    load_cache,
    open_rgb,
    record_id,
    throughput,
)
from .factory import (
    cached_descriptions,
    cap_per_class,
    describe_split,
    description_cache_path,
    make_describer,
    prompt_text,
)
from .hf import TransformersDescriber
from .http import API_KEY_ENV, OpenAIDescriber

__all__ = [
    "TINY_VLM",
    "TINY_SMOLVLM",
    "API_KEY_ENV",
    "Describer",
    "DescribeError",
    "TransformersDescriber",
    "OpenAIDescriber",
    "make_describer",
    "describe_images",
    "describe_split",
    "description_cache_path",
    "prompt_text",
    "cap_per_class",
    "cached_descriptions",
    "load_cache",
    "record_id",
    "throughput",
    "open_rgb",
]
