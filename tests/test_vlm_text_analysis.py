"""Counting what CLIP's text tower will cut, and finding the words that tell classes apart."""

from __future__ import annotations

import matplotlib

matplotlib.use("Agg")

import numpy as np
import pytest

from clipdistill import text_analysis as ta


def test_clip_token_counts_include_start_and_end_markers():
    counts, context = ta.clip_token_counts(["a cat", "", "cat " * 100], "ViT-B-32")
    assert context == 77
    assert counts.tolist()[:2] == [4, 2]
    assert counts[2] == 102


def test_truncation_report_counts_texts_over_the_limit():
    texts = ["a dog on grass"] * 3 + ["word " * 75, "word " * 76]  # 77 and 78 tokens
    rep = ta.truncation_report(texts, "ViT-B-32")
    assert rep["n_truncated"] == 1 and rep["n_texts"] == 5 and rep["max_tokens"] == 78
    assert rep["frac_truncated"] == pytest.approx(0.2)


def test_counts_match_open_clip_truncation():
    import open_clip

    tok = open_clip.get_tokenizer("ViT-B-32")
    text = "a very long description " * 30
    (n,), context = ta.clip_token_counts([text], tok)
    ids = tok([text])[0]
    assert n > context and int((ids != 0).sum()) == context  # what we count is what it cuts


def test_separating_words_finds_the_class_words():
    texts = ["a fluffy cat on a sofa", "a cat with whiskers", "the cat sleeps",
             "a dog in the park", "a happy dog with a ball", "the dog runs in the park"] * 3
    labels = [0, 0, 0, 1, 1, 1] * 3
    table = ta.separating_words(texts, labels, ["cat", "dog"], top=3)
    assert table[table["class"] == "cat"].iloc[0]["word"] == "cat"
    assert table[table["class"] == "dog"].iloc[0]["word"] == "dog"
    assert "the" not in set(table["word"]) and "a" not in set(table["word"])
    assert (table.groupby("class").size() <= 3).all() and (table["z"] > 0).all()
    assert ta.separating_words(["x"], [0], ["cat", "dog"]).empty


def test_word_counts():
    assert ta.word_counts(["A cat's toy.", "", "two  words"]).tolist() == [3, 0, 2]


def test_figures_draw(tmp_path):
    from PIL import Image

    from clipdistill.vlm import figures

    p = tmp_path / "i.png"
    Image.new("RGB", (20, 10), (200, 10, 10)).save(p)
    fig = figures.plot_examples([p, p], {"generic": ["a $red$ box\x17", "b"], "specific": ["c", "d"]},
                                [0, 1], ["cat", "dog"])
    fig.savefig(tmp_path / "e.png")
    labels = np.array([0, 1, 0, 1])
    fig = figures.plot_lengths({"generic": np.array([3, 4, 5, 6])}, {"generic": np.array([5, 80, 7, 9])},
                               labels, ["cat", "dog"])
    fig.savefig(tmp_path / "l.png")
    table = ta.separating_words(["cat fur", "dog park", "cat eyes", "dog park"] * 2, [0, 1, 0, 1] * 2,
                                ["cat", "dog"])
    fig = figures.plot_separating_words({"generic": table, "specific": table})
    fig.savefig(tmp_path / "w.png")


def test_transformers_tokenizers_are_counted_too():
    from clipdistill.offline.tiny_qwen_vl import _tokenizer

    tok = _tokenizer()  # any fast tokenizer will do: the count is its own input_ids
    tok.model_max_length = 10
    counts, context = ta.clip_token_counts(["a cat", "a dog " * 20], tok)
    assert context == 10 and counts[1] > 10 > counts[0]


def test_first_mentions_finds_the_first_class_named_and_where():
    texts = ["A small dog sleeps next to two cats.", "Two cats on a sofa.", "A sofa.",
             "The hot dog stand"]
    which, where = ta.first_mentions(texts, ["cat", "dog", "hot dog stand"])
    assert which.tolist() == [1, 0, -1, 2]  # "dogs"/"cats" plurals count; whole names win
    assert where[0] == 2 / 8 and where[1] == 1 / 5 and np.isnan(where[2])
    summary = ta.mention_summary(texts[:3], [1, 1, 0], ["cat", "dog", "hot dog stand"])
    assert summary["names a class"] == 2 / 3
    assert summary["names the right class first"] == 1 / 3
