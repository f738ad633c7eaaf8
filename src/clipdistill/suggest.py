""""Did you mean ...?": the one helper behind every bad-name error of the package.

A typo in a profile, parameter, model name, template set or chapter should cost a second
and name the fix, so every such error lists the closest valid names.
"""

from __future__ import annotations

import difflib
from typing import Iterable

__all__ = ["closest", "did_you_mean"]


def closest(name: str, valid: Iterable[str], n: int = 3, cutoff: float = 0.5) -> list[str]:
    """The valid names nearest to ``name``, best first, compared case-insensitively."""
    by_lower: dict[str, str] = {}
    for v in valid:
        by_lower.setdefault(str(v).lower(), str(v))
    near = difflib.get_close_matches(str(name).lower(), list(by_lower), n=n, cutoff=cutoff)
    return [by_lower[v] for v in near]


def did_you_mean(name: str, valid: Iterable[str], *, n: int = 3, cutoff: float = 0.5,
                 list_valid: bool = True) -> str:
    """``" (did you mean a, b?) Valid: a, b, c."``: the tail of a one-sentence error."""
    valid = [str(v) for v in valid]
    near = closest(name, valid, n=n, cutoff=cutoff)
    hint = f" (did you mean {', '.join(near)}?)" if near else ""
    return hint + (f" Valid: {', '.join(valid)}." if list_valid else "")
