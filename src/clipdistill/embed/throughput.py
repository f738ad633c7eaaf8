"""Throughput of the engine: images/s cold and warm, texts/s, peak memory (chapter 02)."""

from __future__ import annotations

import os
import tempfile
import time
from typing import Any, Sequence

import torch

from ..device import peak_rss_mb
from .images import embed_images
from .texts import encode_texts

__all__ = ["benchmark", "peak_memory_mb", "precision", "speed_table"]


def peak_memory_mb(device: torch.device) -> tuple[float, str]:
    """The GPU allocator's peak on CUDA, else the process's peak resident memory."""
    if device.type == "cuda":
        return torch.cuda.max_memory_allocated(device) / 2**20, "GPU peak allocated"
    rss = peak_rss_mb()
    return (float("nan"), "unavailable") if rss is None else (rss, "process peak RSS")


def precision(clip: Any) -> dict[str, str]:
    """Which precision and kernels the engine embeds with, and why (chapter 02's table)."""
    if clip.device.type == "cpu":
        kernels = "oneDNN-packed" if clip.cpu_kernels == "onednn" else "stock"
        dtype = clip.info.get("cpu_dtype", "float32")
        return {"precision": f"{dtype} ({kernels})", "precision_why": clip.info.get("cpu_dtype_why", "")}
    if clip.amp_dtype is not None:
        return {"precision": f"{str(clip.amp_dtype).replace('torch.', '')} autocast",
                "precision_why": "mixed precision on the accelerator (clip_amp)"}
    return {"precision": clip.precision, "precision_why": "the weights' own precision, no autocast"}


def benchmark(clip: Any, paths: Sequence[str | os.PathLike], *, batch_size: int = 32,
              num_workers: int = 2, texts: Sequence[str] = ()) -> dict[str, Any]:
    """Images/s end to end (read, decode, preprocess, encode) with an empty cache, then warm.

    Uses a throwaway cache so "cold" is really cold however often the chapter ran.
    ``texts``, if given, are timed through the tokenizer and text encoder (texts/s). Peak
    memory is the GPU's allocator peak, or the process's peak RSS on a CPU. ``precision``
    and ``precision_why`` say what the engine ran in (:func:`precision`).
    """
    paths = list(paths)
    if clip.device.type == "cuda":
        torch.cuda.synchronize(clip.device)
        torch.cuda.reset_peak_memory_stats(clip.device)
    result: dict[str, Any] = {"images": len(paths), "batch_size": batch_size, "device": clip.device.type,
                              **precision(clip)}
    with tempfile.TemporaryDirectory(prefix="clipdistill-bench-") as tmp:
        for phase in ("cold", "warm"):
            start = time.perf_counter()
            embed_images(clip, paths, cache_dir=tmp, batch_size=batch_size, num_workers=num_workers,
                         progress=False)
            if clip.device.type == "cuda":
                torch.cuda.synchronize(clip.device)
            seconds = time.perf_counter() - start
            result[f"{phase}_seconds"] = seconds
            result[f"{phase}_images_per_s"] = len(paths) / seconds if seconds > 0 else float("inf")
        if texts:
            texts = list(texts)
            start = time.perf_counter()
            for i in range(0, len(texts), 256):  # every text through the encoder: no cache, no dedup
                encode_texts(clip, texts[i:i + 256])
            if clip.device.type == "cuda":
                torch.cuda.synchronize(clip.device)
            seconds = time.perf_counter() - start
            result["texts"] = len(texts)
            result["texts_per_s"] = len(texts) / seconds if seconds > 0 else float("inf")
    result["peak_memory_mb"], result["memory_kind"] = peak_memory_mb(clip.device)
    return result


def speed_table(result: dict[str, Any]) -> "pd.Series":  # noqa: F821
    """:func:`benchmark`'s result as a reader reads it: named rows, rates rounded, the
    seconds left out (a warm read of a few hundred rows rounds to 0.0 s)."""
    import pandas as pd

    from ..findings import number_text

    def rate(key: str) -> str:
        return number_text(result.get(key), 1, grouped=True)

    rows = {
        "images timed": result.get("images"),
        "batch size": result.get("batch_size"),
        "device": result.get("device"),
        "precision": result.get("precision"),
        "why that precision": result.get("precision_why"),
        "images/s, empty cache (read, decode, encode)": rate("cold_images_per_s"),
        "images/s, warm cache (read back)": rate("warm_images_per_s"),
        "prompts/s (text tower)": rate("texts_per_s"),
        f"peak memory, MB ({result.get('memory_kind', '?')})":
            number_text(result.get("peak_memory_mb"), 0, grouped=True),
    }
    return pd.Series({k: v for k, v in rows.items() if v is not None}, dtype=object)
