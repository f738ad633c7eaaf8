"""Concepts with well-known colours, and colour-concept association matrices.

Schloss and colleagues measure how strongly people associate each colour with a concept
(fruits, and abstract ideas such as "safety"). Here the model does the associating: the
association of colour ``c`` with concept ``o`` is the cosine similarity of their
embeddings. The colour is seen by the image tower (a patch) or by the text tower (its
name, or its RGB values); the concept always by the text tower.

A concept's *canonical* colour is the basic term nearly everyone would name for it
(banana: yellow). Abstract concepts have none; they take part in palettes only.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Iterable, Sequence

import numpy as np

from . import ColourError
from .terms import BASIC_TERMS

__all__ = ["Concept", "CONCEPTS", "PALETTES", "concepts_for", "palettes_for",
           "association_matrix", "canonical_ranks"]


@dataclass(frozen=True)
class Concept:
    name: str  # the bare word (prompt style 1)
    phrase: str  # the word in a sentence: "a banana", "snow", "the sky"
    colour: str | None  # its canonical basic term; None for abstract concepts


def _c(name: str, colour: str | None, phrase: str | None = None) -> Concept:
    return Concept(name, phrase if phrase is not None else f"a {name}", colour)


# Two or three objects per basic term, then abstract concepts (no canonical colour).
CONCEPTS: dict[str, Concept] = {c.name: c for c in (
    _c("strawberry", "red"), _c("tomato", "red"), _c("cherry", "red"),
    _c("carrot", "orange"), _c("pumpkin", "orange"),
    _c("banana", "yellow"), _c("lemon", "yellow"), _c("corn", "yellow", "corn"),
    _c("lime", "green"), _c("grass", "green", "grass"), _c("broccoli", "green", "broccoli"),
    _c("blueberry", "blue"), _c("sky", "blue", "the sky"), _c("ocean", "blue", "the ocean"),
    _c("eggplant", "purple", "an eggplant"), _c("plum", "purple"),
    _c("flamingo", "pink"), _c("pig", "pink"),
    _c("chocolate", "brown", "chocolate"), _c("coffee", "brown", "coffee"),
    _c("coal", "black", "coal"), _c("crow", "black"),
    _c("elephant", "grey", "an elephant"), _c("concrete", "grey", "concrete"),
    _c("snow", "white", "snow"), _c("milk", "white", "milk"),
    _c("safety", None, "safety"), _c("danger", None, "danger"), _c("comfort", None, "comfort"),
    _c("speed", None, "speed"), _c("calm", None, "calm"), _c("reliability", None, "reliability"),
)}

# Concept sets a palette is chosen for (cfg.colour_palettes = [] uses these).
PALETTES: tuple[tuple[str, ...], ...] = (
    ("banana", "strawberry", "blueberry", "lime", "eggplant", "carrot"),
    ("safety", "danger", "comfort", "speed", "calm", "reliability"),
)


def concepts_for(names: Iterable[str]) -> list[Concept]:
    """The Concept of each name; an unknown word becomes a concept without a canonical colour.

    ``[]`` means every built-in concept.
    """
    names = list(names) or list(CONCEPTS)
    out = []
    for name in names:
        if not isinstance(name, str) or not name.strip():
            raise ColourError(f"Bad concept {name!r}: concepts are words such as "
                              f"{', '.join(list(CONCEPTS)[:3])}.")
        out.append(CONCEPTS.get(name, Concept(name, name, None)))
    if len({c.name for c in out}) != len(out):
        raise ColourError(f"A concept is listed twice in {names}.")
    return out


def palettes_for(palettes: Sequence[Sequence[str]], concepts: Sequence[Concept]) -> list[list[str]]:
    """Palette concept sets cut to the concepts in use; those left with fewer than 2 dropped.

    ``[]`` means the built-in :data:`PALETTES`. A palette is cut rather than refused so that
    changing ``colour_concepts`` alone (a profile pins palettes too) still runs. A name that
    is neither in use nor a built-in concept is more likely a typo than a choice, so it fails.
    """
    names = [c.name for c in concepts]
    given = palettes or PALETTES
    for p in palettes:
        if isinstance(p, str) or not all(isinstance(n, str) for n in p):
            raise ColourError(f"Bad palette {p!r}: a palette is a list of concept names.")
        unknown = [n for n in p if n not in names and n not in CONCEPTS]
        if unknown:
            raise ColourError(f"Palette {list(p)} names {', '.join(unknown)}, neither among the "
                              f"concepts ({', '.join(names)}) nor a built-in concept.")
        if not 2 <= len(p) <= len(BASIC_TERMS):
            raise ColourError(f"Palette {list(p)} has {len(p)} concepts: a palette needs 2 to "
                              f"{len(BASIC_TERMS)} (one basic colour each).")
    cut = [[n for n in p if n in names] for p in given]
    return [p for p in cut if len(p) >= 2]


def association_matrix(colour_emb: np.ndarray, concept_emb: np.ndarray) -> np.ndarray:
    """(colours, concepts): cosine similarity of L2-normalised rows."""
    return np.asarray(colour_emb, np.float64) @ np.asarray(concept_emb, np.float64).T


def canonical_ranks(matrix: np.ndarray, colours: Sequence[str],
                    concepts: Sequence[Concept]) -> dict[str, int]:
    """Per concept with a canonical colour among ``colours``: its rank (1 = the most associated).

    Ties count against the canonical colour (rank = 1 + colours scoring at least as high).
    """
    matrix = np.asarray(matrix)
    ranks = {}
    for j, concept in enumerate(concepts):
        if concept.colour is None or concept.colour not in colours:
            continue
        a = colours.index(concept.colour)
        ranks[concept.name] = int(1 + np.sum(np.delete(matrix[:, j], a) >= matrix[a, j]))
    return ranks
