"""Chapter 06: gather every chapter's results file and set each number beside its reference.

Everything here reads ``results/<profile>/*.json``; nothing is recomputed. A missing
chapter (not run yet) simply leaves its rows empty. The verdict table itself is built in
:mod:`clipdistill.comparison`.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any, Mapping

import pandas as pd

from .comparison import comparison_table, display_table, plot_comparison, sources_markdown
from .config import Config
from .results import CHAPTERS, load_results

__all__ = ["gather", "status_markdown", "comparison_table", "display_table", "sources_markdown",
           "ensemble_sweep", "provenance_table", "timing_table", "plot_comparison", "colour_table"]


def gather(cfg: Config) -> dict[str, dict[str, Any] | None]:
    """Every chapter's results (None where a chapter has not been run for this profile)."""
    return {chapter: load_results(cfg, chapter) for chapter in CHAPTERS}


def status_markdown(profile: str, results: Mapping[str, dict[str, Any] | None]) -> str:
    """Which chapters have results for ``profile``, and a loud warning when any is smoke."""
    ran = [c for c, r in results.items() if r is not None]
    missing = [c for c, r in results.items() if r is None]
    text = f"Chapters with results for profile `{profile}`: {', '.join(ran) or 'none'}."
    if missing:
        text += f" Not run yet: {', '.join(missing)}."
    if any(results[c].get("smoke") for c in ran):
        text += ("\n\n**These results come from a smoke run: random weights. The *ours* "
                 "column below is noise from untrained networks and must not be compared "
                 "with anything. The published column is real and shows what a `quick` or "
                 "`paper` run should approach.**")
    return text


def ensemble_sweep(cfg: Config) -> pd.DataFrame | None:
    """Chapter 04's sweep table (images and classes behind each accuracy), if it ran; its
    supervised baseline (``04_prompt_ensembles_supervised.csv``) in ``attrs["supervised"]``."""
    path = Path(cfg.profile_dir()) / "04_prompt_ensembles_sweep.csv"
    if not path.is_file():
        return None
    sweep = pd.read_csv(path)
    supervised = path.with_name("04_prompt_ensembles_supervised.csv")
    if supervised.is_file() and supervised.stat().st_size > 1:
        sweep.attrs["supervised"] = pd.read_csv(supervised)
    return sweep


def provenance_table(results: Mapping[str, dict[str, Any] | None]) -> pd.DataFrame:
    """Profile, models, versions, hardware and date of each chapter's run."""
    rows = []
    for chapter, res in results.items():
        if res is None:
            rows.append({"chapter": chapter, "profile": "not run"})
            continue
        prov = res.get("provenance", {})
        versions = prov.get("versions", {})
        hw = prov.get("hardware", {})
        rows.append({
            "chapter": chapter,
            "profile": res.get("profile"),
            "random weights": bool(res.get("smoke")),
            "models": _models_text(res.get("models")),
            "torch": versions.get("torch"),
            "open_clip": versions.get("open_clip_torch"),
            "transformers": versions.get("transformers"),
            "hardware": hw.get("cuda") or f"CPU x{hw.get('cpu_count', '?')} ({hw.get('machine', '?')})",
            "date (UTC)": (prov.get("date") or "")[:16].replace("T", " "),
        })
    return pd.DataFrame(rows).set_index("chapter")


def _models_text(models: Any) -> str:
    if isinstance(models, Mapping):
        keep = {k: v for k, v in models.items() if isinstance(v, str) and k not in ("key",)}
        return ", ".join(f"{k}: {v}" for k, v in keep.items())
    if isinstance(models, (list, tuple)):
        return ", ".join(map(str, models))
    return str(models or "")


def timing_table(cfg: Config) -> pd.DataFrame:
    """Seconds per chapter from the runner's ``run.json`` (empty when run by hand)."""
    path = Path(cfg.profile_dir()) / "run.json"
    if not path.is_file():
        return pd.DataFrame(columns=["seconds", "status"])
    run = json.loads(path.read_text())
    return pd.DataFrame(run.get("chapters", [])).set_index("chapter")[["seconds", "status"]]


def colour_table(results: Mapping[str, dict[str, Any] | None]) -> pd.DataFrame:
    """Chapter 07's headline per model beside chance (nothing comparable is published).

    Empty when chapter 07 has not been run for this profile.
    """
    columns = ["model", "measure", "prompt style", "value", "chance"]
    rows = ((results.get("07_colour") or {}).get("metrics") or {}).get("headline") or []
    return pd.DataFrame(rows, columns=columns).set_index(["model", "measure"])
