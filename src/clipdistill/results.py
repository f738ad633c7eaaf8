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

from . import lock, weights
from .config import Config, project_root
from .data import manifests
from .device import peak_rss_mb
from .io import atomic_write_bytes, atomic_write_json
from .revision import code_revision

__all__ = ["save_results", "load_results", "save_figure", "provenance", "reruns", "changed_settings",
           "CHAPTERS"]

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
    """The code's version and git commit, package versions, hardware, date, every weight
    this process loaded (repository, commit, SHA-256 of each file), every split it used
    (manifest digest, seed, archive checksums) and the lock file the environment matches:
    what a reader needs to trust and repeat a number."""
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
        "code": code_revision(),
        "versions": versions,
        "hardware": hw,
        # The kernel saves a chapter's results last: this is the chapter's peak memory.
        "peak_rss_mb": peak_rss_mb(),
        "weights": weights.loaded(),
        "data": manifests.used(),
        "environment": lock.status(project_root()),
    }


# How far a rerun's numbers may move, by the device that computed them (see reruns()).
RELATIVE_ROUNDING = {"bf16": 4e-3, "fp16": 5e-4, "fp32": 1.2e-7}


def reruns(cfg: Config) -> dict[str, Any]:
    """Whether running this chapter again gives the same numbers bit for bit, and if not,
    by how much they may differ."""
    from .device import torch_device

    kind = torch_device(cfg).type
    if kind == "cpu":
        return {"identical": True, "device": kind,
                "why": "CPU kernels give the same bits for the same data, weights, software and "
                       "thread count; the test suite reruns a whole smoke book, killed and "
                       "resumed mid-chapter, and compares every number"}
    return {"identical": False, "device": kind, "relative_rounding": RELATIVE_ROUNDING,
            "why": f"{kind} kernels may sum in another order from run to run (autotuned "
                   "convolutions, atomic additions, reduced-precision autocast): embeddings and "
                   "logits may differ by about the rounding unit of their precision (relative: "
                   + ", ".join(f"{k} {v:g}" for k, v in RELATIVE_ROUNDING.items())
                   + "), so a prediction on a near tie can flip, "
                   "moving an accuracy by one test image, and a trained student by its "
                   "run-to-run spread"}


# Where files live and how many helpers do the work: they move no number, so a run that
# sets them is still the profile's own.
PLACES = frozenset({"data_root", "work_dir", "results_dir", "pets_dir", "other_dir",
                    "imagenet_root", "num_workers", "device", "profile_note", "vlm_api_base"})


def changed_settings(cfg: Config) -> dict[str, Any]:
    """The settings where ``cfg`` differs from its profile on this machine (``--set``, a
    papermill ``-p``, an exercise), places aside (:data:`PLACES`): a results file says so,
    and chapter 6 shows it, because a chapter rerun with ``knn_k=1`` writes to the same
    ``results/<profile>/`` as the profile's own run."""
    from .config import resolve

    base = resolve(cfg.profile).to_dict()
    return {k: v for k, v in cfg.to_dict().items() if k not in PLACES and base.get(k) != v}


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
        "settings_changed": changed_settings(cfg),
        "provenance": {**provenance(), "reruns": reruns(cfg)},
        **extra,
    }
    return atomic_write_json(cfg.profile_dir() / f"{chapter}.json", payload)


def load_results(cfg_or_dir: Config | str | Path, chapter: str) -> dict[str, Any] | None:
    """One chapter's results, or None when that chapter has not been run."""
    base = cfg_or_dir.profile_dir() if isinstance(cfg_or_dir, Config) else Path(cfg_or_dir)
    path = base / f"{chapter}.json"
    return json.loads(path.read_text()) if path.is_file() else None


SMOKE_STAMP = "SMOKE RUN: random weights, not a result"


def _above_everything(fig: Any) -> float:
    """A height, in figure fractions, over every artist. Above, not below: chapter 5's
    legends are laid out under the panels at draw time, where a stamp placed beforehand
    landed on them; nothing is laid out above a figure's top edge."""
    try:
        box = fig.get_tightbbox(fig.canvas.get_renderer())  # inches
    except (AttributeError, RuntimeError):  # a backend without a renderer: the top edge
        return 1.0
    return max(box.y1 / fig.get_figheight(), 1.0) + 0.01


def save_figure(fig: Any, cfg: Config, chapter: str, name: str, dpi: int = 110, *,
                about_models: bool = True) -> Path:
    """Save a matplotlib figure as ``<chapter>_<name>.png`` beside the results file.

    In a smoke run a figure about models gets a red line over it, on the page and in the
    file, so a copy taken out of the book still says that its weights were random
    (``about_models=False`` for figures of the data alone, true whatever the weights)."""
    import io

    if cfg.smoke and about_models and not any(t.get_text() == SMOKE_STAMP for t in fig.texts):
        fig.text(0.01, _above_everything(fig), SMOKE_STAMP, ha="left", va="bottom",
                 fontsize=8, color="#c62828", fontweight="bold")
    buf = io.BytesIO()
    fig.savefig(buf, format="png", dpi=dpi, bbox_inches="tight")
    return atomic_write_bytes(cfg.profile_dir() / f"{chapter}_{name}.png", buf.getvalue())
