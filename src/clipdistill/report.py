"""Chapter 06: gather every chapter's results file and set each number beside its reference.

Everything here reads ``results/<profile>/*.json``; nothing is recomputed. A missing
chapter (not run yet) simply leaves its rows empty. The verdict table itself is built in
:mod:`clipdistill.comparison`.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any, Mapping

import pandas as pd

from .comparison import comparison_table, display_table, plot_comparison, sources_markdown
from .config import Config
from .results import CHAPTERS, load_results
from .revision import short

__all__ = ["gather", "status_markdown", "comparison_table", "display_table", "sources_markdown",
           "ensemble_sweep", "provenance_table", "weights_table", "data_table", "timing_table",
           "changed_settings_text",
           "plot_comparison", "colour_table"]


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
                 "with anything. The published column is real: it is what a `quick` or `paper` "
                 "run is compared against.**")
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
    """Profile, models, code, versions, hardware and date of each chapter's run."""
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
            "code": short(prov.get("code")),
            "lock": _lock_text(prov.get("environment")),
            "torch": versions.get("torch"),
            "open_clip": versions.get("open_clip_torch"),
            "transformers": versions.get("transformers"),
            "hardware": hw.get("cuda") or f"CPU x{hw.get('cpu_count', '?')} ({hw.get('machine', '?')})",
            "date (UTC)": (prov.get("date") or "")[:16].replace("T", " "),
        })
    return pd.DataFrame(rows).set_index("chapter")


def weights_table(results: Mapping[str, dict[str, Any] | None]) -> pd.DataFrame:
    """One row per weight file the chapters loaded: repository, commit, SHA-256, and which
    chapters loaded it (the results files hold the full hashes; here they are shortened)."""
    rows: dict[tuple, dict[str, Any]] = {}
    for chapter, res in results.items():
        for entry in ((res or {}).get("provenance") or {}).get("weights") or []:
            if "repo" in entry:
                where = f"{entry['repo']} @ {entry['commit'][:12]}" + ("" if entry.get("pinned") else
                                                                        " (not pinned)")
            elif entry.get("weights") == "random":
                where = f"random weights, seed {entry.get('seed')}"
            else:
                where = str(entry.get("weights", ""))
            for f in entry.get("files") or [{}]:
                key = (entry.get("model"), where, f.get("file", ""), f.get("sha256", ""))
                row = rows.setdefault(key, {"model": key[0], "source": where, "file": key[2],
                                            "sha256": key[3][:16], "chapters": []})
                row["chapters"].append(chapter[:2])
    out = pd.DataFrame(list(rows.values()), columns=["model", "source", "file", "sha256", "chapters"])
    out["chapters"] = out["chapters"].map(", ".join)
    return out.set_index("model")


def changed_settings_text(results: Mapping[str, dict[str, Any] | None]) -> str:
    """Which chapters ran with settings other than their profile's, and which: an exercise
    or a ``--set`` writes its results where the profile's own run would."""
    lines = []
    for chapter, res in results.items():
        changed = (res or {}).get("settings_changed") or {}
        if changed:
            shown = ", ".join(f"`{k}={v!r}`" if len(repr(v)) <= 40 else f"`{k}`"
                              for k, v in sorted(changed.items()))
            lines.append(f"- {chapter[:2]}: {shown}")
    if not lines:
        return "Every chapter ran with its profile's own settings."
    return ("These chapters ran with settings of their own, so their numbers are not the "
            "profile's (file locations aside):\n\n" + "\n".join(lines))


def data_table(results: Mapping[str, dict[str, Any] | None]) -> pd.DataFrame:
    """One row per split or sample the chapters used: source, seed, the images its manifest
    holds (a chapter may score fewer, and says so itself), the manifest's digest and the
    checksums of the archives it came from."""
    rows: dict[tuple, dict[str, Any]] = {}
    for chapter, res in results.items():
        for entry in ((res or {}).get("provenance") or {}).get("data") or []:
            archives = ", ".join(f"{a['file']} ({'md5' if 'md5' in a else 'sha256'} "
                                 f"{(a.get('md5') or a.get('sha256', ''))[:12]})"
                                 for a in entry.get("archives") or [])
            if entry.get("synthetic"):
                archives = "generated from the seed"
            key = (entry["split"], entry["source"], entry["seed"], entry["manifest_sha256"])
            row = rows.setdefault(key, {"split": key[0], "source": key[1], "seed": key[2],
                                        "images in manifest": entry["images"],
                                        "manifest sha256": key[3][:16],
                                        "archives": archives, "chapters": []})
            row["chapters"].append(chapter[:2])
    columns = ["split", "source", "seed", "images in manifest", "manifest sha256", "archives",
               "chapters"]
    out = pd.DataFrame(list(rows.values()), columns=columns)
    out["chapters"] = out["chapters"].map(", ".join)
    return out.set_index("split")


def _lock_text(env: Mapping[str, Any] | None) -> str | None:
    """``lock.txt`` (the file in ``requirements/`` the environment matched), or how many
    packages differed from the nearest lock."""
    if not env:
        return None
    if env.get("matches"):
        return f"matches {Path(env['lock']).name}"
    if env.get("lock"):
        return f"{env['differing']} differ from {Path(env['lock']).name}"
    return "no lock"


def _models_text(models: Any) -> str:
    if isinstance(models, Mapping):
        # cache keys (``key``, ``clip_key``) stay in the results file: a reader wants names
        keep = {k: v for k, v in models.items()
                if isinstance(v, str) and k != "key" and not k.endswith("_key")}
        return ", ".join(f"{k}: {v}" for k, v in keep.items())
    if isinstance(models, (list, tuple)):
        return ", ".join(map(str, models))
    return str(models or "")


def timing_table(cfg: Config) -> pd.DataFrame:
    """Each chapter's latest run under ``clipdistill run``: seconds, status and when it
    finished (UTC), in chapter order, from the runner's ``chapters.json`` (older runs:
    ``run.json``). Empty when the chapters were run by hand. A chapter re-run alone
    later shows a later time than the rest, so a stale page can be seen."""
    from .runner import latest_chapter_runs

    columns = ["seconds", "status", "finished"]
    entries = latest_chapter_runs(Path(cfg.profile_dir()))
    if not entries:
        return pd.DataFrame(columns=columns)
    table = pd.DataFrame(entries).reindex(columns=["chapter", *columns])
    table["finished"] = [str(t).replace("T", " ").removesuffix("+00:00") if isinstance(t, str)
                         else "" for t in table["finished"]]
    return table.sort_values("chapter").set_index("chapter")


def colour_table(results: Mapping[str, dict[str, Any] | None]) -> pd.DataFrame:
    """Chapter 07's headline per model beside chance (nothing comparable is published).

    Empty when chapter 07 has not been run for this profile.
    """
    from .colour.prompts import STYLES

    columns = ["model", "measure", "prompt style", "value", "chance"]
    rows = ((results.get("07_colour") or {}).get("metrics") or {}).get("headline") or []
    table = pd.DataFrame(rows, columns=columns)
    # Chapter 6's reader has not met the styles: "4 (numbers)" says what a bare 4 does not.
    table["prompt style"] = [STYLES[s].label() if s in STYLES else s for s in table["prompt style"]]
    return table.set_index(["model", "measure"])
