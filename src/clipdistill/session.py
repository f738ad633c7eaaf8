"""What the first cell of every chapter calls: resolve the profile, seed, label the run.

A chapter starts with a cell tagged ``parameters`` (papermill's convention)::

    profile = "auto"   # smoke | quick | paper | auto
    overrides = {}     # any parameter of clipdistill.Config, e.g. {"knn_k": 7}
    knn_k = None       # a few of the chapter's own knobs; None = the profile's value

and then ``cfg = cd.setup("02_zero_shot_clip", profile, overrides)``. Every notebook
variable named like a :class:`~clipdistill.Config` field and not ``None`` is an override
too, so ``papermill ... -p knn_k 7`` (or ``-y "knn_k: 7"``) works for any parameter, not
only the ones the cell lists; a misspelt one fails with the closest names.
"""

from __future__ import annotations

import os
import random
import sys
import warnings
from dataclasses import fields, replace
from pathlib import Path
from typing import Any, Mapping

from .config import Config, ConfigError, project_root, resolve
from .device import torch_device
from .suggest import did_you_mean

__all__ = ["setup", "say", "notebook_parameters", "torch_device", "smoke_banner_html", "SMOKE_BANNER"]

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


def _injected_names(namespace: Mapping[str, Any]) -> set[str]:
    """Names assigned in the cells papermill injected (their source starts with its
    ``# Parameters`` comment), read from the kernel's input history."""
    import ast

    names: set[str] = set()
    for source in namespace.get("In", None) or []:
        if isinstance(source, str) and source.lstrip().startswith("# Parameters"):
            for node in ast.walk(ast.parse(source)):
                if isinstance(node, ast.Name) and isinstance(node.ctx, ast.Store):
                    names.add(node.id)
    return names


def notebook_parameters(namespace: Mapping[str, Any]) -> dict[str, Any]:
    """The overrides a notebook's variables ask for: Config fields that are not ``None``.

    A name papermill injected (``-p NAME VALUE``) that is neither a parameter nor
    ``profile``/``overrides`` is a typo (``-p knn_kk 7``) and fails here instead of being
    silently ignored.
    """
    known = {f.name for f in fields(Config)} - {"profile", "smoke", "profile_note"}
    for name in sorted(_injected_names(namespace) - known - {"profile", "overrides"}):
        raise ConfigError(f"Unknown parameter {name!r} passed to the notebook."
                          f"{did_you_mean(name, sorted(known))}")
    return {k: v for k, v in namespace.items() if k in known and v is not None}


def say(cfg: Config, real: str) -> None:
    """Commentary on a number: the sentence itself when the weights are real, a plain
    reminder when they are random (a smoke run's numbers must never be read)."""
    from IPython.display import Markdown, display

    display(Markdown(real if not cfg.smoke else
                     "*Smoke run: random weights, so this number says nothing about the models.*"))


def setup(chapter: str, profile: str = "auto", overrides: Mapping[str, Any] | None = None,
          *, show: bool = True, namespace: Mapping[str, Any] | None = None) -> Config:
    """Resolve the config for ``chapter``, seed everything and show the run's label and cost.

    Called from a notebook, the notebook's parameter variables are overrides too (see the
    module docstring); ``namespace`` names another place to look, and outside a Jupyter
    kernel nothing is looked at unless it is given. In ``smoke`` the Hugging Face
    libraries are switched to offline mode, so nothing waits on a network that is not there.
    """
    from .progress import in_kernel

    if namespace is None and in_kernel():
        namespace = sys._getframe(1).f_globals  # the notebook's own variables
    overrides = {**(overrides or {}), **notebook_parameters(namespace or {})}
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

            from .costs import cost_box_html

            display(HTML(smoke_banner_html(cfg) + cost_box_html(chapter)))
        except ImportError:  # pragma: no cover - plain Python
            print(f"[{chapter}] profile={cfg.profile}" + (f" — SMOKE: {SMOKE_BANNER}" if cfg.smoke else ""))
    return cfg
