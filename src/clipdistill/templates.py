"""Prompt template sets, kept as data: names map to lists of sentences with a ``{}`` slot.

A *template* such as ``"a photo of a {}."`` turns a class name into a prompt. A *template
set* is a list of them whose text embeddings are averaged into one class embedding (see
:mod:`clipdistill.ensembles`). Four kinds of set live here:

- the raw label ``"{}"`` and the standard ``"a photo of a {}."``;
- OpenAI's 80 ImageNet templates and the 7 simplified ones, imported from
  ``open_clip.zero_shot_metadata`` (not retyped, so they cannot drift from the source);
- dataset-specific sets (Oxford-IIIT Pet, CIFAR-10, MNIST, Caltech-101), from the prompts
  the CLIP authors published with the paper;
- user files: one template a line (``.txt``), or a JSON ``{class: [sentences]}`` with whole
  per-class sentences (CuPL style, no slot), or a JSON list of templates.
"""

from __future__ import annotations

import json
import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable, Iterable, Mapping, Sequence

from open_clip.zero_shot_metadata import (
    IMAGENET_CLASSNAMES,
    OPENAI_IMAGENET_TEMPLATES,
    SIMPLE_IMAGENET_TEMPLATES,
)

from .io import stable_hash
from .suggest import did_you_mean

__all__ = [
    "SLOT",
    "TemplateError",
    "TemplateSet",
    "TEMPLATE_SETS",
    "DATASET_TEMPLATE_SET",
    "IMAGENET_CLASSNAMES",
    "LABELS",
    "fill",
    "validate_template",
    "validate_templates",
    "get_template_set",
    "load_template_file",
    "template_set_names",
    "describe_sets",
]

SLOT = "{}"


class TemplateError(ValueError):
    """A template or template file that cannot be used: one sentence naming the culprit."""


def _from_open_clip(fns: Iterable) -> tuple[str, ...]:
    """open_clip keeps its templates as ``lambda c: f"...{c}..."``: call them with the slot."""
    return tuple(fn(SLOT) for fn in fns)


# Dataset-specific templates, as the CLIP authors published them with the paper:
# openai/CLIP, data/prompts.md (OxfordPets, CIFAR10, MNIST, Caltech101 sections).
_CLIP_PAPER_DATASET_TEMPLATES: dict[str, tuple[str, ...]] = {
    "pets": ("a photo of a {}, a type of pet.",),
    "cifar10": (
        "a photo of a {}.", "a blurry photo of a {}.", "a black and white photo of a {}.",
        "a low contrast photo of a {}.", "a high contrast photo of a {}.",
        "a bad photo of a {}.", "a good photo of a {}.", "a photo of a small {}.",
        "a photo of a big {}.", "a photo of the {}.", "a blurry photo of the {}.",
        "a black and white photo of the {}.", "a low contrast photo of the {}.",
        "a high contrast photo of the {}.", "a bad photo of the {}.",
        "a good photo of the {}.", "a photo of the small {}.", "a photo of the big {}.",
    ),
    "mnist": ('a photo of the number: "{}".',),
    "caltech101": (
        "a photo of a {}.", "a painting of a {}.", "a plastic {}.", "a sculpture of a {}.",
        "a sketch of a {}.", "a tattoo of a {}.", "a toy {}.", "a rendition of a {}.",
        "a embroidered {}.", "a cartoon {}.", "a {} in a video game.", "a plushie {}.",
        "a origami {}.", "art of a {}.", "graffiti of a {}.", "a drawing of a {}.",
        "a doodle of a {}.", "a photo of the {}.", "a painting of the {}.",
        "the plastic {}.", "a sculpture of the {}.", "a sketch of the {}.",
        "a tattoo of the {}.", "the toy {}.", "a rendition of the {}.",
        "the embroidered {}.", "the cartoon {}.", "the {} in a video game.",
        "the plushie {}.", "the origami {}.", "art of the {}.", "graffiti of the {}.",
        "a drawing of the {}.", "a doodle of the {}.",
    ),
}

# Every named set. Add a set by adding an entry (and a LABELS entry for tables).
TEMPLATE_SETS: dict[str, tuple[str, ...]] = {
    "raw": (SLOT,),
    "standard": ("a photo of a {}.",),
    "openai80": _from_open_clip(OPENAI_IMAGENET_TEMPLATES),
    "simple7": _from_open_clip(SIMPLE_IMAGENET_TEMPLATES),
    **_CLIP_PAPER_DATASET_TEMPLATES,
}

# What the set name "dataset" means for each dataset of clipdistill.data (and ImageNet).
DATASET_TEMPLATE_SET: dict[str, str] = {
    "cats_dogs": "pets",
    "oxford_pets_37": "pets",
    "cifar10": "cifar10",
    "mnist": "mnist",
    "caltech101": "caltech101",
    "imagenet": "openai80",
    "imagenetv2": "openai80",
}

# Column labels for result tables (the wording of the chapter-04 comparison table).
LABELS: dict[str, str] = {
    "raw": "Raw",
    "standard": "Standard",
    "openai80": "CLIP 80",
    "simple7": "Simple 7",
    "dataset": "Dataset-specific",
    "pets": "Pets",
    "cifar10": "CIFAR-10",
    "mnist": "MNIST",
    "caltech101": "Caltech-101",
}


def validate_template(template: object, where: str = "template") -> str:
    """Return ``template`` if it has exactly one ``{}`` slot and no other braces, else raise."""
    if not isinstance(template, str):
        raise TemplateError(f"{where} must be a string with one {{}} slot, got {type(template).__name__} {template!r}.")
    slots = template.count(SLOT)
    rest = template.replace(SLOT, "")
    if slots == 0:
        raise TemplateError(
            f"{where} {template!r} has no {{}} slot for the class name; write it like 'a photo of a {{}}.'"
        )
    if slots > 1 or "{" in rest or "}" in rest:
        raise TemplateError(
            f"{where} {template!r} must contain exactly one empty {{}} slot and no other braces."
        )
    return template


def validate_templates(templates: Sequence[str], where: str = "template set") -> tuple[str, ...]:
    """Check a whole list: not empty, every entry valid (the message names its position)."""
    if isinstance(templates, str) or not isinstance(templates, Sequence):
        raise TemplateError(f"{where} must be a list of templates, got {type(templates).__name__}.")
    if not templates:
        raise TemplateError(f"{where} is empty: it needs at least one template with a {{}} slot.")
    return tuple(validate_template(t, f"{where} entry {i + 1}") for i, t in enumerate(templates))


def fill(template: str | Callable[[str], str], classname: str) -> str:
    """The prompt for one class. A string template has its ``{}`` replaced (``replace``, not
    ``format``: braces in names stay literal); a callable, as open_clip keeps its
    templates, is called with the name."""
    return template.replace(SLOT, classname) if isinstance(template, str) else template(classname)


def _norm(name: str) -> str:
    return " ".join(name.replace("_", " ").lower().split())


@dataclass(frozen=True)
class TemplateSet:
    """A named set of prompts: ``templates`` for every class, or ``per_class`` sentences.

    ``per_class`` (CuPL style) maps a class name to whole sentences; the lookup ignores
    case and treats ``_`` as a space, so ``golden_retriever`` finds ``Golden retriever``.
    """

    name: str
    templates: tuple[str, ...] = ()
    per_class: Mapping[str, tuple[str, ...]] | None = field(default=None, compare=False)
    source: str = ""

    def __post_init__(self) -> None:
        if self.per_class is None:
            object.__setattr__(self, "templates", validate_templates(self.templates, f"Template set {self.name!r}"))
        elif not self.per_class:
            raise TemplateError(f"Template set {self.name!r} has no classes.")

    @property
    def is_per_class(self) -> bool:
        return self.per_class is not None

    def prompts(self, classnames: Sequence[str]) -> list[list[str]]:
        """The prompts of each class, in class order."""
        if self.per_class is None:
            return [[fill(t, c) for t in self.templates] for c in classnames]
        table = {_norm(k): list(v) for k, v in self.per_class.items()}
        missing = [c for c in classnames if _norm(c) not in table]
        if missing:
            shown = ", ".join(repr(c) for c in missing[:5]) + (" ..." if len(missing) > 5 else "")
            raise TemplateError(
                f"Template set {self.name!r} has no sentences for {len(missing)} of "
                f"{len(classnames)} classes: {shown}."
            )
        return [table[_norm(c)] for c in classnames]

    def fingerprint(self) -> str:
        """Content hash: two sets with the same sentences share cached embeddings."""
        if self.per_class is None:
            return stable_hash("templates", list(self.templates))
        return stable_hash("per_class", {k: list(v) for k, v in self.per_class.items()})

    def __len__(self) -> int:
        if self.per_class is None:
            return len(self.templates)
        return max(len(v) for v in self.per_class.values())


def _per_class_from_json(obj: Mapping, where: str) -> dict[str, tuple[str, ...]]:
    out: dict[str, tuple[str, ...]] = {}
    for cls, sentences in obj.items():
        if isinstance(sentences, str):
            sentences = [sentences]
        if (not isinstance(sentences, list) or not sentences
                or not all(isinstance(s, str) and s.strip() for s in sentences)):
            raise TemplateError(
                f"{where}: class {cls!r} must map to a non-empty list of sentences."
            )
        out[str(cls)] = tuple(s.strip() for s in sentences)
    return out


def load_template_file(path: str | os.PathLike, name: str | None = None) -> TemplateSet:
    """Read a user template file.

    - ``*.json`` holding ``{class: [sentences]}``: CuPL-style per-class sentences, used as
      they are (no slot needed);
    - ``*.json`` holding a list: templates, each with one ``{}`` slot;
    - anything else: one template a line; blank lines and ``#`` comments are skipped.
    """
    path = Path(path).expanduser()
    if not path.is_file():
        raise TemplateError(f"Template file {str(path)!r} does not exist.")
    name = name or path.stem
    text = path.read_text(encoding="utf-8")
    if path.suffix.lower() == ".json":
        try:
            obj = json.loads(text)
        except json.JSONDecodeError as exc:
            raise TemplateError(f"Template file {str(path)!r} is not valid JSON ({exc.msg}, line {exc.lineno}).") from None
        if isinstance(obj, Mapping):
            return TemplateSet(name, per_class=_per_class_from_json(obj, f"Template file {str(path)!r}"),
                               source=str(path))
        if isinstance(obj, list):
            return TemplateSet(name, tuple(obj), source=str(path))
        raise TemplateError(
            f"Template file {str(path)!r} must hold a JSON object {{class: [sentences]}} or a list of templates."
        )
    lines = [ln.strip() for ln in text.splitlines()]
    lines = [ln for ln in lines if ln and not ln.startswith("#")]
    where = f"Template file {str(path)!r}"
    if not lines:
        raise TemplateError(f"{where} has no templates (one template a line, with a {{}} slot).")
    return TemplateSet(name, validate_templates(lines, where), source=str(path))


def template_set_names() -> list[str]:
    """Valid set names: the named sets plus ``dataset`` (the dataset's own prompts)."""
    return [*TEMPLATE_SETS, "dataset"]


def _looks_like_path(spec: str) -> bool:
    return os.sep in spec or "/" in spec or spec.lower().endswith((".txt", ".json"))


def get_template_set(spec: str | TemplateSet, dataset: str | None = None) -> TemplateSet:
    """Resolve a set by name (``raw``, ``openai80``, ``dataset`` ...) or by a file path.

    ``dataset`` picks the dataset-specific set for ``dataset`` (see DATASET_TEMPLATE_SET).
    """
    if isinstance(spec, TemplateSet):
        return spec
    if spec == "dataset":
        if dataset not in DATASET_TEMPLATE_SET:
            raise TemplateError(
                f"Template set 'dataset' needs a known dataset, got {dataset!r}. "
                f"Valid: {', '.join(DATASET_TEMPLATE_SET)}."
            )
        real = DATASET_TEMPLATE_SET[dataset]
        return TemplateSet(real, TEMPLATE_SETS[real], source=f"dataset:{dataset}")
    if spec in TEMPLATE_SETS:
        return TemplateSet(spec, TEMPLATE_SETS[spec], source="builtin")
    if isinstance(spec, str) and (_looks_like_path(spec) or Path(spec).is_file()):
        return load_template_file(spec)
    raise TemplateError(
        f"Unknown template set {spec!r}{did_you_mean(str(spec), template_set_names())[:-1]}, "
        "or a path to a .txt (one template a line) or .json ({class: [sentences]}) file."
    )


def describe_sets(names: Iterable[str] | None = None) -> "pd.DataFrame":  # noqa: F821
    """A table of the named sets: how many templates, and a few of them."""
    import pandas as pd

    rows = []
    for name in names or TEMPLATE_SETS:
        tset = get_template_set(name)
        rows.append({"set": name, "label": LABELS.get(name, name), "templates": len(tset),
                     "examples": " | ".join(tset.templates[:3]) + (" ..." if len(tset) > 3 else "")})
    return pd.DataFrame(rows).set_index("set")
