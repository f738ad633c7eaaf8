"""Which device runs the models: the one place that asks torch what hardware is here."""

from __future__ import annotations

from typing import Any

__all__ = ["best_device", "accelerator_available", "torch_device", "peak_rss_mb"]


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
