"""Chapter 07's figures fit the book's text column and show only what a run measured."""

from __future__ import annotations

import matplotlib

matplotlib.use("Agg")

import pandas as pd  # noqa: E402

from clipdistill.colour import analysis, figures  # noqa: E402


def _summary() -> pd.DataFrame:
    rows = [{"model": m, "style": s, "view": v, "naming accuracy": 0.2 + 0.1 * s,
             "canonical colour top-1": 0.5, "pair accuracy": float("nan")}
            for m in ("openai/clip-vit-base-patch32", "openai/clip-vit-base-patch16")
            for s, v in ((1, "image"), (1, "text"), (4, "text"))]
    return pd.DataFrame(rows).set_index(["model", "style", "view"])


def test_style_comparison_is_one_column_wide_and_skips_what_was_not_measured():
    fig = figures.style_comparison(_summary(), ["naming accuracy", "canonical colour top-1",
                                                "pair accuracy"], chance=analysis.CHANCE)
    assert fig.get_figwidth() <= 7.0  # ~690 px at 100 dpi: shown at full size in a 688-px column
    titles = [ax.get_title(loc="left") for ax in fig.axes]
    assert titles == ["naming accuracy", "canonical colour top-1"]  # no pairs in this run
    assert [t.get_text() for t in fig.axes[0].get_xticklabels()] == [
        "style 1\nimage", "style 1\ntext", "style 4\ntext"]
    legend = [t.get_text() for t in fig.legends[0].get_texts()]
    assert legend == ["openai/clip-vit-base-patch32", "openai/clip-vit-base-patch16", "chance"]
    assert not fig.axes[0].texts  # chance is in the legend, not written over the bars
