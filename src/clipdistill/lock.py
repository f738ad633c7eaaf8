"""Which lock file the running environment was installed from, checked rather than assumed.

``make setup`` (and so ``make book`` and ``make test``) installs the exact versions in
``requirements/lock.txt``; ``make lock`` resolves the newest ones the floors in
``pyproject.toml`` allow and writes them there. A results file records which lock the
environment matches, package by package, so a reader can restore the same versions with
one command, or see which packages differed when it ran.
"""

from __future__ import annotations

import hashlib
import importlib.metadata as md
import re
from pathlib import Path
from typing import Any

from .revision import checkout

__all__ = ["LOCK_FILES", "pins", "status"]

LOCK_FILES = ("requirements/lock.txt", "requirements/lock-cpu.txt")  # GPU-capable, CPU-only
_PIN = re.compile(r"^([A-Za-z0-9][A-Za-z0-9._-]*)==([^\s;\\]+)\s*(?:;\s*([^\\]+?))?\s*\\?$")


def _name(name: str) -> str:
    return re.sub(r"[-_.]+", "-", name).lower()


def pins(path: Path) -> dict[str, str]:
    """``{package: version}`` of a lock file, for this interpreter and platform (markers)."""
    from packaging.markers import Marker

    out = {}
    for line in Path(path).read_text().splitlines():
        match = _PIN.match(line.strip())
        if match and (match.group(3) is None or Marker(match.group(3)).evaluate()):
            out[_name(match.group(1))] = match.group(2)
    return out


def _installed() -> dict[str, str]:
    return {_name(d.metadata["Name"]): d.version for d in md.distributions() if d.metadata["Name"]}


def status(root: Path | None = None) -> dict[str, Any]:
    """The lock this environment matches, or how it differs from the nearest: the locks of
    ``root`` (a project folder) and of the checkout the package runs from."""
    installed = _installed()
    tried = []
    roots = [r for r in dict.fromkeys([root, checkout()]) if r is not None]
    for base, rel in ((Path(r), rel) for r in roots for rel in LOCK_FILES):
        path = base / rel
        if not path.is_file():
            continue
        wanted = pins(path)
        differ = sorted(f"{n} {installed.get(n, 'missing')} (lock: {v})" for n, v in wanted.items()
                        if installed.get(n) != v)
        entry = {"lock": rel, "sha256": hashlib.sha256(path.read_bytes()).hexdigest(),
                 "packages": len(wanted), "matches": not differ}
        if not differ:
            return entry
        tried.append({**entry, "differs": differ[:10], "differing": len(differ)})
    if not tried:
        where = " or ".join(str(r) for r in roots) or "any folder"
        return {"lock": None, "matches": False, "why": f"no lock file under {where}"}
    return min(tried, key=lambda e: e["differing"])
