"""People's colour-concept ratings: the bundled data is the published file, and a model's
agreement with it is Pearson's r per concept, summarised with an interval beside chance."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from clipdistill.colour import ColourError, analysis, experiment, human
from clipdistill.colour.terms import hex_to_rgb


def test_the_bundled_ratings_are_the_published_ones():
    people = human.load_ratings()
    assert len(people.concepts) == 70 and people.ratings.shape == (70, 71)
    assert len(set(people.hex)) == 71 and all(hex_to_rgb(h) == rgb
                                              for h, rgb in zip(people.hex, people.rgb))
    assert ((people.ratings >= 0) & (people.ratings <= 1)).all()
    # What people say is recognisable: a banana is yellow, a strawberry red, the sky blue.
    top = {c: people.hex[int(people.ratings[k].argmax())] for k, c in enumerate(people.concepts)}
    assert top["banana"] == "#fcdb42" and top["strawberry"] == "#ea1d1d"
    assert top["sky"] == "#2f6ef6"
    assert human.load_ratings(["sky", "banana"]).concepts == ("sky", "banana")
    with pytest.raises(ColourError, match="No human ratings for 'unicorn'"):
        human.load_ratings(["unicorn"])


def test_correlations_are_pearsons_r_per_concept():
    rng = np.random.default_rng(0)
    people, model = rng.random((5, 71)), rng.random((5, 71))
    model[1] = people[1] * 2 + 1  # a perfect linear profile
    model[2] = 0.3  # a constant row has no correlation
    r = human.concept_correlations(model, people)
    expect = [np.corrcoef(model[k], people[k])[0, 1] for k in (0, 3, 4)]
    assert np.allclose(r[[0, 3, 4]], expect) and r[1] == pytest.approx(1.0) and np.isnan(r[2])


def test_the_summary_has_an_interval_and_chance_sits_near_zero():
    rng = np.random.default_rng(1)
    people = rng.random((30, 71))
    model = people + rng.normal(0, 0.3, people.shape)
    stats = human.summarise(human.concept_correlations(model, people), resamples=500)
    assert stats["low"] < stats["mean_r"] < stats["high"] and stats["concepts"] == 30
    assert stats["mean_r"] > 0.5
    null = human.chance(model, people, permutations=100)
    assert null["chance_low"] < null["chance_r"] < null["chance_high"]
    assert abs(null["chance_r"]) < 0.05 and null["chance_high"] < stats["low"]
    assert human.chance(model, people, permutations=100) == null  # seeded


def test_the_colour_run_correlates_every_style_with_people(tmp_path):
    from tiny_clip import TINY, register

    from clipdistill.config import resolve

    register()
    cfg = resolve("smoke", {"work_dir": str(tmp_path / "work"), "results_dir": str(tmp_path / "r"),
                            "colour_models": [f"{TINY}/openai"], "colour_tasks": ["human"],
                            "colour_patch_size": 32, "num_workers": 0},
                  accelerator=False, weights_reachable=(False, "test"))
    df = experiment.run(cfg, progress=False)
    corr = df[df["measure"] == "correlation"]
    assert len(corr) == 70 * 4 and corr["score"].between(-1, 1).all()
    assert set(zip(corr["style"], corr["view"])) == {(1, "image"), (2, "image"), (3, "image"),
                                                      (4, "text")}
    table = analysis.human_summary(df)
    assert len(table) == 4 and (table["concepts"] == 70).all()
    assert ((table["low"] <= table["mean_r"]) & (table["mean_r"] <= table["high"])).all()
    assert (table["chance_low"] <= table["chance_high"]).all()
    assert isinstance(table, pd.DataFrame)


def test_the_people_table_reads_by_style_and_view_and_rounds_as_the_sentence():
    people = pd.DataFrame([{"model": "openai/clip-vit-base-patch32", "prompt style": 1,
                            "view": "image", "mean_r": 0.4149, "low": 0.30499, "high": 0.52501,
                            "concepts": 70, "chance_r": 7 / 800, "chance_low": -0.0349,
                            "chance_high": 0.031}])
    table = analysis.people_table(people)
    assert table.index.names == ["model", "style", "view"]
    assert table.index[0] == ("clip-vit-base-patch32", 1, "image")
    assert list(table.columns) == ["mean r", "95% interval", "shuffled r", "shuffled 95%"]
    row = table.iloc[0]
    assert row["mean r"] == 0.41 and row["95% interval"] == "0.30 to 0.53"
    assert row["shuffled r"] == float(f"{7 / 800:.2f}")  # as an f-string rounds, not half-even
    assert row["shuffled 95%"] == "-0.03 to 0.03"
