"""What a run found, in sentences that stay true whichever way its numbers fall.

Every chapter ends with a few sentences computed from its own run. A sentence about a
difference ("the descriptions scored below the pixels") is only worth writing when the
difference is larger than the luck of which test images were drawn, so differences come
with a 95% interval from a **paired bootstrap**: the test images are resampled with
replacement, both classifiers are scored on the same resample, and the 2.5% and 97.5%
quantiles of the difference are the interval. Pairing matters: two classifiers scored on
the same 200 images share most of their luck, and the interval of their difference is
much narrower than two separate intervals would suggest.

The wording is chosen by the interval, never by the author: *above* or *below* when the
whole interval lies on one side of zero, *cannot tell apart* when it contains zero.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any, Sequence

import numpy as np

__all__ = ["Gap", "paired_gap", "gap_sentence", "interval_text", "estimate_text",
           "score_text", "floor_sentence", "show", "is_finite", "number_text", "rounded",
           "SMOKE_NOTE"]

SMOKE_NOTE = ("Smoke run: random weights. These sentences are computed exactly as a real "
              "run's would be, so their form can be checked, but their numbers say nothing "
              "about CLIP, the VLM or the students.")

_METRICS = ("accuracy", "macro_f1")


@dataclass(frozen=True)
class Gap:
    """score(a) - score(b) on the same test images, in points, with its 95% interval."""

    value: float
    low: float
    high: float
    n: int
    metric: str

    @property
    def unit(self) -> str:
        return "F1 points" if self.metric == "macro_f1" else "accuracy points"


def _scores(y: np.ndarray, pred: np.ndarray, idx: np.ndarray, n_classes: int,
            metric: str) -> np.ndarray:
    """The metric on each row of resampled indices ``idx`` (draws, n), vectorised."""
    if metric == "accuracy":
        return (y[idx] == pred[idx]).mean(axis=1)
    c2 = n_classes * n_classes
    codes = y[idx] * n_classes + pred[idx] + np.arange(len(idx))[:, None] * c2
    conf = np.bincount(codes.ravel(), minlength=len(idx) * c2).reshape(len(idx), n_classes,
                                                                       n_classes)
    tp = np.diagonal(conf, axis1=1, axis2=2)
    denom = conf.sum(axis=1) + conf.sum(axis=2)  # (tp + fp) + (tp + fn)
    f1 = np.divide(2 * tp, denom, out=np.zeros(tp.shape), where=denom > 0)
    return f1.mean(axis=1)  # sklearn's macro F1 with zero_division=0, every class counted


def paired_gap(y_true: Sequence[int], pred_a: Sequence[int], pred_b: Sequence[int], *,
               n_classes: int | None = None, metric: str = "macro_f1", draws: int = 2000,
               seed: int = 0) -> Gap:
    """score(pred_a) - score(pred_b) in points (x100), with a paired-bootstrap 95% interval.

    Labels are class indices. The bootstrap is seeded, so the same predictions always give
    the same interval.
    """
    if metric not in _METRICS:
        raise ValueError(f"Bad metric {metric!r}: valid are {', '.join(_METRICS)}.")
    y, a, b = (np.asarray(v, dtype=np.int64) for v in (y_true, pred_a, pred_b))
    if not len(y) == len(a) == len(b) or not len(y):
        raise ValueError(f"paired_gap needs the same non-zero number of labels and predictions, "
                         f"got {len(y)}, {len(a)} and {len(b)}.")
    c = int(n_classes or max(y.max(), a.max(), b.max()) + 1)
    if min(y.min(), a.min(), b.min()) < 0 or max(y.max(), a.max(), b.max()) >= c:
        raise ValueError(f"paired_gap needs class indices between 0 and {c - 1}.")
    whole = np.arange(len(y))[None]
    value = float(_scores(y, a, whole, c, metric)[0] - _scores(y, b, whole, c, metric)[0])
    rng = np.random.default_rng(seed)
    diffs = []
    chunk = max(1, min(draws, 20_000_000 // max(len(y) * c * c, 1)))  # bounded memory
    for start in range(0, draws, chunk):
        idx = rng.integers(0, len(y), size=(min(chunk, draws - start), len(y)))
        diffs.append(_scores(y, a, idx, c, metric) - _scores(y, b, idx, c, metric))
    low, high = np.quantile(np.concatenate(diffs), [0.025, 0.975])
    return Gap(100 * value, 100 * float(min(low, value)), 100 * float(max(high, value)),
               len(y), metric)


def interval_text(low: float, high: float, digits: int = 1, signed: bool = False) -> str:
    """'95% interval 0.91 to 0.97' (signed: '+1.2 to +3.4')."""
    f = f"{{:+.{digits}f}}" if signed else f"{{:.{digits}f}}"
    return f"95% interval {f.format(low)} to {f.format(high)}"


def estimate_text(value: float, low: float, high: float, n: int, digits: int = 3) -> str:
    """'0.950 (95% interval 0.91 to 0.97, 200 images)'."""
    return (f"{value:.{digits}f} ({interval_text(low, high, max(digits - 1, 1))}, "
            f"{n:,} images)")


def score_text(report: Any, metric: str = "top1", digits: int = 3) -> str:
    """A saved classification report's score with its interval, as
    :func:`estimate_text` writes it (the intervals of chapter 06)."""
    from .verdicts import from_report

    est = from_report(report, metric)
    if est is None:
        raise ValueError(f"score_text: no {metric} can be computed from this report.")
    return estimate_text(est.value, est.low, est.high, est.n, digits)


def floor_sentence(what: str, report: Any, floor: float, floor_name: str,
                   metric: str = "top1") -> str:
    """Where a no-information baseline falls against ``what``'s 95% interval."""
    from .verdicts import from_report

    est = from_report(report, metric)
    if est is None:
        raise ValueError(f"floor_sentence: no {metric} can be computed from this report.")
    where = ("below" if floor < est.low else "above" if floor > est.high else "inside")
    return (f"{floor_name} scored {floor:.3f}, {where} the 95% interval of {what} "
            f"({est.low:.3f} to {est.high:.3f}).")


def gap_sentence(a: str, b: str, gap: Gap) -> str:
    """One sentence comparing ``a`` with ``b`` that is true whatever the numbers are."""
    span = interval_text(gap.low, gap.high, signed=True)
    if gap.low == gap.high == 0:
        return (f"{a} and {b} scored the same on these {gap.n} test images, and on every "
                "resample of them.")
    if gap.low > 0:
        return (f"{a} scored {gap.value:.1f} {gap.unit} above {b} ({span}, "
                f"{gap.n} test images): more than the choice of test images explains.")
    if gap.high < 0:
        return (f"{a} scored {-gap.value:.1f} {gap.unit} below {b} ({span}, "
                f"{gap.n} test images): more than the choice of test images explains.")
    if abs(gap.value) < 0.05:
        head = f"{a} and {b} scored within 0.1 {gap.unit} of each other"
    else:
        side = "above" if gap.value > 0 else "below"
        head = f"{a} scored {abs(gap.value):.1f} {gap.unit} {side} {b}"
    return (f"{head}, but the 95% interval of the difference ({gap.low:+.1f} to "
            f"{gap.high:+.1f}) includes zero: on these {gap.n} test images the two cannot "
            "be told apart.")


def show(cfg: Any, sentences: Sequence[str], *, about_models: bool = True) -> None:
    """Show a chapter's findings as a list; a smoke run's under a loud label when they are
    about models (``about_models=False``: facts about the data, true whatever the weights)."""
    from IPython.display import HTML, Markdown, display

    items = [s for s in sentences if s]
    if not items:
        return
    body = "\n".join(f"- {s}" for s in items)
    if about_models and getattr(cfg, "smoke", False):
        display(HTML('<div class="admonition warning"><p class="admonition-title">'
                     f"{SMOKE_NOTE}</p></div>"))
    display(Markdown(body))


def number_text(value: Any, digits: int, *, missing: str = "–", grouped: bool = False) -> str:
    """``value`` to ``digits`` decimals (``grouped``: with thousands separators), or
    ``missing`` when there is no number (None, NaN, infinity): how every table the book
    prints shows a cell, so an absent figure never reads as NaN."""
    try:
        number = float(value)
    except (TypeError, ValueError):
        return missing
    if not math.isfinite(number):
        return missing
    return f"{number:{',' if grouped else ''}.{digits}f}"


def rounded(table: Any, digits: int) -> Any:
    """``table`` (a DataFrame or Series) with every float rounded the way an f-string
    rounds it, so a table and a sentence about the same number agree. pandas' ``round``
    scales first and rounds halves to even: 7/80 shows as 0.088 in its table and as 0.087
    in ``f"{7/80:.3f}"``, which reads the binary value 0.08749999..."""

    def one(value: Any) -> Any:
        if isinstance(value, float) and math.isfinite(value):
            return float(f"{value:.{digits}f}")
        return value

    return table.map(one)


def is_finite(*values: Any) -> bool:
    """True when every value is a real number (not None, not NaN)."""
    return all(isinstance(v, (int, float)) and math.isfinite(v) for v in values)
