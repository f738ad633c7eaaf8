"""How sure is a number, and does it agree with the published one?

Each of our accuracies comes from a few hundred or a few thousand test images, so it is an
estimate with sampling error. This module gives every such number a 95% interval for the
number of images it used, and sets it beside a published figure with a one-word verdict:

- ``consistent``: the published value lies inside our interval;
- ``below`` / ``above``: our interval lies entirely below / above the published value;
- ``not comparable: <why>``: the two numbers do not measure the same thing (another
  model, a subset of the classes, other prompts, another metric...);
- ``smoke: not a result``: random weights; there is nothing to judge (what would not
  be comparable is still named after a semicolon).

The interval only covers the sampling of test images. A "below" can still come from a
real difference in preprocessing or class names; a "consistent" says the two agree within
the precision our sample allows, nothing more.

Which interval, and why:

- **top-1 accuracy** (a proportion of images): the Wilson score interval. Unlike the
  textbook ``p +- 1.96 sqrt(p(1-p)/n)`` (the Wald interval) it stays close to 95%
  coverage on average at the small ``n`` our profiles produce, never leaves [0, 1], and
  does not collapse to a point when every image is right (Brown, Cai and DasGupta, 2001,
  recommend it for small ``n``; they also show its coverage dips below 95% for
  accuracies very close to 0 or 1, where a verdict of *below* deserves a second look).
- **mean per-class recall** (the average of each class's recall): the classes are
  independent samples, so the variance of the mean is the average of the per-class
  variances divided by the number of classes; each class's variance is taken from its own
  Wilson interval (``(half-width / z)^2``), which stays positive for a class whose images
  are all right. Interval: the mean +- z standard errors, clipped to [0, 1]. When only the
  pooled count is known and every class has the same number of images, the mean per-class
  recall *equals* the accuracy and the pooled Wilson interval is a (slightly wide) interval
  for it: the pooled binomial variance p(1-p)/n is never smaller than the stratified one.
- **macro F1** (not a proportion): a Monte Carlo posterior interval. Each true class's row
  of the confusion matrix gets a Jeffreys prior, Dirichlet(counts + 1/2), the macro F1 of
  each draw is computed, and the 2.5% and 97.5% quantiles are the interval (seeded, so the
  same counts always give the same interval), widened where needed to keep the observed
  value. For one binary proportion the Jeffreys interval is close to Wilson's.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any, Mapping, Sequence

import numpy as np

__all__ = [
    "Z95", "Estimate", "wilson_interval", "mean_per_class_recall",
    "mean_per_class_recall_interval", "macro_f1", "macro_f1_interval", "from_counts",
    "from_confusion", "from_report", "confusion_from_report", "verdict",
]

Z95 = 1.959963984540054  # the standard normal's 97.5% quantile


@dataclass(frozen=True)
class Estimate:
    """One of our numbers with its 95% interval and what it was measured on."""

    value: float
    low: float
    high: float
    n: int  # test images
    metric: str  # top1 | mean_per_class_recall | macro_f1 (see published.METRICS)
    classes: int | None = None


def wilson_interval(correct: float, n: int, z: float = Z95) -> tuple[float, float]:
    """The Wilson score interval for ``correct`` successes out of ``n``."""
    if n <= 0:
        raise ValueError(f"wilson_interval needs n >= 1 images, got n={n}.")
    if not 0 <= correct <= n:
        raise ValueError(f"wilson_interval: {correct} correct is not between 0 and n={n}.")
    p = correct / n
    z2 = z * z
    centre = (p + z2 / (2 * n)) / (1 + z2 / n)
    half = z / (1 + z2 / n) * math.sqrt(p * (1 - p) / n + z2 / (4 * n * n))
    low = 0.0 if correct == 0 else max(0.0, centre - half)  # exact at the ends, where
    high = 1.0 if correct == n else min(1.0, centre + half)  # rounding would miss 0 and 1
    return low, high


def _per_class(per_class_n: Sequence[int], per_class_correct: Sequence[float]):
    n = np.asarray(per_class_n, dtype=np.float64)
    k = np.asarray(per_class_correct, dtype=np.float64)
    if n.shape != k.shape or n.ndim != 1 or not len(n):
        raise ValueError("per-class counts: need one image count and one correct count per class.")
    if (n <= 0).any() or (k < 0).any() or (k > n).any():
        raise ValueError("per-class counts: every class needs n >= 1 and 0 <= correct <= n.")
    return n, k


def mean_per_class_recall(per_class_n: Sequence[int], per_class_correct: Sequence[float]) -> float:
    """The mean over classes of correct / images (scikit-learn's balanced accuracy)."""
    n, k = _per_class(per_class_n, per_class_correct)
    return float(np.mean(k / n))


def mean_per_class_recall_interval(per_class_n: Sequence[int], per_class_correct: Sequence[float],
                                   z: float = Z95) -> tuple[float, float]:
    """Mean +- z standard errors, the variance averaged from per-class Wilson intervals."""
    n, k = _per_class(per_class_n, per_class_correct)
    half = np.array([np.subtract(*wilson_interval(kc, int(nc), z)[::-1]) / 2
                     for kc, nc in zip(k, n)])
    se = math.sqrt(float(np.sum((half / z) ** 2))) / len(n)
    mean = float(np.mean(k / n))
    return max(0.0, mean - z * se), min(1.0, mean + z * se)


def _f1_rows(confusion: np.ndarray) -> np.ndarray:
    """Macro F1 of each (..., C, C) confusion matrix (rows: true class; 0 where undefined)."""
    tp = np.diagonal(confusion, axis1=-2, axis2=-1)
    denom = confusion.sum(axis=-1) + confusion.sum(axis=-2)  # 2 tp + fn + fp
    f1 = np.divide(2 * tp, denom, out=np.zeros_like(tp, dtype=np.float64), where=denom > 0)
    return f1.mean(axis=-1)


def macro_f1(confusion: Sequence[Sequence[float]]) -> float:
    """Macro F1 from a confusion matrix (rows: true class, columns: predicted)."""
    return float(_f1_rows(np.asarray(confusion, dtype=np.float64)))


def macro_f1_interval(confusion: Sequence[Sequence[float]], draws: int = 4000,
                      seed: int = 0) -> tuple[float, float]:
    """95% Jeffreys-posterior interval of macro F1, by seeded Monte Carlo (see module)."""
    m = np.asarray(confusion, dtype=np.float64)
    if m.ndim != 2 or m.shape[0] != m.shape[1] or (m < 0).any() or m.sum() <= 0:
        raise ValueError(f"macro_f1_interval needs a square confusion matrix of counts, got shape {m.shape}.")
    rng = np.random.default_rng(seed)
    c = m.shape[0]
    draws = max(200, min(draws, int(2e7 // (c * c))))  # bounded memory for many classes
    rows = m.sum(axis=1)
    sampled = np.empty((draws, c, c))
    for i in range(c):
        sampled[:, i, :] = rng.dirichlet(m[i] + 0.5, size=draws) * rows[i]
    lo, hi = np.quantile(_f1_rows(sampled), [0.025, 0.975])
    # The prior pulls a perfect score down; like Brown, Cai and DasGupta's boundary
    # rule for the Jeffreys interval, the interval always keeps the observed value.
    observed = float(_f1_rows(m))
    return float(min(lo, observed)), float(max(hi, observed))


# -- estimates from what the chapters save ----------------------------------------------
def from_counts(correct: float, n: int, metric: str = "top1", classes: int | None = None) -> Estimate:
    """A proportion with its Wilson interval (``metric`` names what the proportion is)."""
    lo, hi = wilson_interval(correct, n)
    return Estimate(correct / n, lo, hi, int(n), metric, classes)


def from_confusion(confusion: Sequence[Sequence[float]], metric: str) -> Estimate:
    """``metric`` of a confusion matrix (rows: true class) with its 95% interval."""
    m = np.asarray(confusion, dtype=np.float64)
    rows = m.sum(axis=1)
    n, c = int(m.sum()), len(m)
    if metric == "top1":
        return from_counts(float(np.trace(m)), n, "top1", c)
    present = rows > 0  # a class with no test image has no recall
    if metric == "mean_per_class_recall":
        per_n, per_k = rows[present], np.diagonal(m)[present]
        lo, hi = mean_per_class_recall_interval(per_n, per_k)
        return Estimate(mean_per_class_recall(per_n, per_k), lo, hi, n, metric, int(present.sum()))
    if metric == "macro_f1":
        lo, hi = macro_f1_interval(m)
        return Estimate(macro_f1(m), lo, hi, n, metric, c)
    raise ValueError(f"Unknown metric {metric!r}: valid are top1, mean_per_class_recall, macro_f1.")


def _class_rows(report: Mapping[str, Any]) -> list[str]:
    return [k for k, v in report.items()
            if isinstance(v, Mapping) and k not in ("macro avg", "weighted avg")]


def confusion_from_report(report: Mapping[str, Any]) -> np.ndarray | None:
    """The confusion matrix of a :func:`clipdistill.zeroshot.classification_report`.

    Reports saved before the matrix was recorded still give it for two classes: each
    class's support and recall fix its row, and the other class's row is the rest.
    """
    if report.get("confusion") is not None:
        return np.asarray(report["confusion"], dtype=np.float64)
    classes = _class_rows(report)
    if len(classes) != 2:
        return None
    m = np.zeros((2, 2))
    for i, name in enumerate(classes):
        support = float(report[name]["support"])
        m[i, i] = round(report[name]["recall"] * support)
        m[i, 1 - i] = support - m[i, i]
    return m


def from_report(report: Mapping[str, Any] | None, metric: str) -> Estimate | None:
    """``metric`` of a saved classification report, or None when it cannot be rebuilt.

    Top-1 and mean per-class recall need only each class's support and recall, which
    every report has; macro F1 needs the confusion matrix (or two classes).
    """
    if not isinstance(report, Mapping):
        return None
    m = confusion_from_report(report)
    if m is not None:
        return from_confusion(m, metric)
    rows = [report[c] for c in _class_rows(report) if report[c]["support"] > 0]
    if metric == "macro_f1" or not rows:
        return None
    n = np.array([r["support"] for r in rows], dtype=np.float64)
    k = np.round(np.array([r["recall"] for r in rows]) * n)
    if metric == "top1":
        return from_counts(float(k.sum()), int(n.sum()), "top1", len(rows))
    lo, hi = mean_per_class_recall_interval(n, k)
    return Estimate(mean_per_class_recall(n, k), lo, hi, int(n.sum()), metric, len(rows))


def verdict(ours: Estimate | None, published: float | None, *, smoke: bool = False,
            not_comparable: str | None = None) -> str:
    """consistent / below / above the published value, or why there is no verdict.

    ``not_comparable`` is the reason two numbers measure different things (checked by the
    caller, who knows the models, classes and prompts); it wins over the arithmetic.
    """
    if published is None:
        return ""
    if smoke:  # random weights: no verdict, but still say what would not compare
        return "smoke: not a result" + (f"; {not_comparable}" if not_comparable else "")
    if not_comparable:
        return f"not comparable: {not_comparable}"
    if ours is None:
        return "not comparable: no interval"
    if ours.low <= published <= ours.high:
        return "consistent"
    return "below" if ours.high < published else "above"
