"""Which commit of each hub repository a run downloads: the pin table, kept as data.

A repository's ``main`` moves: checkpoints are re-uploaded, converted to another format or
moved to another repository (open_clip's were), so a run that takes ``main`` may load
different weights next year. Every hub download therefore asks for a commit, read from
``pins.json`` (one table for every profile: a repository has one pin).

- ``pin_weights`` (a Config field, default true): false takes every repository's newest
  ``main``; ``hub_revisions`` sets single repositories (``{"org/name": "main"}`` or a
  commit, tag or branch) over the table.
- ``clipdistill pin`` asks the hub for each repository's newest commit and prints the
  table; ``clipdistill pin --write`` stores it here.

Whatever was asked for, the provenance records the commit that was loaded and the SHA-256
of each weight file (:mod:`clipdistill.weights`), so even an unpinned run can be repeated.
"""

from __future__ import annotations

import json
import re
from functools import lru_cache
from pathlib import Path
from typing import Any, Iterable, Mapping

from .io import atomic_write_json

__all__ = ["PINS_FILE", "table", "is_commit", "revision", "newest", "write_table"]

PINS_FILE = Path(__file__).with_name("pins.json")
_COMMIT = re.compile(r"[0-9a-f]{40}")


def is_commit(rev: str | None) -> bool:
    """A full git commit id (40 hex digits): the only revision that cannot move."""
    return bool(rev) and _COMMIT.fullmatch(str(rev)) is not None


@lru_cache(maxsize=None)
def _read(path: Path, mtime_ns: int) -> dict[str, Any]:
    return json.loads(path.read_text())


def table(path: Path | None = None) -> dict[str, str | None]:
    """``{repo_id: commit}`` as committed; None: a repository not pinned yet."""
    path = path or PINS_FILE
    return dict(_read(path, path.stat().st_mtime_ns)["revisions"])


def revision(repo_id: str, cfg: Any = None) -> str:
    """The revision a run with ``cfg`` (None: the defaults) asks ``repo_id`` for."""
    chosen: Mapping[str, str] = getattr(cfg, "hub_revisions", None) or {}
    if repo_id in chosen:
        return str(chosen[repo_id])
    if cfg is not None and not getattr(cfg, "pin_weights", True):
        return "main"
    return table().get(repo_id) or "main"


def newest(repo_ids: Iterable[str], timeout: float = 10.0) -> dict[str, str]:
    """Each repository's current ``main`` commit, asked of the hub huggingface_hub talks to
    (``HF_ENDPOINT``). Raises on the first one the hub does not answer for."""
    from huggingface_hub import HfApi

    api = HfApi()
    return {repo: api.model_info(repo, timeout=timeout).sha for repo in repo_ids}


def write_table(revisions: Mapping[str, str | None], path: Path | None = None) -> Path:
    """Store ``revisions`` as the pin table, keeping the file's explanation."""
    path = path or PINS_FILE
    current = json.loads(path.read_text()) if path.is_file() else {}
    current["revisions"] = dict(sorted(revisions.items()))
    return atomic_write_json(path, current)
