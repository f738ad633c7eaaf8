"""What the first cell of every chapter calls: resolve the profile, seed, label the run."""

from __future__ import annotations

import os
import random
import warnings
from dataclasses import replace
from pathlib import Path
from typing import Any, Mapping

from .config import Config, project_root, resolve
from .device import torch_device

__all__ = ["setup", "torch_device", "smoke_banner_html", "SMOKE_BANNER"]

SMOKE_BANNER = "random weights: these numbers are not results"


def _absolute(cfg: Config, root: Path) -> Config:
    """Relative paths in the config are relative to the project root, wherever we run."""
    changes = {}
    for key in ("data_root", "work_dir", "results_dir", "pets_dir", "other_dir", "imagenet_root"):
        value = getattr(cfg, key)
        if value and not Path(value).expanduser().is_absolute():
            changes[key] = str((root / value).resolve())
        elif value:
            changes[key] = str(Path(value).expanduser())
    return replace(cfg, **changes)


def seed_everything(seed: int) -> None:
    random.seed(seed)
    import numpy as np
    import torch

    np.random.seed(seed)
    torch.manual_seed(seed)


def smoke_banner_html(cfg: Config) -> str:
    """A loud warning box that reads the same in Jupyter and in the built book."""
    if not cfg.smoke:
        return (
            f'<div class="admonition note"><p class="admonition-title">Profile: {cfg.profile}</p>'
            f"<p>Pretrained weights ({cfg.clip_model}/{cfg.clip_pretrained}).</p></div>"
        )
    return (
        '<div class="admonition warning" style="border:3px solid #c62828;background:#ffebee;'
        'padding:0.6em 1em;margin:0.5em 0;">'
        f'<p class="admonition-title" style="color:#c62828;font-weight:bold;">'
        f"SMOKE RUN: {SMOKE_BANNER}</p>"
        "<p>This chapter ran offline with the real architectures but <b>seeded random "
        "weights</b>. It checks that every step works end to end; no accuracy, F1 or speed "
        "below says anything about CLIP, the VLM or the students. Run the <code>quick</code> "
        "or <code>paper</code> profile for real results.</p></div>"
    )


def setup(chapter: str, profile: str = "auto", overrides: Mapping[str, Any] | None = None,
          *, show: bool = True) -> Config:
    """Resolve the config for ``chapter``, seed everything and show the run's label.

    In ``smoke`` the Hugging Face libraries are switched to offline mode, so nothing
    waits on a network that is not there.
    """
    cfg = resolve(profile, overrides)
    cfg = _absolute(cfg, project_root())
    # tqdm.auto nags when ipywidgets is absent; our bars render as text either way.
    warnings.filterwarnings("ignore", message="IProgress not found")
    if cfg.smoke:
        os.environ.setdefault("HF_HUB_OFFLINE", "1")
        os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")
    seed_everything(cfg.seed)
    cfg.profile_dir().mkdir(parents=True, exist_ok=True)
    if show:
        try:
            from IPython.display import HTML, display

            display(HTML(smoke_banner_html(cfg)))
        except ImportError:  # pragma: no cover - plain Python
            print(f"[{chapter}] profile={cfg.profile}" + (f" — SMOKE: {SMOKE_BANNER}" if cfg.smoke else ""))
    return cfg
