"""Hub weights at a pinned commit, and a record of every weight file a run loaded.

The loaders (:mod:`clipdistill.models`, :mod:`clipdistill.vlm.hf`) ask here which commit
to load (:func:`prepare`), fetch files at that commit (:func:`fetch`), and then
:func:`record` what they loaded: repository, the revision asked for, the commit it
resolved to, and the SHA-256 of each weight file. :func:`loaded` is what
:func:`clipdistill.results.provenance` writes into every chapter's results; random and
locally built weights are recorded too, so a smoke run says what it ran.

The SHA-256 is computed from the file's bytes. For a file the hub stores in LFS the cache
names the blob after the hub's own SHA-256, so a mismatch means a damaged download: the
record says so and a warning names the file to delete.
"""

from __future__ import annotations

import hashlib
import warnings
from dataclasses import replace
from pathlib import Path
from typing import Any, Mapping

from . import hub, pins

__all__ = ["prepare", "fetch", "cached_weight_files", "record", "record_random", "record_local",
           "record_download", "record_unpinned", "loaded", "forget", "sha256"]

_LOADED: dict[tuple, dict[str, Any]] = {}  # what this process loaded, in order of loading
_SHA256: dict[tuple[str, int, int], str] = {}  # (real path, size, mtime) -> digest
_WEIGHT_SUFFIXES = (".safetensors", ".bin", ".pt", ".pth")


def prepare(w: hub.HubWeights, cfg: Any = None) -> tuple[hub.HubWeights, str, bool]:
    """``(w at the revision cfg asks for, its commit, cache_only)``; fails in one sentence
    (:class:`clipdistill.hub.HubUnavailable`) when it cannot be had."""
    w = replace(w, revision=pins.revision(w.repo_id, cfg))
    cache_only = hub.require(w)
    return w, hub.commit(w, cache_only), cache_only


def fetch(w: hub.HubWeights, commit: str, cache_only: bool) -> dict[str, Path]:
    """One file of each group of ``w`` at ``commit`` (the first alternative the repository
    has, as open_clip tries them: ``.safetensors`` before ``.bin``), downloaded or cached."""
    from huggingface_hub import hf_hub_download
    from huggingface_hub.errors import EntryNotFoundError, LocalEntryNotFoundError

    out: dict[str, Path] = {}
    for group in w.files:
        for name in group:
            try:
                out[name] = Path(hf_hub_download(w.repo_id, name, revision=commit,
                                                 local_files_only=cache_only))
                break
            except (EntryNotFoundError, LocalEntryNotFoundError):
                continue
        else:
            raise hub.HubUnavailable(f"{w.label}: commit {commit} of {w.repo_id} has none of "
                                     f"{', '.join(group)}.")
    return out


def cached_weight_files(w: hub.HubWeights, commit: str) -> dict[str, Path]:
    """The weight files of ``w`` at ``commit`` that transformers reads, from the cache: the
    first of its preferred names that is there, and every shard an index lists."""
    import json

    for name in hub.TRANSFORMERS_WEIGHTS:
        path = hub.cached_file(w.repo_id, name, commit)
        if path is None:
            continue
        if not name.endswith(".index.json"):
            return {name: path}
        shards = sorted(set(json.loads(path.read_text())["weight_map"].values()))
        found = {s: hub.cached_file(w.repo_id, s, commit) for s in shards}
        return {s: p for s, p in found.items() if p is not None}
    return {}


def sha256(path: Path) -> str:
    """SHA-256 of a file's bytes, computed once per process for an unchanged file."""
    real = Path(path).resolve()
    stat = real.stat()
    key = (str(real), stat.st_size, stat.st_mtime_ns)
    if key not in _SHA256:
        digest = hashlib.sha256()
        with open(real, "rb") as fh:
            while block := fh.read(1 << 22):
                digest.update(block)
        _SHA256[key] = digest.hexdigest()
    return _SHA256[key]


def _file_entry(name: str, path: Path) -> dict[str, Any]:
    digest = sha256(path)
    entry: dict[str, Any] = {"file": name, "sha256": digest, "bytes": Path(path).stat().st_size}
    blob = Path(path).resolve().name  # the cache names an LFS blob after the hub's SHA-256
    if len(blob) == 64 and all(c in "0123456789abcdef" for c in blob) and blob != digest:
        entry["damaged"] = f"the hub's SHA-256 is {blob}"
        warnings.warn(f"{name} of the cached weights at {path} does not match the hub's checksum: "
                      "delete it and run again to download it whole.", stacklevel=3)
    return entry


def record(label: str, repo_id: str, revision: str, commit: str,
           files: Mapping[str, Path]) -> dict[str, Any]:
    """Remember hub weights this process loaded (what provenance lists)."""
    entry = {"model": label, "repo": repo_id, "revision": revision, "commit": commit,
             "pinned": revision == commit and pins.is_commit(commit),
             "files": [_file_entry(n, p) for n, p in sorted(files.items())
                       if n.endswith(_WEIGHT_SUFFIXES)]}
    _LOADED[("hub", repo_id, commit)] = entry
    return entry


def record_random(label: str, seed: int) -> dict[str, Any]:
    """Remember seeded random weights (a smoke run): no file, nothing to pin."""
    entry = {"model": label, "weights": "random", "seed": int(seed)}
    _LOADED[("random", label, seed)] = entry
    return entry


def record_local(label: str, folder: str | Path) -> dict[str, Any]:
    """Remember weights loaded from a local file or folder (a checkpoint, a built stand-in)."""
    root = Path(folder)
    paths = [root] if root.is_file() else sorted(p for p in root.rglob("*")
                                                 if p.suffix in _WEIGHT_SUFFIXES)
    entry = {"model": label, "weights": "local",
             "files": [_file_entry(p.name if root.is_file() else p.relative_to(root).as_posix(), p)
                       for p in paths]}
    _LOADED[("local", label, str(root))] = entry
    return entry


def record_download(label: str, url: str, path: str | Path) -> dict[str, Any]:
    """Remember weights a library fetched from a fixed URL (torchvision's checks the
    SHA-256 prefix in the file name): the URL and the SHA-256 of the file loaded."""
    path = Path(path)
    entry = {"model": label, "url": url,
             "files": [_file_entry(path.name, path)] if path.is_file() else []}
    _LOADED[("url", label, url)] = entry
    return entry


def record_unpinned(label: str) -> dict[str, Any]:
    """Remember weights a library downloaded its own way (a URL, an ``hf-hub:`` spec)."""
    entry = {"model": label, "weights": "not pinned: downloaded by open_clip itself"}
    _LOADED[("unpinned", label)] = entry
    return entry


def loaded() -> list[dict[str, Any]]:
    """Every weight this process loaded, in the order it was first loaded."""
    return [dict(e) for e in _LOADED.values()]


def forget() -> None:
    """Start a new record (tests)."""
    _LOADED.clear()
