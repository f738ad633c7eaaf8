"""Chapter 04's figures: prompts around their prototype, accuracy per template set, and
which templates help or hurt."""

from __future__ import annotations

from typing import TYPE_CHECKING, Sequence

import numpy as np

from ..templates import LABELS
from ..vectors import l2_normalize
from .prototypes import ensemble
from .tables import model_label

if TYPE_CHECKING:
    import pandas as pd

__all__ = ["plot_accuracy", "plot_ranking", "plot_prompt_cosines", "grid_shape"]


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


def grid_shape(n: int) -> tuple[int, int]:
    """Rows and columns for ``n`` panels in a 7-inch column: two across up to four
    panels, three beyond, so no panel gets narrower than about two inches."""
    cols = 1 if n == 1 else 2 if n <= 4 else 3
    return -(-n // cols), cols


def plot_accuracy(df: pd.DataFrame, title: str = ""):
    """Grouped horizontal bars: accuracy per template set, a panel a dataset, a group a
    model.

    Panels wrap into a grid (:func:`grid_shape`) sharing both axes, so the model names
    are written once per row, horizontally, and the accuracy scale once per column; the
    legend takes an empty grid cell when there is one, else a row under the grid."""
    import matplotlib.pyplot as plt

    datasets = list(dict.fromkeys(df["dataset"]))
    sets = list(dict.fromkeys(df["template_set"]))
    models = list(dict.fromkeys(df["model"]))
    nrows, ncols = grid_shape(len(datasets))
    panel_in = max(1.3, 0.065 * len(models) * len(sets) + 0.15 * len(models) + 0.4)
    fig, axes = plt.subplots(nrows, ncols, figsize=(7.0, panel_in * nrows + 0.9),
                             sharex=True, sharey=True, squeeze=False)
    height = 0.8 / len(sets)
    y = np.arange(len(models))
    for k, ds in enumerate(datasets):
        ax = axes.flat[k]
        sub = df[df["dataset"] == ds]
        for i, s in enumerate(sets):
            acc = [sub[(sub["model"] == m) & (sub["template_set"] == s)]["accuracy"].mean()
                   * 100 for m in models]
            ax.barh(y + i * height, acc, height, label=LABELS.get(s, s), color=f"C{i}")
        ax.set_title(ds, fontsize=10)
        ax.tick_params(labelsize=9)
        ax.grid(axis="x", alpha=0.3)
        if k + ncols >= len(datasets):  # nothing below: this panel shows the scale
            ax.xaxis.set_tick_params(labelbottom=True)
            ax.set_xlabel("top-1 (%)", fontsize=9)
    ax = axes.flat[0]
    ax.set_xlim(0, 100)
    ax.set_yticks(y + 0.4 - height / 2, [model_label(m) for m in models])
    ax.set_ylim(len(models) - 0.1, -0.1 - height)  # first model on top
    handles, names = ax.get_legend_handles_labels()
    spare = list(axes.flat[len(datasets):])
    for extra in spare:
        extra.axis("off")
    if spare:
        spare[-1].legend(handles, names, fontsize=9, loc="center", frameon=False,
                         title="template set", title_fontsize=9)
        legend_in = 0.0
    else:
        per_row = len(names) if len(names) <= 5 else 4
        fig.legend(handles, names, fontsize=9, loc="lower center", frameon=False,
                   ncol=per_row, bbox_to_anchor=(0.5, 0.0))
        legend_in = 0.22 * -(-len(names) // per_row) + 0.1
    if title:
        fig.suptitle(title, fontsize=11)
    fig.tight_layout(rect=(0, legend_in / fig.get_figheight(), 1, 1))
    return fig


def plot_prompt_cosines(prompt_emb: np.ndarray, classes: Sequence[str], title: str = ""):
    """A row a class, a dot a prompt: its cosine to its own class's prototype (colour) and
    to every other class's prototype (grey). ``prompt_emb`` is (C, T, D), as
    :func:`.prototypes.ensemble` takes it; the gap between the two is the classifier's
    margin."""
    import matplotlib.pyplot as plt

    unit = l2_normalize(prompt_emb)
    cos = unit @ ensemble(prompt_emb).T  # (C, T, C): prompt of class c vs prototype k
    fig, ax = plt.subplots(figsize=(7, 0.45 * len(classes) + 1.4))
    for c in range(len(classes)):
        other = np.delete(cos[c], c, axis=1).ravel()
        ax.scatter(other, np.full(len(other), c), s=14, color="0.65", alpha=0.7,
                   label="other classes' prototypes" if c == 0 else None)
        ax.scatter(cos[c, :, c], np.full(cos.shape[1], c), s=18, color="#1565c0",
                   label="its own class's prototype" if c == 0 else None)
    ax.set_yticks(range(len(classes)), classes)
    ax.set_ylim(len(classes) - 0.5, -0.5)  # first class on top, half a row of margin
    ax.set_xlabel("cosine of a prompt's embedding to a class prototype")
    ax.legend(fontsize=8, loc="upper left", bbox_to_anchor=(1.0, 1.0))
    ax.set_title(title or "Each prompt against the class prototypes")
    fig.tight_layout()
    return fig
