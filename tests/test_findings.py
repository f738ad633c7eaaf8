"""Findings: paired-bootstrap gaps agree with scikit-learn, and the sentence follows the interval."""

from __future__ import annotations

import math
import numpy as np
import pytest
from sklearn.metrics import accuracy_score, f1_score

from clipdistill import findings


def _preds(rng, y, right, classes=3):
    """Predictions that are right with probability ``right``."""
    wrong = (y + rng.integers(1, classes, len(y))) % classes
    return np.where(rng.random(len(y)) < right, y, wrong)


@pytest.mark.parametrize("metric", ["accuracy", "macro_f1"])
def test_the_point_value_is_scikit_learns(metric):
    rng = np.random.default_rng(0)
    y = rng.integers(0, 3, 150)
    a, b = _preds(rng, y, 0.9), _preds(rng, y, 0.6)
    gap = findings.paired_gap(y, a, b, n_classes=3, metric=metric)
    if metric == "accuracy":
        ref = accuracy_score(y, a) - accuracy_score(y, b)
    else:
        ref = (f1_score(y, a, average="macro", labels=[0, 1, 2], zero_division=0)
               - f1_score(y, b, average="macro", labels=[0, 1, 2], zero_division=0))
    assert gap.value == pytest.approx(100 * ref, abs=1e-9)
    assert gap.low <= gap.value <= gap.high and gap.n == 150


def test_the_interval_is_seeded_and_narrows_with_more_images():
    rng = np.random.default_rng(1)
    y = rng.integers(0, 2, 2000)
    a, b = _preds(rng, y, 0.9, 2), _preds(rng, y, 0.85, 2)
    small = findings.paired_gap(y[:100], a[:100], b[:100], n_classes=2)
    assert small == findings.paired_gap(y[:100], a[:100], b[:100], n_classes=2)
    big = findings.paired_gap(y, a, b, n_classes=2)
    assert big.high - big.low < small.high - small.low


def test_the_sentence_follows_the_interval_whichever_way_it_falls():
    rng = np.random.default_rng(2)
    y = rng.integers(0, 2, 400)
    good, bad = _preds(rng, y, 0.95, 2), _preds(rng, y, 0.6, 2)
    above = findings.gap_sentence("Pixels", "words", findings.paired_gap(y, good, bad))
    below = findings.gap_sentence("Words", "pixels", findings.paired_gap(y, bad, good))
    assert "above words" in above and "below pixels" in below
    close = _preds(np.random.default_rng(3), y, 0.95, 2)
    tie = findings.paired_gap(y[:40], good[:40], close[:40])
    assert tie.low <= 0 <= tie.high
    assert "cannot be told apart" in findings.gap_sentence("A", "B", tie)
    # An unresolved gap still says which way it leaned, in words, not as a signed "differ by".
    lean = findings.gap_sentence("Words", "pixels", findings.Gap(-30.0, -55.6, 0.0, 8, "macro_f1"))
    assert lean.startswith("Words scored 30.0 F1 points below pixels, but the 95% interval")
    even = findings.gap_sentence("A", "B", findings.Gap(0.02, -3.0, 3.0, 50, "accuracy"))
    assert even.startswith("A and B scored within 0.1")
    same = findings.paired_gap(y, good, good)
    assert "scored the same" in findings.gap_sentence("A", "B", same)


def test_bad_input_is_a_clear_error():
    with pytest.raises(ValueError, match="valid are accuracy, macro_f1"):
        findings.paired_gap([0, 1], [0, 1], [1, 0], metric="f2")
    with pytest.raises(ValueError, match="same non-zero number"):
        findings.paired_gap([0, 1], [0], [1, 0])
    with pytest.raises(ValueError, match="between 0 and 1"):
        findings.paired_gap([0, 1], [0, 2], [1, 0], n_classes=2)


def test_a_rounded_table_agrees_with_the_sentence_about_it():
    # pandas rounds 7/80 to 0.088 (half to even after scaling); the sentence's f-string
    # reads the binary value, 0.087499..., and says 0.087. The table must say the same.
    import pandas as pd

    table = pd.DataFrame({"accuracy": [7 / 80, float("nan"), 0.5], "n": [80, 80, 80]},
                         index=["a", "b", "c"])
    shown = findings.rounded(table, 3)
    assert f"{7 / 80:.3f}" == "0.087" and shown.loc["a", "accuracy"] == 0.087
    assert math.isnan(shown.loc["b", "accuracy"]) and shown.loc["c", "accuracy"] == 0.5
    assert shown["n"].tolist() == [80, 80, 80] and shown.index.tolist() == ["a", "b", "c"]
    assert findings.rounded(table["accuracy"], 3).iloc[0] == 0.087  # a Series too
