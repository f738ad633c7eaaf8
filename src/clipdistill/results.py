"""Each chapter's numbers and figures: ``results/<profile>/<chapter>.json`` plus PNGs.

Chapter 06 reads these files back; the book shows the figures. Every file records the
profile and whether the run was a smoke run, so a random-weight number can never pass as
a result.
"""

from __future__ import annotations

import datetime as _dt
import json
import platform
from pathlib import Path
from typing import Any

from .config import Config
from .device import peak_rss_mb
from .io import atomic_write_bytes, atomic_write_json

__all__ = ["save_results", "load_results", "save_figure", "provenance", "CHAPTERS"]

CHAPTERS: tuple[str, ...] = (
    "01_data_prep",
    "02_zero_shot_clip",
    "03_vlm_descriptions",
    "04_prompt_ensembles",
    "05_distillation",
    "06_results",
    "07_colour",
)


def provenance() -> dict[str, Any]:
    """Package versions, hardware and date: what a reader needs to trust a number."""
    import importlib.metadata as md

    versions = {}
    for name in ("clipdistill", "torch", "torchvision", "open_clip_torch", "transformers",
                 "scikit-learn", "numpy"):
        try:
            versions[name] = md.version(name)
        except md.PackageNotFoundError:
            versions[name] = None
    hw: dict[str, Any] = {"machine": platform.machine(), "python": platform.python_version()}
    try:
        import os

        import torch

        from .device import cpu_bf16_units

        hw["cpu_count"] = os.cpu_count()
        hw["cpu_bf16"] = cpu_bf16_units()  # amx | avx512_bf16 | None: what bf16 runs on here
        hw["cuda"] = torch.cuda.get_device_name(0) if torch.cuda.is_available() else None
    except Exception:  # noqa: BLE001 - provenance must never fail a run
        pass
    return {
        "date": _dt.datetime.now(_dt.timezone.utc).isoformat(timespec="seconds"),
        "versions": versions,
        "hardware": hw,
        # The kernel saves a chapter's results last: this is the chapter's peak memory.
        "peak_rss_mb": peak_rss_mb(),
    }


def save_results(cfg: Config, chapter: str, metrics: dict[str, Any], *,
                 models: Any = None, **extra: Any) -> Path:
    """Write one chapter's results file atomically and return its path."""
    payload = {
        "chapter": chapter,
        "profile": cfg.profile,
        "smoke": bool(cfg.smoke),
        "models": models if models is not None else {},
        "metrics": metrics,
        "config": cfg.to_dict(),
        "provenance": provenance(),
        **extra,
    }
    return atomic_write_json(cfg.profile_dir() / f"{chapter}.json", payload)


def load_results(cfg_or_dir: Config | str | Path, chapter: str) -> dict[str, Any] | None:
    """One chapter's results, or None when that chapter has not been run."""
    base = cfg_or_dir.profile_dir() if isinstance(cfg_or_dir, Config) else Path(cfg_or_dir)
    path = base / f"{chapter}.json"
    return json.loads(path.read_text()) if path.is_file() else None


def save_figure(fig: Any, cfg: Config, chapter: str, name: str, dpi: int = 110) -> Path:
    """Save a matplotlib figure as ``<chapter>_<name>.png`` beside the results file."""
    import io

    buf = io.BytesIO()
    fig.savefig(buf, format="png", dpi=dpi, bbox_inches="tight")
    return atomic_write_bytes(cfg.profile_dir() / f"{chapter}_{name}.png", buf.getvalue())
