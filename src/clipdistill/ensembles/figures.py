"""Chapter 04's figures: accuracy per template set, and which templates help or hurt."""

from __future__ import annotations

from typing import TYPE_CHECKING

import numpy as np

from ..templates import LABELS
from .tables import model_label

if TYPE_CHECKING:
    import pandas as pd

__all__ = ["plot_accuracy", "plot_ranking"]


def plot_ranking(summary: pd.DataFrame, top: int = 15, title: str = ""):
    """Bars of the leave-one-out delta (points): the most helpful and most harmful templates."""
    import matplotlib.pyplot as plt

    shown = summary if len(summary) <= 2 * top else summary.iloc[np.r_[:top, len(summary) - top:len(summary)]]
    shown = shown.iloc[::-1]
    fig, ax = plt.subplots(figsize=(7, 0.28 * len(shown) + 1.2))
    colors = ["#2e7d32" if v >= 0 else "#c62828" for v in shown["loo_delta"]]
    ax.barh(range(len(shown)), shown["loo_delta"], color=colors)
    ax.set_yticks(range(len(shown)), shown.index, fontsize=8)
    ax.axvline(0, color="black", lw=0.8)
    ax.set_xlabel("ensemble accuracy minus ensemble without this template (points)")
    ax.set_title(title or "Which templates help (green) or hurt (red) the ensemble")
    fig.tight_layout()
    return fig


def plot_accuracy(df: pd.DataFrame, title: str = ""):
    """Grouped bars: accuracy per template set, a panel a dataset, a group a model."""
    import matplotlib.pyplot as plt

    datasets = list(dict.fromkeys(df["dataset"]))
    sets = list(dict.fromkeys(df["template_set"]))
    models = list(dict.fromkeys(df["model"]))
    fig, axes = plt.subplots(1, len(datasets), figsize=(3.2 * len(datasets) + 1, 3.4), squeeze=False)
    width = 0.8 / len(sets)
    for ax, ds in zip(axes[0], datasets):
        sub = df[df["dataset"] == ds]
        for i, s in enumerate(sets):
            acc = [sub[(sub["model"] == m) & (sub["template_set"] == s)]["accuracy"].mean() * 100 for m in models]
            ax.bar(np.arange(len(models)) + i * width, acc, width, label=LABELS.get(s, s))
        ax.set_xticks(np.arange(len(models)) + 0.4 - width / 2, [model_label(m) for m in models],
                      rotation=30, ha="right", fontsize=8)
        ax.set_title(ds)
        ax.set_ylim(0, 100)
    axes[0][0].set_ylabel("top-1 accuracy (%)")
    axes[0][-1].legend(fontsize=8, loc="upper left", bbox_to_anchor=(1.0, 1.0))
    if title:
        fig.suptitle(title)
    fig.tight_layout()
    return fig
