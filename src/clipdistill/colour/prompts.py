"""The four prompt styles, kept as data: how words and colours are written for the text tower.

Each style says how a basic colour term is written (the classes of the naming task), how
a concept is written (the columns of the association matrix), and how a colour is
written when the *text* tower, not the image tower, is to see it:

1. **bare word**: the word alone ("red", "banana").
2. **a photo**: CLIP's usual "a photo of a banana." (the colour: "a photo of the colour red.").
3. **colour sentence**: "the colour of a banana." / "the colour red.".
4. **numbers**: the colour is given as its RGB values, "the colour with RGB values
   (229, 0, 0)."; everything else as in style 3. It asks whether a text tower reads
   numbers, so it has no image view: its patches would be style 3's.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Iterable

from . import ColourError

__all__ = ["PromptStyle", "STYLES", "check_styles"]


@dataclass(frozen=True)
class PromptStyle:
    number: int
    name: str
    term: str  # a basic colour term: "{term}"
    concept: str  # a concept: "{name}" (the bare word) or "{phrase}" ("a banana", "snow")
    colour: str = ""  # a colour for the text tower: "{r}, {g}, {b}"; "" = its term, as above

    @property
    def numbers(self) -> bool:
        """True when the colour reaches the text tower as digits."""
        return bool(self.colour)

    @property
    def naming_view(self) -> str:
        """Who sees the colour in the naming task: the image tower (a patch) or the text one."""
        return "text" if self.numbers else "image"

    @property
    def association_views(self) -> tuple[str, ...]:
        """Image tower on patches and text tower on colour words; digits only for style 4."""
        return ("text",) if self.numbers else ("image", "text")

    def term_text(self, term: str) -> str:
        return self.term.format(term=term)

    def concept_text(self, name: str, phrase: str) -> str:
        return self.concept.format(name=name, phrase=phrase)

    def colour_text(self, term: str, rgb: tuple[int, int, int]) -> str:
        """A colour as the text tower reads it: its term, or (style 4) its RGB values."""
        if not self.numbers:
            return self.term_text(term)
        r, g, b = rgb
        return self.colour.format(r=r, g=g, b=b)

    def label(self) -> str:
        return f"{self.number} ({self.name})"


STYLES: dict[int, PromptStyle] = {
    1: PromptStyle(1, "bare word", term="{term}", concept="{name}"),
    2: PromptStyle(2, "a photo", term="a photo of the colour {term}.", concept="a photo of {phrase}."),
    3: PromptStyle(3, "colour sentence", term="the colour {term}.", concept="the colour of {phrase}."),
    4: PromptStyle(4, "numbers", term="the colour {term}.", concept="the colour of {phrase}.",
                   colour="the colour with RGB values ({r}, {g}, {b})."),
}


def check_styles(styles: Iterable[int | str]) -> list[int]:
    """Style numbers as ints, in the order given; one sentence naming the valid ones if not."""
    valid = ", ".join(s.label() for s in STYLES.values())
    out: list[int] = []
    for s in styles:
        try:
            n = int(str(s).strip())
        except ValueError:
            n = None
        if n not in STYLES:
            raise ColourError(f"Unknown prompt style {s!r}: valid are {valid}.")
        if n not in out:
            out.append(n)
    if not out:
        raise ColourError(f"No prompt style given: valid are {valid}.")
    return out
