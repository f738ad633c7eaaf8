"""Which device runs the models: the one place that asks torch what hardware is here."""

from __future__ import annotations

import functools
from pathlib import Path
from typing import Any, Iterable


__all__ = ["best_device", "accelerator_available", "torch_device", "peak_rss_mb", "cpu_flags",
           "cpu_bf16_units", "cpu_dtype"]

CPU_DTYPES = ("auto", "float32", "bfloat16")  # clip_cpu_dtype and distill_cpu_dtype


def best_device() -> str:
    """``"cuda"``, else ``"mps"`` (Apple GPUs), else ``"cpu"``. torch is imported here, not
    at package import, so resolving a profile stays light."""
    import torch

    if torch.cuda.is_available():
        return "cuda"
    mps = getattr(torch.backends, "mps", None)
    if mps is not None and mps.is_available():
        return "mps"
    return "cpu"


def accelerator_available() -> bool:
    """True when torch sees a CUDA or Apple GPU (profiles shrink their work when not)."""
    return best_device() != "cpu"


def torch_device(cfg: Any) -> "torch.device":  # noqa: F821
    """The device a chapter should use: ``cfg.device``, with ``"auto"`` the best present."""
    import torch

    return torch.device(best_device() if cfg.device == "auto" else cfg.device)


def peak_rss_mb() -> float | None:
    """This process's peak resident memory so far, in MiB (None where the OS cannot say)."""
    try:
        import resource
        import sys

        kb = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
        return round(kb / (1024 * 1024 if sys.platform == "darwin" else 1024), 1)
    except (ImportError, OSError):  # pragma: no cover - Windows
        return None


def cpu_flags(cpuinfo: str | None = None) -> frozenset[str]:
    """The processor's feature flags: the ``flags`` line of ``/proc/cpuinfo`` (or of the
    ``cpuinfo`` text given, for tests). Empty where there is none (macOS, Windows, ARM's
    ``Features`` line is read too)."""
    if cpuinfo is None:
        try:
            cpuinfo = Path("/proc/cpuinfo").read_text(errors="replace")
        except OSError:
            return frozenset()
    for line in cpuinfo.splitlines():
        name, _, value = line.partition(":")
        if name.strip() in ("flags", "Features"):
            return frozenset(value.split())
    return frozenset()


def cpu_bf16_units(flags: Iterable[str] | None = None) -> str | None:
    """What the CPU multiplies bfloat16 matrices with: ``"amx"`` (Intel's AMX tiles:
    ``amx_bf16`` and ``amx_tile``), ``"avx512_bf16"`` (bf16 dot products in AVX-512
    registers: recent AMD EPYC/Ryzen, Cooper Lake), or None (bf16 would be emulated)."""
    have = cpu_flags() if flags is None else frozenset(flags)
    if not have and flags is None:
        have = _torch_bf16_flags()
    if {"amx_bf16", "amx_tile"} <= have:
        return "amx"
    if "avx512_bf16" in have:
        return "avx512_bf16"
    return None


@functools.lru_cache(maxsize=1)
def _torch_bf16_flags() -> frozenset[str]:
    """Where there is no /proc/cpuinfo, ask torch's own CPU probe (x86 only)."""
    try:
        import torch

        cpu = torch.cpu
        found = {"amx_bf16", "amx_tile"} if cpu._is_amx_tile_supported() else set()
        if cpu._is_avx512_bf16_supported():
            found.add("avx512_bf16")
        return frozenset(found)
    except (ImportError, AttributeError, RuntimeError):
        return frozenset()


def cpu_dtype(choice: str, *, packed: bool = True,
              flags: Iterable[str] | None = None) -> tuple[str, str]:
    """The precision CLIP runs in on this CPU, and why, as ``(dtype, reason)``.

    ``choice`` "float32" or "bfloat16" is taken as given. "auto" picks bfloat16 where
    the processor has matrix units for it: AMX always, AVX512-BF16 when the engine runs
    its oneDNN-packed copy (``packed``; bf16 autocast on the stock module re-casts every
    weight on every call and measured no faster than fp32 there), else float32.
    Measured on a 2-core Zen 5 (AVX512-BF16, no AMX): ViT-B-32's image tower 1.8x fp32.
    """
    if choice not in CPU_DTYPES:
        raise ValueError(f"Bad CPU dtype {choice!r}: valid are {', '.join(CPU_DTYPES)}.")
    if choice != "auto":
        return choice, f"set: {choice}"
    units = cpu_bf16_units(flags)
    if units == "amx":
        return "bfloat16", "the processor has AMX matrix units for bf16"
    if units == "avx512_bf16" and packed:
        return "bfloat16", "AVX512-BF16, with oneDNN's packed kernels"
    if units == "avx512_bf16":
        return "float32", "AVX512-BF16 without AMX pays only when packed"
    return "float32", "the processor has no bf16 matrix instructions"
