"""Which code wrote a number: the package version and, where it can be read, its git commit.

A results file and a measured cost outlive the code that produced them; a chapter that
grew later (a new model, a new dataset) costs more than the run that was measured before
it. Two installs are covered: a source checkout (``make setup`` installs it editable, so
``git`` answers, and says whether files differed from the commit), and ``pip install
git+URL@branch`` as on Colab, where pip records the commit it built in the distribution's
``direct_url.json`` (PEP 610). Anything else gives the version alone.
"""

from __future__ import annotations

import functools
import importlib.metadata as md
import json
import subprocess
from pathlib import Path
from typing import Any

__all__ = ["checkout", "code_revision", "short"]


def checkout() -> Path | None:
    """The source checkout this package runs from (an editable install), if it is one."""
    root = Path(__file__).resolve().parents[2]
    return root if (root / "pyproject.toml").is_file() else None


def _git(root: Path, *args: str) -> str | None:
    try:
        done = subprocess.run(["git", "-C", str(root), *args], capture_output=True, text=True,
                              timeout=10, check=False)
    except (OSError, subprocess.SubprocessError):
        return None
    return done.stdout.strip() if done.returncode == 0 else None


def _checkout_commit(root: Path) -> dict[str, Any] | None:
    commit = _git(root, "rev-parse", "HEAD")
    if not commit:
        return None
    # Tracked files only: an untracked notebook output or cache is not a change to the code.
    changed = _git(root, "status", "--porcelain", "--untracked-files=no")
    return {"commit": commit, "dirty": None if changed is None else bool(changed)}


def _installed_commit() -> dict[str, Any] | None:
    try:
        text = md.distribution("clipdistill").read_text("direct_url.json")
    except md.PackageNotFoundError:
        return None
    vcs = (json.loads(text) if text else {}).get("vcs_info") or {}
    return {"commit": vcs["commit_id"], "dirty": False} if vcs.get("commit_id") else None


@functools.lru_cache(maxsize=1)
def code_revision() -> dict[str, Any]:
    """``{"version", "commit", "dirty"}``; ``commit`` and ``dirty`` are None when unknown.
    Read once per process: a chapter saves its results several times."""
    try:  # the installed distribution's version (not the package's own: no import circle)
        version = md.version("clipdistill")
    except md.PackageNotFoundError:
        version = None
    root = checkout()
    found = (root is not None and _checkout_commit(root)) or _installed_commit()
    return {"version": version, **(found or {"commit": None, "dirty": None})}


def short(revision: dict[str, Any] | None) -> str:
    """``945bf38`` or ``945bf38+changes`` (files differed from the commit); ``-`` if unknown."""
    commit = (revision or {}).get("commit")
    if not commit:
        return "-"
    return commit[:7] + ("+changes" if (revision or {}).get("dirty") else "")
