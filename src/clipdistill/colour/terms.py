"""Ground truth for colour naming: survey names mapped to Berlin & Kay's basic terms.

matplotlib ships ``XKCD_COLORS``: 949 colours and the name most people gave each in the
xkcd colour survey (Munroe, 2010). Berlin & Kay (1969) found 11 *basic* colour terms in
English. A survey name maps to a basic term when exactly one of its words is one
("dark forest green" -> green; "gray" counts as grey). Names with two basic words
("blue green", "purple/pink") are ambiguous and names with none ("teal", "mauve") have no
basic term: both are left out, so every patch the chapter scores has one right answer.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Iterable, Sequence

__all__ = ["BASIC_TERMS", "SPELLINGS", "SurveyColour", "hex_to_rgb", "terms_in", "basic_term",
           "survey_colours", "mapping_counts", "focal_colours", "sample_colours",
           "counts_by_term"]

# Berlin & Kay's 11 basic colour terms of English, in hue order (the order of every table).
BASIC_TERMS: tuple[str, ...] = (
    "red", "orange", "yellow", "green", "blue", "purple", "pink", "brown",
    "black", "grey", "white",
)
SPELLINGS: dict[str, str] = {"gray": "grey"}  # other spellings of a basic term

_WORDS = re.compile(r"[\s/\-]+")  # "green/blue", "blue-green", "dark blue"


@dataclass(frozen=True)
class SurveyColour:
    """One survey colour: its name, sRGB hex and 0-255 triple, and its basic term."""

    name: str
    hex: str
    term: str

    @property
    def rgb(self) -> tuple[int, int, int]:
        return hex_to_rgb(self.hex)


def hex_to_rgb(hex_: str) -> tuple[int, int, int]:
    """``"#e50000"`` -> ``(229, 0, 0)``."""
    text = hex_.lstrip("#")
    if len(text) != 6:
        raise ValueError(f"Bad colour {hex_!r}: expected #rrggbb.")
    return tuple(int(text[i:i + 2], 16) for i in (0, 2, 4))  # type: ignore[return-value]


def terms_in(name: str) -> tuple[str, ...]:
    """The distinct basic terms among the words of ``name``, in order of appearance.

    Whole words only: "reddish" and "darkgreen" contain no basic term.
    """
    found: list[str] = []
    for word in _WORDS.split(name.lower().strip()):
        word = SPELLINGS.get(word, word)
        if word in BASIC_TERMS and word not in found:
            found.append(word)
    return tuple(found)


def basic_term(name: str) -> str | None:
    """The one basic term ``name`` maps to, or None (no basic word, or two of them)."""
    found = terms_in(name)
    return found[0] if len(found) == 1 else None


def _xkcd() -> dict[str, str]:
    from matplotlib.colors import XKCD_COLORS

    return {k.removeprefix("xkcd:"): v.lower() for k, v in XKCD_COLORS.items()}


def survey_colours() -> list[SurveyColour]:
    """Every survey colour whose name maps to exactly one basic term (518 of 949)."""
    return [SurveyColour(name, hex_, term) for name, hex_ in _xkcd().items()
            if (term := basic_term(name)) is not None]


def mapping_counts() -> dict[str, int]:
    """How the 949 survey names split: mapped to one term, ambiguous, no basic term."""
    counts = {"total": 0, "mapped": 0, "ambiguous": 0, "no basic term": 0}
    for name in _xkcd():
        n = len(terms_in(name))
        counts["total"] += 1
        counts["mapped" if n == 1 else "ambiguous" if n > 1 else "no basic term"] += 1
    return counts


def focal_colours() -> list[SurveyColour]:
    """One colour per basic term: the survey's colour for the bare term ("red", "grey")."""
    xkcd = _xkcd()
    return [SurveyColour(t, xkcd[t], t) for t in BASIC_TERMS]


def sample_colours(colours: Sequence[SurveyColour], n: int, seed: int = 0) -> list[SurveyColour]:
    """``n`` colours spread over the terms (round robin, seeded within a term); 0 = all.

    The survey has 163 greens and 2 blacks; a capped sample keeps every term in it.
    """
    import random

    if n <= 0 or n >= len(colours):
        return list(colours)
    by_term: dict[str, list[SurveyColour]] = {}
    for c in colours:
        by_term.setdefault(c.term, []).append(c)
    for term, group in by_term.items():
        random.Random(f"{seed}/{term}").shuffle(group)
    picked: list[SurveyColour] = []
    for rank in range(max(len(g) for g in by_term.values())):
        for term in BASIC_TERMS:
            group = by_term.get(term, [])
            if rank < len(group) and len(picked) < n:
                picked.append(group[rank])
    return sorted(picked, key=lambda c: (BASIC_TERMS.index(c.term), c.name))


def counts_by_term(colours: Iterable[SurveyColour]) -> dict[str, int]:
    """Colours per basic term, in hue order."""
    out = {t: 0 for t in BASIC_TERMS}
    for c in colours:
        out[c.term] += 1
    return out
