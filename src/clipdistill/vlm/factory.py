"""From a Config to a describer, and to the cache file its descriptions live in."""

from __future__ import annotations

import re
from pathlib import Path
from typing import Sequence

import numpy as np

from ..config import TINY_SMOLVLM, TINY_VLM, Config
from ..io import file_digest, stable_hash
from .base import Describer, describe_images, load_cache, record_id
from .http import OpenAIDescriber
from .hf import TransformersDescriber

__all__ = ["make_describer", "description_cache_path", "describe_split", "prompt_text", "cap_per_class",
           "cached_descriptions"]


def _tiny_builders() -> dict:
    """The offline stand-ins by name: each builds (once) a checkpoint folder and returns it."""
    from ..offline.tiny_smolvlm import build_tiny_smolvlm
    from ..offline.tiny_qwen_vl import build_tiny_vlm

    return {TINY_VLM: build_tiny_vlm, TINY_SMOLVLM: build_tiny_smolvlm}


def make_describer(cfg: Config) -> Describer:
    """The describer ``cfg`` asks for. Cheap: models load on first use, not here.

    ``cfg.vlm_model`` set to ``TINY_VLM`` or ``TINY_SMOLVLM`` builds (once, under
    ``cfg.work_dir``) the offline random-weight Qwen2.5-VL or SmolVLM and loads it like any
    checkpoint folder.
    """
    if cfg.vlm_backend == "openai":
        if cfg.vlm_model in (TINY_VLM, TINY_SMOLVLM):
            raise ValueError(f"{cfg.vlm_model!r} runs only with vlm_backend='transformers'.")
        return OpenAIDescriber(
            cfg.vlm_model, cfg.vlm_api_base, max_new_tokens=cfg.vlm_max_new_tokens,
            temperature=cfg.vlm_temperature, repetition_penalty=cfg.vlm_repetition_penalty,
            concurrency=cfg.vlm_concurrency, timeout_s=cfg.vlm_timeout_s,
            max_retries=cfg.vlm_max_retries, backoff_s=cfg.vlm_backoff_s, seed=cfg.seed,
            max_pixels=cfg.vlm_max_pixels,
        )
    if cfg.vlm_backend != "transformers":
        raise ValueError(f"Unknown vlm_backend {cfg.vlm_backend!r}. Valid: transformers, openai.")
    from ..session import torch_device

    common = dict(device=torch_device(cfg), dtype=cfg.vlm_dtype, attn=cfg.vlm_attn,
                  max_new_tokens=cfg.vlm_max_new_tokens, temperature=cfg.vlm_temperature,
                  repetition_penalty=cfg.vlm_repetition_penalty, max_pixels=cfg.vlm_max_pixels,
                  image_processor=cfg.vlm_image_processor, seed=cfg.seed,
                  cpu_kernels=cfg.vlm_cpu_kernels, pin_config=cfg)
    builders = _tiny_builders()
    if cfg.vlm_model in builders:
        folder = builders[cfg.vlm_model](Path(cfg.work_dir) / "vlm" / "models")
        return TransformersDescriber(str(folder), name=cfg.vlm_model, weights_id=folder.name, **common)
    return TransformersDescriber(cfg.vlm_model, **common)


def prompt_text(cfg: Config, prompt_name: str) -> str:
    """The text of a named prompt in ``cfg.vlm_prompts``, or a clear error."""
    if prompt_name not in cfg.vlm_prompts:
        raise KeyError(f"Unknown VLM prompt {prompt_name!r}. Valid: {', '.join(cfg.vlm_prompts)}.")
    return cfg.vlm_prompts[prompt_name]


def description_cache_path(cfg: Config, prompt_name: str, describer: Describer | None = None) -> Path:
    """The JSON Lines file holding ``cfg``'s descriptions for one named prompt.

    One file per (describer settings, prompt): ``<work_dir>/vlm/descriptions/
    <model>--<prompt_name>--<hash>.jsonl``. Every split shares it (records are keyed by
    image content), so chapter 05 finds chapter 03's descriptions from the same cfg.
    """
    describer = describer or make_describer(cfg)
    prompt = prompt_text(cfg, prompt_name)
    model = re.sub(r"[^A-Za-z0-9._-]+", "_", cfg.vlm_model.rstrip("/").split("/")[-1])
    name = re.sub(r"[^A-Za-z0-9._-]+", "_", prompt_name)
    digest = stable_hash(describer.key, prompt, length=10)
    return Path(cfg.work_dir) / "vlm" / "descriptions" / f"{model}--{name}--{digest}.jsonl"


def describe_split(cfg: Config, paths: Sequence[str | Path], prompt_name: str, *,
                   describer: Describer | None = None, progress: bool = True,
                   split: str = "") -> list[str]:
    """Descriptions of ``paths`` with ``cfg.vlm_prompts[prompt_name]``, generating only
    what the cache lacks (nothing, when chapter 03 already ran with this cfg). ``split``
    only names the progress bar (``describing generic, test``)."""
    describer = describer or make_describer(cfg)
    return describe_images(
        describer, paths, prompt_text(cfg, prompt_name),
        cache_path=description_cache_path(cfg, prompt_name, describer),
        batch_size=cfg.vlm_batch_size, progress=progress,  # a server streams instead
        label=f"describing {prompt_name}" + (f", {split}" if split else ""),
    )


def cached_descriptions(cfg: Config, paths: Sequence[str | Path], prompt_name: str, *,
                        describer: Describer | None = None) -> list[str | None]:
    """What the cache already holds for ``paths`` (None where nothing is), generating
    nothing: for a reader who wants descriptions only where chapter 03 made them."""
    describer = describer or make_describer(cfg)
    prompt = prompt_text(cfg, prompt_name)
    records = load_cache(description_cache_path(cfg, prompt_name, describer))
    out = []
    for p in paths:
        rec = records.get(record_id(file_digest(p), describer.key, prompt))
        out.append(rec["text"] if rec else None)
    return out


def cap_per_class(paths: Sequence[str | Path], labels: Sequence[int], n: int
                  ) -> tuple[list[Path], np.ndarray]:
    """The first ``n`` images of each class, in their original order (``n <= 0``: all).

    Splits are already shuffled with the run's seed, so the first ``n`` are a fair sample,
    and a larger cap keeps every image a smaller one described (the cache is reused).
    """
    labels = np.asarray(labels)
    if n <= 0:
        return [Path(p) for p in paths], labels
    seen: dict[int, int] = {}
    keep = []
    for i, y in enumerate(labels.tolist()):
        if seen.get(y, 0) < n:
            seen[y] = seen.get(y, 0) + 1
            keep.append(i)
    return [Path(paths[i]) for i in keep], labels[keep]
