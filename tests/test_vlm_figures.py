"""Chapter 03's figures and tables are readable in the book's 7-inch column: descriptions
as HTML text beside their thumbnails, and pictures whose words are at least 9 pt."""

from __future__ import annotations

import matplotlib

matplotlib.use("Agg")

import re

import numpy as np
import pytest
from matplotlib.text import Text

from clipdistill.vlm import figures

COLUMN_IN = 7.0  # the book's text column, in inches


def _texts(fig) -> list[Text]:
    return [t for t in fig.findobj(Text) if t.get_text().strip()]


@pytest.fixture
def images(tmp_path):
    from PIL import Image

    paths = []
    for i, colour in enumerate([(200, 10, 10), (10, 200, 10), (10, 10, 200)]):
        p = tmp_path / f"{i}.png"
        Image.new("RGB", (64, 48), colour).save(p)
        paths.append(p)
    return paths


def test_examples_table_shows_every_image_beside_its_descriptions(images):
    texts = {"generic": ["a <b>red</b> box for $5\x17", "green", "blue"],
             "specific": ["x", "y", "z"]}
    html = figures.examples_table(images, texts, [0, 1, 0], ["cat", "dog"])
    assert len(re.findall(r'<img src="data:image/jpeg;base64,', html)) == 3
    assert html.count("<tr>") == 1 + 3  # the header and a row an image
    assert "&lt;b&gt;red&lt;/b&gt; box for $5" in html  # escaped, the dollar kept
    assert "\x17" not in html and "\\$" not in html
    assert "mathjax_ignore" in html  # MathJax leaves a $ in a description alone
    assert html.count("generic prompt") == 3 and html.count("specific prompt") == 3


def test_disagreements_table_lists_only_the_images_the_classifiers_split_on(images):
    texts = {"generic": ["one", "two", "three"]}
    preds = {"image": np.array([0, 1, 0]), "words": np.array([0, 0, 1])}
    html = figures.disagreements_table(images, texts, preds, [0, 1, 1], ["cat", "dog"])
    assert html.count("<img ") == 2  # images 1 and 2; all agree on image 0
    assert "one" not in html and "two" in html and "three" in html
    assert html.count("✗ wrong") == 2 and html.count("✓") == 2
    same = {"image": np.array([0, 1, 0]), "words": np.array([0, 1, 0])}
    assert figures.disagreements_table(images, texts, same, [0, 1, 1], ["cat", "dog"]) is None
    assert figures.disagreements(images, texts, same, [0, 1, 1], ["cat", "dog"]) is None


@pytest.mark.parametrize("which", ["examples", "disagreements"])
def test_description_pictures_fit_the_column_at_9pt(images, which):
    long = "a small cat sits on a wooden floor beside a red ball of wool " * 4
    texts = {"generic": [long] * 3, "specific": [long] * 3}
    if which == "examples":
        fig = figures.plot_examples(images, texts, [0, 1, 0], ["cat", "dog"])
    else:
        preds = {"image": np.array([0, 1, 1]), "words": np.array([1, 1, 0])}
        fig = figures.disagreements(images, texts, preds, [0, 1, 0], ["cat", "dog"])
    assert fig.get_figwidth() == pytest.approx(COLUMN_IN)
    assert min(t.get_fontsize() for t in _texts(fig)) >= 9
    fig.canvas.draw()  # no description runs past the figure's right edge
    right = fig.bbox.x1
    assert all(t.get_window_extent().x1 <= right + 1 for t in _texts(fig))


def test_pipeline_is_legible_at_the_column_width():
    fig = figures.pipeline()
    assert fig.get_figwidth() == pytest.approx(COLUMN_IN)
    assert fig.get_figheight() >= 3.5  # two columns read downwards, not one thin strip
    words = [t.get_text() for t in _texts(fig)]
    for step in {s for _, s in figures.PIXELS_ROUTE + figures.WORDS_ROUTE}:
        assert step in words
    assert min(t.get_fontsize() for t in _texts(fig)) >= 10
