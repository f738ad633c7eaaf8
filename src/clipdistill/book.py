"""Build the HTML book from the chapters that ``clipdistill run`` executed.

Jupyter Book never executes anything here (``execute_notebooks: off``): papermill already
did, so the book shows exactly what the run produced. Before building we write
``book/_generated/run_status.md``, which the front page includes: it says which profile
produced each chapter and, for a smoke build, that the numbers are not results.
"""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

from .config import ConfigError
from .results import CHAPTERS
from .runner import executed_parameters
from .session import SMOKE_BANNER

__all__ = ["build_book", "write_run_status", "write_profiles_table", "write_costs_table"]


def write_run_status(root: Path) -> tuple[Path, bool]:
    """Summarise the executed chapters for the front page; return (path, any_smoke)."""
    chapters_dir = root / "book" / "chapters"
    missing = [c for c in CHAPTERS if not (chapters_dir / f"{c}.ipynb").is_file()]
    if missing:
        raise ConfigError(
            f"Not executed yet: {', '.join(missing)}. Run `clipdistill run --profile PROFILE` "
            "first (the book renders executed chapters only)."
        )
    rows, profiles, any_smoke = [], set(), False
    for chapter in CHAPTERS:
        info = executed_parameters(chapters_dir / f"{chapter}.ipynb")
        profile = info["parameters"].get("profile", "?")
        smoke = profile == "smoke"
        any_smoke |= smoke
        profiles.add(profile)
        seconds = f"{info['duration']:.0f} s" if info.get("duration") else "?"
        when = (info.get("end_time") or "?")[:16].replace("T", " ")
        rows.append(f"| {chapter} | {profile}{' (random weights)' if smoke else ''} | {seconds} | {when} |")
    table = "\n".join(["| chapter | profile | run time | finished (UTC) |", "|---|---|---|---|", *rows])
    if any_smoke:
        head = (
            f":::{{admonition}} SMOKE BUILD: {SMOKE_BANNER}\n:class: danger\n\n"
            "This copy of the book was executed offline with the real model architectures "
            "but **seeded random weights**. It proves that every step runs end to end; no "
            "accuracy, F1 or speed in it says anything about CLIP, the VLM or the students. "
            "Run the `quick` or `paper` profile (see {doc}`running`) for real results.\n:::\n"
        )
    else:
        head = (
            f":::{{admonition}} Built from a `{'`, `'.join(sorted(profiles))}` run\n:class: note\n\n"
            "Every chapter below ran with pretrained weights.\n:::\n"
        )
    out = root / "book" / "_generated" / "run_status.md"
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(head + "\n" + table + "\n")
    return out, any_smoke


def write_profiles_table(root: Path) -> Path:
    """The profiles page's parameter tables, straight from config.py (they cannot drift).

    First the parameters that differ between profiles, one column per profile, with what
    a machine without a GPU runs instead in the same cell; then those every profile
    shares. Values are code spans: JSON a reader can paste into ``--set`` as it stands
    (plain text would get typographic quotes). Under each name, its comment in config.py
    says what the value means (``0`` is often "no limit")."""
    from dataclasses import asdict

    from .config import HARDWARE_ADJUSTMENTS, PROFILES, Config, field_notes

    defaults = asdict(Config())
    notes = field_notes()
    skip = {"profile", "profile_note", "smoke"}  # the profile's own name and label
    full = {name: {**defaults, **values} for name, values in PROFILES.items()}
    cpu = {name: {**full[name], **HARDWARE_ADJUSTMENTS.get(name, {})} for name in PROFILES}

    def code(value) -> str:
        text = json.dumps(value) if isinstance(value, (list, dict)) else str(value) or '""'
        return f"`{text}`".replace("|", "\\|")

    def label(key: str) -> str:  # the field, and what its comment in config.py says
        note = notes.get(key, "").replace("|", "\\|").replace("*", "\\*")
        return f"`{key}`" + (f"<br><small>{note}</small>" if note else "")

    def cell(name: str, key: str) -> str:
        here, there = full[name][key], cpu[name][key]
        return code(here) + ("" if there == here else f"<br>without a GPU: {code(there)}")

    shown = [k for k in defaults if k not in skip]
    differ = [k for k in shown if len({json.dumps(c[k], sort_keys=True)
                                      for c in (*full.values(), *cpu.values())}) > 1]
    lines = ["| parameter | " + " | ".join(f"`{n}`" for n in PROFILES) + " |",
             "|---|" + "---|" * len(PROFILES)]
    lines += [f"| {label(k)} | " + " | ".join(cell(n, k) for n in PROFILES) + " |" for k in differ]
    lines += ["", f"The other {len(shown) - len(differ)} parameters are the same in every "
              "profile:", "", "| parameter | value |", "|---|---|"]
    lines += [f"| {label(k)} | {code(defaults[k])} |" for k in shown if k not in differ]
    out = root / "book" / "_generated" / "profiles_table.md"
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text("\n".join(lines) + "\n")
    return out


def _escape(text: str) -> str:
    return text.replace("|", "\\|")


def write_costs_table(root: Path, costs_file: Path | None = None) -> Path:
    """The profiles page's measured costs, from ``costs.json`` (see :mod:`.costs`): one row
    per recorded run, then each chapter's time and peak memory per run. A profile nobody
    has measured says so, rather than showing a guess beside measurements."""
    from . import costs
    from .config import PROFILE_NAMES

    path = costs_file or costs.COSTS_FILE
    runs = costs.load_costs(path)["runs"]
    lines = ["| run | profile | measured on | weights | wall time, all chapters | peak RAM "
             "(largest chapter) | date | code |", "|---|---|---|---|---|---|---|---|"]
    for i, row in enumerate(costs.cost_table(None, path), 1):
        note = f" *({_escape(row['note'])})*" if row["note"] else ""
        lines.append(f"| {i} | `{row['profile']}` | {_escape(row['hardware'])}{note} | "
                     f"{row['weights']} | {row['time']} | {row['peak memory']} | {row['date']} | "
                     f"`{row['code']}` |")
    measured = {r["profile"] for r in runs}
    for name in PROFILE_NAMES:
        if name != "auto" and name not in measured:
            lines.append(f"| | `{name}` | not measured yet | | | | | |")
    if runs:  # columns by run number: the hardware strings are too long for headings
        heads = [f"{i}: `{costs.profile_label(r)}`" for i, r in enumerate(runs, 1)]
        lines += ["", "Per chapter (wall time, peak RAM), by run as numbered above:", "",
                  "| chapter | " + " | ".join(heads) + " |",
                  "|---|" + "---|" * len(runs)]
        for chapter in CHAPTERS:
            found = {(r["profile"], r["hardware"]): r for r in costs.cost_table(chapter, path)}
            cells = [found.get((costs.profile_label(r), r["hardware"])) for r in runs]
            lines.append(f"| {chapter} | " + " | ".join(
                f"{c['time']}, {c['peak memory']}" if c else "-" for c in cells) + " |")
    out = root / "book" / "_generated" / "costs_table.md"
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text("\n".join(lines) + "\n")
    return out


def build_book(root: Path | str = ".", *, strict: bool = True, log=None) -> Path:
    """Build ``_build/html``; ``strict`` turns Sphinx warnings into errors (CI uses it)."""
    root = Path(root).resolve()
    log = log or sys.stderr
    write_run_status(root)
    write_profiles_table(root)
    write_costs_table(root)
    exe = Path(sys.executable).with_name("jupyter-book")
    cmd = [str(exe) if exe.exists() else "jupyter-book", "build", str(root), "--builder", "html"]
    if strict:
        cmd += ["-W", "-n", "--keep-going"]
    print("clipdistill book:", " ".join(cmd), file=log, flush=True)
    proc = subprocess.run(cmd, cwd=root, capture_output=True, text=True)
    if proc.returncode != 0:
        tail = "\n".join((proc.stdout + proc.stderr).strip().splitlines()[-40:])
        raise RuntimeError(f"jupyter-book build failed (exit {proc.returncode}):\n{tail}")
    index = root / "_build" / "html" / "index.html"
    print(f"Book built: {index}", file=log)
    return index
