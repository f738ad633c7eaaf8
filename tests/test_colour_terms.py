"""Chapter 07's ground truth: xkcd survey names -> Berlin & Kay basic terms, and patches."""

from __future__ import annotations

import numpy as np
import pytest

from clipdistill.colour import terms


@pytest.mark.parametrize("name, term", [
    ("dark forest green", "green"), ("pale red", "red"), ("gray", "grey"), ("light gray", "grey"),
    ("robin's egg blue", "blue"), ("reddish brown", "brown"), ("off white", "white"),
])
def test_a_name_with_one_basic_word_maps_to_it(name, term):
    assert terms.basic_term(name) == term


@pytest.mark.parametrize("name, found", [
    ("blue green", ("blue", "green")), ("green/blue", ("green", "blue")),
    ("blue-green", ("blue", "green")), ("grey/blue", ("grey", "blue")),
    ("reddish", ()), ("darkgreen", ()), ("teal", ()), ("mauve", ()),
])
def test_ambiguous_and_non_basic_names_map_to_nothing(name, found):
    assert terms.terms_in(name) == found
    assert terms.basic_term(name) is None


def test_the_survey_splits_into_518_mapped_59_ambiguous_372_without():
    counts = terms.mapping_counts()
    assert counts == {"total": 949, "mapped": 518, "ambiguous": 59, "no basic term": 372}
    survey = terms.survey_colours()
    assert len(survey) == 518 and len({c.name for c in survey}) == 518
    by_term = terms.counts_by_term(survey)
    assert list(by_term) == list(terms.BASIC_TERMS) and sum(by_term.values()) == 518
    assert by_term["green"] == 163 and by_term["black"] == 2 and min(by_term.values()) >= 2
    for c in survey:  # the term is a whole word of the name (gray spelled either way)
        assert c.term in c.name.replace("gray", "grey").replace("/", " ").replace("-", " ").split()
    # none of the left-out names slipped in
    names = {c.name for c in survey}
    assert "blue green" not in names and "teal" not in names


def test_focal_colours_are_the_survey_colours_of_the_bare_terms():
    from matplotlib.colors import XKCD_COLORS

    focal = terms.focal_colours()
    assert [f.term for f in focal] == list(terms.BASIC_TERMS)
    assert focal[0].hex == XKCD_COLORS["xkcd:red"].lower()
    assert terms.hex_to_rgb("#E50000") == (229, 0, 0) == focal[0].rgb


def test_a_capped_sample_keeps_every_term_and_is_seeded():
    survey = terms.survey_colours()
    eleven = terms.sample_colours(survey, 11, seed=0)
    assert sorted(c.term for c in eleven) == sorted(terms.BASIC_TERMS)
    twenty_two = terms.sample_colours(survey, 22, seed=0)
    assert set(terms.counts_by_term(twenty_two).values()) == {2}
    assert terms.sample_colours(survey, 22, seed=0) == twenty_two
    assert terms.sample_colours(survey, 22, seed=1) != twenty_two
    assert terms.sample_colours(survey, 0) == survey


def test_patches_are_exact_lossless_files_written_once(tmp_path):
    from PIL import Image

    from clipdistill.colour.patches import render_patch, render_patches

    path = render_patch("#E50000", tmp_path / "a", size=16)
    with Image.open(path) as im:
        assert im.size == (16, 16) and im.mode == "RGB"
        assert (np.asarray(im) == (229, 0, 0)).all()
    stamp = path.stat().st_mtime_ns
    assert render_patch("#e50000", tmp_path / "a", size=16) == path and path.stat().st_mtime_ns == stamp
    # the same colour elsewhere is the same bytes: the embedding cache sees one image
    other = render_patches(["#e50000", "#e50000"], tmp_path / "b", size=16)
    assert other[0] == other[1] and other[0].read_bytes() == path.read_bytes()
    with pytest.raises(ValueError, match="expected #rrggbb"):
        render_patch("#fff", tmp_path, size=16)
