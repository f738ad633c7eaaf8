"""People's colour-concept associations, and how closely a model's follow them.

The rest of chapter 07 sets each model beside chance only. Here it is set beside people:
Mukherjee et al. collected mean human association ratings between 70 concepts (fruits,
objects, places, feelings, abstract ideas) and the 71 colours of the UW-71 set, which
spans perceptual colour space. The ratings ship with the package, unchanged, under their
MIT licence (``colour/data/README.md``).

For a model and a prompt style, its association of each UW-71 colour with a concept is
the cosine of their embeddings, as in the rest of the chapter (the colour as a rendered
patch through the image tower; in style 4 as its RGB values through the text tower).
Per concept, the Pearson correlation between those 71 numbers and people's 71 ratings
says how well the model's *profile* over colour space follows theirs; the summary is the
mean over concepts, with a 95% bootstrap interval over concepts. Chance is what the same
mean is when the model's associations are shuffled across colours within each concept
(seeded permutations): its mean and 95% band.
"""

from __future__ import annotations

import csv
import hashlib
from dataclasses import dataclass
from importlib import resources
from typing import Any, Sequence

import numpy as np

from . import ColourError

__all__ = ["RATINGS_SOURCE", "HumanRatings", "load_ratings", "concept_correlations",
           "summarise", "chance", "agreement_table"]

RATINGS_SOURCE = {
    "repo": "SchlossVRL/gpt-cca",
    "commit": "3141b6b5126bdc93b9a378052356d9d254f6d43c",
    "files": {"uw71_all_concept_ratings.csv":
              "3402b25742dce02746592e9a5d027ba4fbb0d6b04e54759b9b46e1598435c7d6",
              "UW71coordinates_long.csv":
              "e76afa2076d5108adc75303cceecf76866083795891c810f4283a147d1056c0b"},
    "licence": "MIT (Schloss Visual Reasoning Lab, 2023)",
    "paper": "Mukherjee, Mohapatra, Rogers & Schloss, Cognitive Science 50(6) e70219 (2026)",
}


@dataclass(frozen=True)
class HumanRatings:
    concepts: tuple[str, ...]  # 70 words
    hex: tuple[str, ...]  # the 71 UW-71 colours, in colour_index order
    rgb: tuple[tuple[int, int, int], ...]
    ratings: np.ndarray  # (concepts, colours), people's mean ratings in [0, 1]


def _read(name: str) -> str:
    data = resources.files("clipdistill.colour").joinpath("data", name).read_bytes()
    if hashlib.sha256(data).hexdigest() != RATINGS_SOURCE["files"][name]:
        raise ColourError(f"The bundled {name} differs from the published file (SHA-256): "
                          "reinstall clipdistill.")
    return data.decode("utf-8-sig")


def load_ratings(concepts: Sequence[str] = ()) -> HumanRatings:
    """The bundled ratings; ``concepts`` picks a subset (in that order), [] = all 70."""
    colours = sorted(csv.DictReader(_read("UW71coordinates_long.csv").splitlines()),
                     key=lambda r: int(r["color_index"]))
    rows = {r[""]: r for r in csv.DictReader(_read("uw71_all_concept_ratings.csv").splitlines())}
    names = list(concepts) or list(rows)
    missing = [c for c in names if c not in rows]
    if missing:
        raise ColourError(f"No human ratings for {', '.join(map(repr, missing))}: the rated "
                          f"concepts are {', '.join(rows)}.")
    ratings = np.array([[float(rows[c][str(i)]) for i in range(len(colours))] for c in names])
    rgb = tuple(tuple(int(round(float(r[k]))) for k in ("r255", "g255", "b255")) for r in colours)
    return HumanRatings(tuple(names), tuple(r["color_hex"] for r in colours), rgb, ratings)


def concept_correlations(model: np.ndarray, people: np.ndarray) -> np.ndarray:
    """Per concept, Pearson's r between a model's and people's associations over colours.

    Both arrays are (concepts, colours); a concept whose model row is constant gets NaN.
    """
    model, people = np.asarray(model, float), np.asarray(people, float)
    a = model - model.mean(axis=1, keepdims=True)
    b = people - people.mean(axis=1, keepdims=True)
    den = np.sqrt((a * a).sum(axis=1) * (b * b).sum(axis=1))
    flat = (np.ptp(model, axis=1) == 0) | (np.ptp(people, axis=1) == 0)
    with np.errstate(invalid="ignore", divide="ignore"):
        return np.where(flat, np.nan, (a * b).sum(axis=1) / den)


def summarise(r: np.ndarray, *, seed: int = 0, resamples: int = 2000) -> dict[str, float]:
    """Mean r over concepts and its 95% bootstrap interval (concepts resampled)."""
    r = np.asarray(r, float)
    r = r[np.isfinite(r)]
    if not len(r):
        return {"mean_r": float("nan"), "low": float("nan"), "high": float("nan"), "concepts": 0}
    rng = np.random.default_rng(seed)
    boots = rng.choice(r, size=(resamples, len(r)), replace=True).mean(axis=1)
    low, high = np.percentile(boots, [2.5, 97.5])
    return {"mean_r": float(r.mean()), "low": float(low), "high": float(high),
            "concepts": int(len(r))}


def chance(model: np.ndarray, people: np.ndarray, *, seed: int = 0,
           permutations: int = 200) -> dict[str, float]:
    """Mean r over concepts when each concept's model associations are shuffled across
    colours: its mean and central 95% over ``permutations`` seeded shuffles."""
    rng = np.random.default_rng(seed)
    model = np.asarray(model, float)
    means = []
    for _ in range(permutations):
        shuffled = np.array([row[rng.permutation(len(row))] for row in model])
        r = concept_correlations(shuffled, people)
        means.append(np.nanmean(r))
    low, high = np.percentile(means, [2.5, 97.5])
    return {"chance_r": float(np.mean(means)), "chance_low": float(low),
            "chance_high": float(high)}


def agreement_table(df: Any, *, seed: int = 0) -> Any:
    """Per model x prompt style (x view): mean r with its interval, beside chance.

    ``df`` holds chapter 07's ``human`` rows: ``measure == "correlation"``, ``score`` = a
    concept's r; ``measure == "chance"``, ``concept`` = mean | low | high of the shuffled
    colours' mean r.
    """
    import pandas as pd

    rows = []
    human = df[(df["task"] == "human") & (df["measure"] == "correlation")]
    for (model, style, view), g in human.groupby(["model", "style", "view"], sort=False):
        ch = df[(df["task"] == "human") & (df["measure"] == "chance") & (df["model"] == model)
                & (df["style"] == style) & (df["view"] == view)]
        stats = summarise(g["score"].to_numpy(float), seed=seed)
        got = dict(zip(ch["concept"], ch["score"].astype(float)))
        rows.append({"model": model, "prompt style": style, "view": view, **stats,
                     "chance_r": got.get("mean", float("nan")),
                     "chance_low": got.get("low", float("nan")),
                     "chance_high": got.get("high", float("nan"))})
    return pd.DataFrame(rows)
