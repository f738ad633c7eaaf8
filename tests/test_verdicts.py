"""Intervals and verdicts: hand-worked numbers, and parity with scipy's Wilson interval."""

from __future__ import annotations

import math

import numpy as np
import pytest

from clipdistill import verdicts as V
from clipdistill.zeroshot import classification_report


def test_wilson_by_hand():
    # 87 of 100: z^2 = 3.8415; centre = (0.87 + 0.019207) / 1.038415 = 0.856312;
    # half = 1.959964 / 1.038415 * sqrt(0.87 * 0.13 / 100 + 3.8415 / 40000) = 0.066116.
    lo, hi = V.wilson_interval(87, 100)
    assert lo == pytest.approx(0.790196, abs=1e-6) and hi == pytest.approx(0.922428, abs=1e-6)
    # All right: the upper end is exactly 1 and the lower end is n / (n + z^2).
    lo, hi = V.wilson_interval(10, 10)
    assert hi == 1.0 and lo == pytest.approx(10 / (10 + V.Z95 ** 2))
    assert V.wilson_interval(0, 10) == (0.0, pytest.approx(V.Z95 ** 2 / (10 + V.Z95 ** 2)))


@pytest.mark.parametrize("k, n", [(0, 1), (1, 16), (14, 16), (87, 100), (199, 200), (200, 200),
                                  (5022, 6084), (8982, 10_000)])
def test_wilson_matches_scipy(k, n):
    binomtest = pytest.importorskip("scipy.stats").binomtest
    ref = binomtest(k, n).proportion_ci(confidence_level=0.95, method="wilson")
    assert V.wilson_interval(k, n) == (pytest.approx(ref.low, abs=1e-12),
                                       pytest.approx(ref.high, abs=1e-12))


def test_wilson_rejects_bad_counts():
    with pytest.raises(ValueError, match="n >= 1"):
        V.wilson_interval(0, 0)
    with pytest.raises(ValueError, match="not between"):
        V.wilson_interval(11, 10)


def test_mean_per_class_recall_by_hand():
    # Recalls 0.9, 1.0, 0.8: mean 0.9. One class alone gives its Wilson half-width back.
    assert V.mean_per_class_recall([50, 50, 50], [45, 50, 40]) == pytest.approx(0.9)
    lo, hi = V.mean_per_class_recall_interval([100], [87])
    w_lo, w_hi = V.wilson_interval(87, 100)
    assert hi - lo == pytest.approx(w_hi - w_lo) and (lo + hi) / 2 == pytest.approx(0.87)
    # Three classes: the standard error is sqrt(sum of per-class variances) / 3.
    halves = [np.subtract(*V.wilson_interval(k, 50)[::-1]) / 2 for k in (45, 50, 40)]
    se = math.sqrt(sum((h / V.Z95) ** 2 for h in halves)) / 3
    lo, hi = V.mean_per_class_recall_interval([50, 50, 50], [45, 50, 40])
    assert (lo, hi) == (pytest.approx(0.9 - V.Z95 * se), pytest.approx(0.9 + V.Z95 * se))


def test_balanced_classes_pooled_wilson_is_no_narrower():
    """With equal class sizes the accuracy is the mean per-class recall, and the pooled
    interval (all chapter 04 records) is at least as wide as the per-class one."""
    n, k = [50] * 10, [45, 50, 40, 30, 49, 48, 20, 44, 41, 47]
    assert V.mean_per_class_recall(n, k) == pytest.approx(sum(k) / sum(n))
    lo, hi = V.mean_per_class_recall_interval(n, k)
    p_lo, p_hi = V.wilson_interval(sum(k), sum(n))
    assert p_hi - p_lo >= hi - lo


def test_macro_f1_matches_sklearn_and_its_interval_behaves():
    from sklearn.metrics import confusion_matrix, f1_score

    rng = np.random.default_rng(1)
    y = rng.integers(0, 4, 300)
    pred = np.where(rng.random(300) < 0.7, y, rng.integers(0, 4, 300))
    m = confusion_matrix(y, pred)
    assert V.macro_f1(m) == pytest.approx(f1_score(y, pred, average="macro"))
    lo, hi = V.macro_f1_interval(m)
    assert lo < V.macro_f1(m) < hi and V.macro_f1_interval(m) == (lo, hi)  # seeded
    lo10, hi10 = V.macro_f1_interval(m * 10)
    assert (hi10 - lo10) == pytest.approx((hi - lo) / math.sqrt(10), rel=0.25)


def test_macro_f1_interval_of_a_perfect_score_is_not_a_point():
    lo, hi = V.macro_f1_interval([[100, 0], [0, 100]])
    assert hi == 1.0 and 0.97 < lo < 0.995
    with pytest.raises(ValueError, match="square"):
        V.macro_f1_interval([[1, 2, 3]])


def test_estimates_from_a_report_old_and_new():
    y = np.array([0] * 100 + [1] * 100)
    pred = y.copy()
    pred[[3, 150, 151]] = 1 - pred[[3, 150, 151]]
    report = classification_report(y, pred, ["cat", "dog"])
    assert report["n"] == 200 and report["confusion"] == [[99, 1], [2, 98]]
    top1 = V.from_report(report, "top1")
    assert (top1.value, top1.n, top1.classes) == (0.985, 200, 2)
    assert (top1.low, top1.high) == V.wilson_interval(197, 200)
    old = {k: v for k, v in report.items() if k not in ("n", "confusion")}
    assert V.confusion_from_report(old).tolist() == report["confusion"]
    assert V.from_report(old, "macro_f1") == V.from_report(report, "macro_f1")
    assert V.from_report(None, "top1") is None


def test_mean_per_class_recall_from_a_report_of_many_classes():
    y = np.repeat(np.arange(3), [10, 20, 30])
    pred = y.copy()
    pred[:5] = 1  # class 0: 5 of 10 right
    report = classification_report(y, pred, ["a", "b", "c"])
    est = V.from_report(report, "mean_per_class_recall")
    assert est.value == pytest.approx((0.5 + 1 + 1) / 3) and est.n == 60
    old = {k: v for k, v in report.items() if k not in ("n", "confusion")}
    assert V.from_report(old, "mean_per_class_recall") == est  # support x recall suffices
    assert V.from_report(old, "macro_f1") is None  # needs the matrix
    with pytest.raises(ValueError, match="Unknown metric"):
        V.from_confusion(report["confusion"], "f2")


def test_verdicts():
    est = V.from_counts(870, 1000)  # interval about 0.848 - 0.889
    assert V.verdict(est, 0.87) == "consistent"
    assert V.verdict(est, 0.90) == "below"
    assert V.verdict(est, 0.80) == "above"
    assert V.verdict(est, 0.87, smoke=True) == "smoke: not a result"
    assert V.verdict(est, 0.87, smoke=True, not_comparable="5 of 37 classes") == (
        "smoke: not a result; 5 of 37 classes")
    assert V.verdict(est, 0.87, not_comparable="5 of 37 classes") == "not comparable: 5 of 37 classes"
    assert V.verdict(est, None) == ""
    assert V.verdict(None, 0.87) == "not comparable: no interval"
