"""Which data a number came from: a digest of each split's manifest, its seed, the archives.

A split is named by its manifest: the images it holds, in order, each as its class and
its name in the source (``cat``, ``Cat/123.jpg``). The SHA-256 of those lines is the same
on every machine that has the same source files and seed, whatever the folders are
called; with the checksum of the archive the source came from (verified on download, by
torchvision or by :mod:`clipdistill.data.downloads`) it says exactly which images a
number was measured on. Every split, labelled sample and image pool a chapter loads is
recorded here, and :func:`clipdistill.results.provenance` writes :func:`used` into the
chapter's results.
"""

from __future__ import annotations

import hashlib
from typing import Any, Iterable

__all__ = ["manifest_digest", "record", "used", "forget", "torchvision_archives"]

_USED: dict[str, dict[str, Any]] = {}


def manifest_digest(rows: Iterable[tuple[str, str]]) -> tuple[str, int]:
    """``(sha256, count)`` of ``class<TAB>name`` lines, one per image, in split order."""
    digest, n = hashlib.sha256(), 0
    for cls, name in rows:
        digest.update(f"{cls}\t{name}\n".encode("utf-8"))
        n += 1
    return digest.hexdigest(), n


def record(split: str, source: str, seed: int, rows: Iterable[tuple[str, str]], *,
           archives: list[dict[str, Any]] | None = None, synthetic: bool = False) -> dict[str, Any]:
    """Remember one split (or sample, or pool) this process used."""
    sha, n = manifest_digest(rows)
    entry: dict[str, Any] = {"split": split, "source": source, "seed": int(seed), "images": n,
                             "manifest_sha256": sha}
    if synthetic:
        entry["synthetic"] = True  # generated from the seed: no archive
    if archives:
        entry["archives"] = archives
    _USED[split] = entry
    return entry


def used() -> list[dict[str, Any]]:
    """Every split this process used, in the order first used."""
    return [dict(e) for e in _USED.values()]


def forget() -> None:
    """Start a new record (tests)."""
    _USED.clear()


def torchvision_archives(name: str) -> list[dict[str, Any]]:
    """The archives torchvision downloads for ``name`` with the MD5 it verifies them by,
    read from torchvision's own dataset classes (so they follow its version)."""
    from torchvision import datasets

    def entry(url: str, md5: str, file: str = "") -> dict[str, Any]:
        return {"file": file or url.rsplit("/", 1)[-1], "md5": md5, "verified_by": "torchvision"}

    try:
        if name in ("oxford_pets", "oxford_pets_37"):
            return [entry(url, md5) for url, md5 in datasets.OxfordIIITPet._RESOURCES]
        if name == "cifar10":
            return [entry(datasets.CIFAR10.url, datasets.CIFAR10.tgz_md5, datasets.CIFAR10.filename)]
        if name == "mnist":
            return [entry(f, md5, f) for f, md5 in datasets.MNIST.resources if f.startswith("t10k")]
    except (AttributeError, TypeError, ValueError):  # another torchvision: say nothing, not wrong
        pass
    return []
