"""Semantic discriminability (Schloss et al.): can the associations tell two concepts apart?

Show someone two colours and two concepts without a legend: they infer the assignment
whose associations add up to more, its *merit*. For concepts ``i, j`` and colours
``a, b`` of an association matrix ``x`` (colours x concepts), the assignment
``a -> i, b -> j`` beats the swapped one by

    delta = (x[a, i] + x[b, j]) - (x[a, j] + x[b, i])

Its absolute value is the *semantic distance* of the two colours for the two concepts:
the larger, the more clearly the pair can carry the two meanings. The sign says which
assignment the associations favour, so with each concept's canonical colour as ``a``
and ``b`` a positive delta means "the model would read this legend-free chart right".

A palette for a set of concepts picks one colour per concept. Good palettes are not
just strongly associated with their own concept but weakly with the others, so each
colour is scored by its association with its concept minus its strongest association
with another concept of the set, and the best one-to-one assignment is found with the
Hungarian algorithm. Its weakest pair (the smallest delta among its pairs, each in the
assignment the palette chose) is what limits it.
"""

from __future__ import annotations

from itertools import combinations
from typing import Sequence

import numpy as np

from . import ColourError

__all__ = ["delta", "semantic_distance", "pair_deltas", "pair_accuracy", "pair_interval",
           "palette_scores", "choose_palette", "weakest_pair"]


def delta(x: np.ndarray, a: int, b: int, i: int, j: int) -> float:
    """Merit of ``a -> i, b -> j`` minus merit of ``a -> j, b -> i`` (x: colours x concepts)."""
    x = np.asarray(x, dtype=np.float64)
    return float((x[a, i] + x[b, j]) - (x[a, j] + x[b, i]))


def semantic_distance(x: np.ndarray, a: int, b: int, i: int, j: int) -> float:
    """|delta|: how far apart colours ``a`` and ``b`` are in meaning, for concepts ``i`` and ``j``."""
    return abs(delta(x, a, b, i, j))


def pair_deltas(x: np.ndarray, colours: Sequence[str], canonical: Sequence[str | None]) -> list[dict]:
    """``delta`` for every pair of concepts whose canonical colours differ (both present).

    ``canonical[j]`` is concept j's canonical colour (None: none). Returns one dict per
    pair: ``i``, ``j`` (concept indices), ``a``, ``b`` (their colours' indices), ``delta``.
    """
    rows = []
    for i, j in combinations(range(len(canonical)), 2):
        ci, cj = canonical[i], canonical[j]
        if ci is None or cj is None or ci == cj or ci not in colours or cj not in colours:
            continue
        a, b = colours.index(ci), colours.index(cj)
        rows.append({"i": i, "j": j, "a": a, "b": b, "delta": delta(x, a, b, i, j)})
    return rows


def pair_accuracy(deltas: Sequence[float]) -> float:
    """Fraction of pairs whose associations favour the right assignment (a tie counts half)."""
    d = np.asarray(deltas, dtype=np.float64)
    return float(((d > 0) + 0.5 * (d == 0)).mean()) if len(d) else float("nan")


def pair_interval(concept_a: Sequence[str], concept_b: Sequence[str], deltas: Sequence[float], *,
                  seed: int = 0, resamples: int = 2000) -> tuple[float, float]:
    """A 95% interval for :func:`pair_accuracy` that respects the concepts pairs share.

    Pairs built from k concepts are not k(k-1)/2 independent draws: a concept the model
    gets wrong spoils every pair it is in. So the concepts are resampled with replacement
    (as for the agreement with people), each pair counting once per way its two concepts
    were drawn; resamples without a pair are skipped. Where every pair came out the same,
    no resample can differ, so the interval is never narrower than a Wilson interval over
    the pairs (which treats them as independent).
    """
    from ..verdicts import wilson_interval

    d = np.asarray(deltas, dtype=np.float64)
    if not len(d) or not len(d) == len(concept_a) == len(concept_b):
        raise ColourError(f"pair_interval needs one delta per pair, got {len(d)} deltas for "
                          f"{len(concept_a)} and {len(concept_b)} concepts.")
    score = (d > 0) + 0.5 * (d == 0)  # as pair_accuracy counts a tie
    names = sorted(set(concept_a) | set(concept_b))
    index = {n: k for k, n in enumerate(names)}
    i = np.array([index[n] for n in concept_a])
    j = np.array([index[n] for n in concept_b])
    drawn = np.random.default_rng(seed).multinomial(len(names), np.full(len(names), 1 / len(names)),
                                                    size=resamples)  # (resamples, concepts)
    weight = drawn[:, i] * drawn[:, j]  # how often each pair was drawn in each resample
    total = weight.sum(axis=1)
    boots = (weight @ score)[total > 0] / total[total > 0]
    low, high = np.percentile(boots, [2.5, 97.5]) if len(boots) else (np.nan, np.nan)
    w_low, w_high = wilson_interval(float(score.sum()), len(score))
    return float(np.fmin(low, w_low)), float(np.fmax(high, w_high))


def palette_scores(x: np.ndarray, concepts: Sequence[int]) -> np.ndarray:
    """(colours, len(concepts)): association with the concept minus the best with another.

    With one concept there is no other, and the score is the association itself.
    """
    sub = np.asarray(x, dtype=np.float64)[:, list(concepts)]
    if sub.shape[1] == 1:
        return sub.copy()
    out = np.empty_like(sub)
    for k in range(sub.shape[1]):
        out[:, k] = sub[:, k] - np.delete(sub, k, axis=1).max(axis=1)
    return out


def choose_palette(x: np.ndarray, concepts: Sequence[int]) -> list[int]:
    """One distinct colour index per concept index, maximising the summed palette scores."""
    from scipy.optimize import linear_sum_assignment

    n_colours = np.asarray(x).shape[0]
    if len(concepts) > n_colours:
        raise ColourError(f"A palette of {len(concepts)} concepts needs at least as many colours, "
                          f"not {n_colours}.")
    rows, cols = linear_sum_assignment(-palette_scores(x, concepts))
    chosen = [0] * len(concepts)
    for r, c in zip(rows, cols):
        chosen[c] = int(r)
    return chosen


def weakest_pair(x: np.ndarray, colours: Sequence[int], concepts: Sequence[int]) -> float:
    """The smallest ``delta`` over the palette's pairs, each in its chosen assignment.

    Positive: every pair of the palette would be read the right way round without a
    legend, by at least this margin. Negative: some pair would be read swapped.
    """
    pairs = list(combinations(range(len(concepts)), 2))
    if not pairs:
        return float("nan")
    return min(delta(x, colours[p], colours[q], concepts[p], concepts[q]) for p, q in pairs)
