"""Prompt styles, concepts, and semantic discriminability on hand-worked matrices."""

from __future__ import annotations

import numpy as np
import pytest

from clipdistill.colour import ColourError, associations as A, discriminability as D
from clipdistill.colour.prompts import STYLES, check_styles
from clipdistill.config import ConfigError

# colours x concepts: red, yellow, blue x strawberry, banana
X = np.array([[0.9, 0.2],
              [0.3, 0.8],
              [0.1, 0.4]])


def test_delta_and_semantic_distance_by_hand():
    # red -> strawberry, yellow -> banana: (0.9 + 0.8) - (0.2 + 0.3) = 1.2
    assert D.delta(X, 0, 1, 0, 1) == pytest.approx(1.2)
    assert D.delta(X, 1, 0, 0, 1) == pytest.approx(-1.2)  # the swapped assignment
    assert D.semantic_distance(X, 1, 0, 0, 1) == pytest.approx(1.2)
    # red vs blue: (0.9 + 0.4) - (0.2 + 0.1) = 1.0; yellow vs blue favours the swap: -0.2
    assert D.delta(X, 0, 2, 0, 1) == pytest.approx(1.0)
    assert D.delta(X, 1, 2, 0, 1) == pytest.approx(-0.2)


def test_pairs_use_canonical_colours_and_skip_what_cannot_be_judged():
    colours = ["red", "yellow", "blue"]
    rows = D.pair_deltas(X, colours, ["red", "yellow"])
    assert len(rows) == 1 and rows[0]["delta"] == pytest.approx(1.2)
    assert (rows[0]["a"], rows[0]["b"]) == (0, 1)
    # same canonical colour, no canonical colour, or a colour not in the matrix: no pair
    assert D.pair_deltas(X, colours, ["red", "red"]) == []
    assert D.pair_deltas(X, colours, ["red", None]) == []
    assert D.pair_deltas(X, colours, ["red", "green"]) == []
    assert D.pair_accuracy([1.2, -0.2, 0.0]) == pytest.approx(0.5)  # a tie counts half
    assert np.isnan(D.pair_accuracy([]))


def test_palette_scores_and_choice_by_hand():
    # red: 0.9 - 0.2, 0.2 - 0.9; yellow: 0.3 - 0.8, 0.8 - 0.3; blue: 0.1 - 0.4, 0.4 - 0.1
    np.testing.assert_allclose(D.palette_scores(X, [0, 1]),
                               [[0.7, -0.7], [-0.5, 0.5], [-0.3, 0.3]])
    assert D.choose_palette(X, [0, 1]) == [0, 1]
    assert D.weakest_pair(X, [0, 1], [0, 1]) == pytest.approx(1.2)
    np.testing.assert_allclose(D.palette_scores(X, [1]), X[:, [1]])
    assert D.choose_palette(X, [1]) == [1]
    with pytest.raises(ColourError, match="at least as many colours"):
        D.choose_palette(X[:1], [0, 1])


def test_the_palette_weighs_the_whole_set_not_each_favourite():
    # Lemon and banana both like yellow best. Each concept's favourite would give both
    # yellow; the palette gives lemon green and banana white, the assignment whose merit
    # beats its swap by the most: (0.6 + 0.5) - (0.1 + 0.2) = 0.8.
    x = np.array([[0.90, 0.95],   # yellow
                  [0.60, 0.10],   # green
                  [0.20, 0.50]])  # white
    assert list(x.argmax(axis=0)) == [0, 0]
    assert D.choose_palette(x, [0, 1]) == [1, 2]
    assert D.weakest_pair(x, [1, 2], [0, 1]) == pytest.approx(0.8)
    assert D.weakest_pair(x, [1, 0], [0, 1]) == pytest.approx(0.55)  # green/yellow is worse
    # with two concepts the palette maximises delta over every colour pair
    best = max(D.delta(x, a, b, 0, 1) for a in range(3) for b in range(3) if a != b)
    assert D.weakest_pair(x, D.choose_palette(x, [0, 1]), [0, 1]) == pytest.approx(best)


def test_canonical_ranks_count_ties_against_the_canonical_colour():
    concepts = [A.CONCEPTS["strawberry"], A.CONCEPTS["banana"], A.CONCEPTS["safety"]]
    x = np.array([[0.9, 0.5, 0.1],   # red
                  [0.3, 0.5, 0.2],   # yellow (ties red for banana)
                  [0.1, 0.6, 0.3]])  # blue
    assert A.canonical_ranks(x, ["red", "yellow", "blue"], concepts) == {"strawberry": 1, "banana": 3}
    np.testing.assert_allclose(A.association_matrix(np.eye(2), np.array([[0.6, 0.8]])), [[0.6], [0.8]])


def test_prompt_styles_write_terms_concepts_and_colours():
    banana = A.CONCEPTS["banana"]
    assert [STYLES[s].concept_text(banana.name, banana.phrase) for s in (1, 2, 3, 4)] == [
        "banana", "a photo of a banana.", "the colour of a banana.", "the colour of a banana."]
    assert STYLES[2].concept_text("sky", A.CONCEPTS["sky"].phrase) == "a photo of the sky."
    assert [STYLES[s].term_text("red") for s in (1, 2, 3)] == [
        "red", "a photo of the colour red.", "the colour red."]
    assert STYLES[1].colour_text("red", (229, 0, 0)) == "red"
    assert STYLES[4].colour_text("red", (229, 0, 0)) == "the colour with RGB values (229, 0, 0)."
    assert [s.numbers for s in STYLES.values()] == [False, False, False, True]
    assert STYLES[4].naming_view == "text" and STYLES[4].association_views == ("text",)
    assert STYLES[1].naming_view == "image" and STYLES[1].association_views == ("image", "text")


def test_prompt_style_numbers_are_checked_in_one_sentence():
    assert check_styles(["4", 1, "1"]) == [4, 1]
    for bad in ([5], ["x"], []):
        with pytest.raises(ColourError) as info:
            check_styles(bad)
        msg = str(info.value)
        assert len(msg.splitlines()) == 1 and "1 (bare word)" in msg and "4 (numbers)" in msg
    assert issubclass(ColourError, ConfigError)  # the CLI reports it like a bad --set


def test_concepts_and_palettes_are_checked():
    assert [c.name for c in A.concepts_for([])] == list(A.CONCEPTS)
    own = A.concepts_for(["banana", "fire truck"])
    assert own[1].colour is None and own[1].phrase == "fire truck"
    with pytest.raises(ColourError, match="listed twice"):
        A.concepts_for(["banana", "banana"])
    concepts = A.concepts_for(["banana", "strawberry", "danger"])
    assert A.palettes_for([], concepts) == [["banana", "strawberry"]]  # built-ins, cut; 1-concept ones dropped
    with pytest.raises(ColourError, match="names bananna, neither among the concepts"):
        A.palettes_for([["bananna", "strawberry"]], concepts)  # a typo still fails
    with pytest.raises(ColourError, match="needs 2 to 11"):
        A.palettes_for([["banana"]], concepts)


def test_findings_name_the_best_style_or_say_it_is_shared():
    import pandas as pd

    from clipdistill.colour import analysis

    rows = []
    for style, right in ((1, 3), (2, 9), (3, 9)):
        for i in range(11):  # 11 naming rows per style: `right` of them named correctly
            truth = analysis.BASIC_TERMS[i]
            rows.append({"model": "m", "style": style, "view": "image", "task": "naming",
                         "measure": "name", "truth": truth,
                         "predicted": truth if i < right else analysis.BASIC_TERMS[(i + 1) % 11],
                         "score": 0.0})
    said = analysis.findings(pd.DataFrame(rows))
    assert said == [f"m, naming accuracy: {9 / 11:.2f} at best, reached by 2 of the 3 "
                    "style/view combinations (95% interval 0.52 to 0.95, 11 colours), against 0.09 by "
                    "chance."]


def test_explicit_palettes_are_cut_to_the_concepts_in_use():
    """A profile pins palettes; changing only the concepts (chapter 7, exercise 1) must run."""
    concepts = A.concepts_for(["banana", "strawberry", "fire truck", "jealousy"])
    pinned = [["banana", "strawberry", "sky", "grass"], ["danger", "calm"]]
    assert A.palettes_for(pinned, concepts) == [["banana", "strawberry"]]
    assert A.palettes_for(pinned, A.concepts_for(["banana", "fire truck", "jealousy"])) == []
    own = [["banana", "fire truck", "jealousy", "sky"]]  # the reader's own words stay
    assert A.palettes_for(own, concepts) == [["banana", "fire truck", "jealousy"]]


def test_pair_interval_resamples_concepts_not_pairs():
    from itertools import combinations

    from clipdistill.verdicts import wilson_interval

    names = [f"c{k}" for k in range(10)]
    pairs = list(combinations(names, 2))
    a, b = [p[0] for p in pairs], [p[1] for p in pairs]
    # One concept spoils all 9 of its pairs: 36 of 45 right, but the 45 are not independent.
    deltas = [-1.0 if "c0" in p else 1.0 for p in pairs]
    low, high = D.pair_interval(a, b, deltas)
    w_low, w_high = wilson_interval(36, 45)
    assert low < w_low - 0.1 and high == 1.0  # resamples without c0 read every pair right
    assert low < D.pair_accuracy(deltas) < high
    assert D.pair_interval(a, b, deltas) == (low, high)  # seeded
    # Every pair right: no resample differs, so the interval is Wilson's, not 1.00 to 1.00.
    assert D.pair_interval(a, b, [1.0] * 45) == pytest.approx(wilson_interval(45, 45))
    with pytest.raises(ColourError, match="one delta per pair"):
        D.pair_interval(a, b, deltas[:-1])


def test_findings_give_pairs_a_concept_interval_and_count_in_words():
    import pandas as pd

    from clipdistill.colour import analysis

    rows = []
    for style, wrong in ((1, {"banana"}), (2, set())):
        for ca, cb in (("banana", "sky"), ("banana", "grass"), ("sky", "grass")):
            rows.append({"model": "m", "style": style, "view": "image", "task": "discriminability",
                         "measure": "pair", "concept": ca, "concept_b": cb,
                         "score": -1.0 if {ca, cb} & wrong else 1.0})
    rows.append({"model": "m", "style": 1, "view": "image", "task": "associations",
                 "measure": "association", "concept": "banana", "colour": "yellow",
                 "truth": "yellow", "score": 0.3})
    said = analysis.findings(pd.DataFrame(rows))
    assert said[0].startswith("m, canonical colour top-1: 1.00 at best, with prompt style 1, "
                              "image view (95% interval 0.21 to 1.00, 1 concept)")
    assert said[1].startswith("m, pair accuracy: 1.00 at best, with prompt style 2, image view "
                              "(95% interval 0.44 to 1.00, 3 concept pairs of 3 concepts)")
    top, tied, where = analysis.best(pd.DataFrame({"style": [1, 2], "view": ["image", "text"],
                                                   "x": [0.5, 0.5]}), "x")
    assert tied == 2 and where == "reached by both style/view combinations"


def test_palettes_are_summarised_without_any_concept_pair():
    """Exercise 1's own words have no canonical colours, hence no pairs; their palette counts."""
    import pandas as pd

    from clipdistill.colour import analysis

    rows = [{"model": "m", "style": 1, "view": "image", "task": "discriminability",
             "measure": "palette", "concept": c, "concept_b": "palette 1", "colour": colour,
             "score": -0.01} for c, colour in (("banana", "yellow"), ("jealousy", "green"))]
    table = analysis.discriminability_summary(pd.DataFrame(rows))
    assert len(table) == 1 and table.loc[0, "pairs"] == 0 and np.isnan(table.loc[0, "pair accuracy"])
    assert table.loc[0, "palettes"] == 1 and table.loc[0, "palettes read right"] == 0
    assert analysis.findings(pd.DataFrame(rows)) == []  # no pair accuracy to report
