"""What the first cell of every chapter calls: resolve the profile, seed, label the run.

A chapter starts with a cell tagged ``parameters`` (papermill's convention)::

    profile = "auto"   # smoke | quick | paper | auto
    overrides = {}     # any parameter of clipdistill.Config, e.g. {"knn_k": 7}
    knn_k = None       # a few of the chapter's own knobs; None = the profile's value

and then ``cfg = cd.setup("02_zero_shot_clip", profile, overrides)``. Every notebook
variable named like a :class:`~clipdistill.Config` field and not ``None`` is an override
too, so ``papermill ... -p knn_k 7`` (or ``-y "knn_k: 7"``) works for any parameter, not
only the ones the cell lists; a misspelt one fails with the closest of the chapter's own.

Run by hand (JupyterLab, ``papermill`` from ``notebooks/``), a chapter resolves as
``clipdistill run`` would: ``clipdistill lab`` (``make lab``) passes its ``--profile`` and
``--data-root`` to the kernels as :data:`SETTINGS_ENV`, and :func:`setup` reads them where
the notebook says nothing else (``profile = "auto"``, no ``data_root`` override). Work
and results folders are relative to the project root, wherever the kernel runs.
"""

from __future__ import annotations

import os
import random
import sys
import warnings
from dataclasses import fields, replace
from pathlib import Path
from typing import Any, Mapping

from .config import PROFILE_NAMES, Config, ConfigError, project_root, resolve
from .device import torch_device
from .suggest import did_you_mean

__all__ = ["setup", "say", "notebook_parameters", "torch_device", "smoke_banner_html", "smoke_banner", "SMOKE_BANNER",
           "SETTINGS_ENV", "environment_settings", "settings_environment", "profile_line_html"]

SMOKE_BANNER = "random weights: these numbers are not results"
# Chapter 1 loads no model: its counts, splits and bad-file report are facts about the
# images in any profile, and a box saying "not results" over them would be wrong.
DATA_ONLY_CHAPTERS = ("01_data_prep",)
SMOKE_DATA_BANNER = "a small sample of the data; this chapter loads no model"


def smoke_banner(chapter: str) -> str:
    """The words a smoke run's warning box opens with in ``chapter``."""
    return SMOKE_DATA_BANNER if chapter in DATA_ONLY_CHAPTERS else SMOKE_BANNER

# The run settings a chapter run by hand inherits from the command that started its kernel
# (`clipdistill lab`, so `make lab`), under the same names as `clipdistill run`'s options.
SETTINGS_ENV = {"profile": "CLIPDISTILL_PROFILE", "data_root": "CLIPDISTILL_DATA_ROOT"}


def environment_settings(environ: Mapping[str, str] | None = None) -> tuple[str | None, dict[str, Any]]:
    """``(profile, overrides)`` that :data:`SETTINGS_ENV` asks for; unset or empty: ``None``, ``{}``."""
    env = os.environ if environ is None else environ
    profile = env.get(SETTINGS_ENV["profile"], "").strip() or None
    if profile is not None and profile not in PROFILE_NAMES:
        raise ConfigError(f"{SETTINGS_ENV['profile']}={profile!r} is not a profile."
                          f"{did_you_mean(profile, PROFILE_NAMES)}")
    data_root = env.get(SETTINGS_ENV["data_root"], "").strip()
    return profile, ({"data_root": str(Path(data_root).expanduser().resolve())} if data_root else {})


def settings_environment(profile: str, data_root: str | None) -> dict[str, str]:
    """The inverse of :func:`environment_settings`: what a kernel's environment must hold."""
    return {SETTINGS_ENV["profile"]: profile,
            SETTINGS_ENV["data_root"]: str(Path(data_root).expanduser().resolve()) if data_root else ""}


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


def smoke_banner_html(cfg: Config, detail: str = "", chapter: str = "") -> str:
    """A loud warning box that reads the same in Jupyter and in the built book; ``detail``
    (HTML: which profile runs and why) goes first inside it."""
    if not cfg.smoke:
        return (
            f'<div class="admonition note"><p class="admonition-title">Profile: {cfg.profile}</p>'
            f"{detail}<p>Pretrained weights ({cfg.clip_model}/{cfg.clip_pretrained}).</p></div>"
        )
    return (
        '<div class="admonition warning" style="border:3px solid #c62828;background:#ffebee;'
        'padding:0.6em 1em;margin:0.5em 0;">'
        f'<p class="admonition-title" style="color:#c62828;font-weight:bold;">'
        f"SMOKE RUN: {smoke_banner(chapter)}</p>{detail}"
        + (_DATA_ONLY_NOTE if chapter in DATA_ONLY_CHAPTERS else _MODELS_NOTE) + "</div>"
    )


_MODELS_NOTE = (
    "<p>This chapter ran offline with the real architectures but <b>seeded random "
    "weights</b>. It checks that every step works end to end; no accuracy, F1 or speed "
    "below says anything about CLIP, the VLM or the students. Run the <code>quick</code> "
    "or <code>paper</code> profile for real results.</p>")
_DATA_ONLY_NOTE = (
    "<p>What this chapter shows (counts, splits, the bad-file report) describes the images "
    "themselves and holds in any profile, but the smoke profile prepares only a few images "
    "per class. The chapters after it run with <b>seeded random weights</b>: their numbers "
    "are not results.</p>")


def _assigned(source: str) -> list[str]:
    """The names a cell's source assigns, in order (``[]`` when it does not parse)."""
    import ast

    try:
        tree = ast.parse(source)
    except SyntaxError:
        return []
    names = [n.id for n in ast.walk(tree) if isinstance(n, ast.Name) and isinstance(n.ctx, ast.Store)]
    return list(dict.fromkeys(names))


def _papermill_cells(namespace: Mapping[str, Any]) -> tuple[set[str], list[str]]:
    """``(injected, declared)`` names, read from the kernel's input history: those assigned
    in the cells papermill injected (their source starts with its ``# Parameters`` comment)
    and those of the chapter's parameters cell, which papermill puts the injected cell after."""
    history = [s for s in namespace.get("In", None) or [] if isinstance(s, str)]
    injected: set[str] = set()
    declared: list[str] = []
    for i, source in enumerate(history):
        if source.lstrip().startswith("# Parameters"):
            injected.update(_assigned(source))
            if i and not declared:
                declared = _assigned(history[i - 1])
    return injected, declared


def notebook_parameters(namespace: Mapping[str, Any]) -> dict[str, Any]:
    """The overrides a notebook's variables ask for: Config fields that are not ``None``.

    A name papermill injected (``-p NAME VALUE``) that is neither a parameter nor
    ``profile``/``overrides`` is a typo (``-p overide '{}'``) and fails here instead of
    being silently ignored, naming the closest of the chapter's own parameters (those its
    parameters cell declares) before any other field.
    """
    known = {f.name for f in fields(Config)} - {"profile", "smoke", "profile_note"}
    injected, declared = _papermill_cells(namespace)
    for name in sorted(injected - known - {"profile", "overrides"}):
        everything = ["profile", "overrides", *sorted(known)]
        hint = (did_you_mean(name, declared, list_valid=False)
                or did_you_mean(name, everything, list_valid=False))
        own = (f" This chapter's parameters: {', '.join(declared)}; any other Config field works "
               "too" if declared else " Any Config field works")
        raise ConfigError(f"Unknown parameter {name!r} passed to the notebook.{hint}{own} "
                          "(`clipdistill config` lists them all).")
    return {k: v for k, v in namespace.items() if k in known and v is not None}


SMOKE_SAY = "Smoke run, random weights: computed as a real run's would be, but not a result."


def say(cfg: Config, real: str) -> None:
    """Commentary on a number. With random weights the sentence still shows (its form is
    part of what a smoke run checks), under a label that says it is not a result, as
    :func:`clipdistill.findings.show` labels a chapter's findings."""
    from IPython.display import Markdown, display

    display(Markdown(real if not cfg.smoke else f"**{SMOKE_SAY}** {real}"))


def profile_line(cfg: Config, asked: str, source: str, data_source: str = "") -> str:
    """What a chapter says first: the profile that runs, who asked for it and, for ``auto``,
    why it became what it did; then where it reads data and writes caches and results."""
    root = project_root()

    def shown(path: str | Path) -> str:
        path = Path(path)
        return f"{path.relative_to(root)}/" if path.is_relative_to(root) else str(path)

    if asked == "auto":
        why = cfg.profile_note.split(": ", 1)[-1]
        head = f"Profile {cfg.profile}: {source} asked for auto, which chose {cfg.profile} because {why}."
    else:
        head = f"Profile {cfg.profile}, as {source} asked."
    data = f"`{cfg.data_root}`{data_source}" if cfg.data_root else "none given (downloaded or generated)"
    return (f"{head} Data: {data}; caches: `{shown(cfg.work_dir)}`; "
            f"results: `{shown(cfg.profile_dir())}`.")


def profile_line_html(cfg: Config, asked: str, source: str, data_source: str = "") -> str:
    """:func:`profile_line` as a paragraph: profile name in bold, `names` as code."""
    import html
    import re

    text = html.escape(profile_line(cfg, asked, source, data_source), quote=False)
    head, _, rest = text.partition(cfg.profile)
    rest = re.sub(r"`([^`]+)`", r"<code>\1</code>", rest)
    return f'<p class="clipdistill-profile"><b>{head}{cfg.profile}</b>{rest}</p>'


def setup(chapter: str, profile: str = "auto", overrides: Mapping[str, Any] | None = None,
          *, show: bool = True, namespace: Mapping[str, Any] | None = None) -> Config:
    """Resolve the config for ``chapter``, seed everything and show the run's label and cost.

    Called from a notebook, the notebook's parameter variables are overrides too (see the
    module docstring); ``namespace`` names another place to look, and outside a Jupyter
    kernel nothing is looked at unless it is given. ``profile="auto"`` and an unset
    ``data_root`` defer to :data:`SETTINGS_ENV`. In ``smoke`` the Hugging Face libraries
    are switched to offline mode, so nothing waits on a network that is not there.
    """
    from .progress import in_kernel

    if namespace is None and in_kernel():
        namespace = sys._getframe(1).f_globals  # the notebook's own variables
    env_profile, env_overrides = environment_settings()
    injected, _ = _papermill_cells(namespace or {})
    if "profile" in injected:
        source = "papermill (`clipdistill run`, or `-p profile`)"
    elif profile == "auto" and env_profile:
        profile, source = env_profile, f"`{SETTINGS_ENV['profile']}` (`make lab` sets it)"
    else:
        source = "this notebook's parameters cell" if namespace else "the caller"
    overrides = {**(overrides or {}), **notebook_parameters(namespace or {})}
    data_source = ""
    if "data_root" not in overrides and env_overrides:
        overrides, data_source = {**env_overrides, **overrides}, f" (`{SETTINGS_ENV['data_root']}`)"
    # tqdm.auto nags when ipywidgets is absent (huggingface_hub imports it while `auto`
    # looks at the cache); our bars render as text either way.
    warnings.filterwarnings("ignore", message="IProgress not found")
    with warnings.catch_warnings():
        if show:  # the banner below says it, first and once
            warnings.filterwarnings("ignore", message="Profile 'auto' fell back")
        cfg = resolve(profile, overrides)
    cfg = _absolute(cfg, project_root())
    if cfg.smoke:
        os.environ.setdefault("HF_HUB_OFFLINE", "1")
        os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")
    seed_everything(cfg.seed)
    cfg.profile_dir().mkdir(parents=True, exist_ok=True)
    if show:
        try:
            from IPython.display import HTML, display

            from .costs import cost_box_html

            line = profile_line_html(cfg, profile, source, data_source)
            display(HTML(smoke_banner_html(cfg, line, chapter) + cost_box_html(chapter)))
        except ImportError:  # pragma: no cover - plain Python
            print(f"[{chapter}] {profile_line(cfg, profile, source, data_source)}"
                  + (f" SMOKE: {smoke_banner(chapter)}" if cfg.smoke else ""))
    return cfg
