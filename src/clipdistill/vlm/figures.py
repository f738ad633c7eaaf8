"""Chapter 03's figures: descriptions beside their images, lengths, class-telling words."""

from __future__ import annotations

import textwrap
from pathlib import Path
from typing import Mapping, Sequence

import numpy as np

from .base import open_rgb

__all__ = ["plot_examples", "plot_lengths", "plot_separating_words"]


def _printable(text: str) -> str:
    """Control characters and U+FFFD (half a UTF-8 character) show as boxes: drop them."""
    text = "".join(ch if ch.isprintable() and ch != "\ufffd" else " " for ch in text)
    return " ".join(text.split()).replace("$", r"\$")


def plot_examples(paths: Sequence[str | Path], texts: Mapping[str, Sequence[str]],
                  labels: Sequence[int], classes: Sequence[str], *, width: int = 48):
    """One row per image: the picture, then its description under each prompt."""
    import matplotlib.pyplot as plt

    n, k = len(paths), len(texts)
    fig, axes = plt.subplots(n, 1 + k, figsize=(3 + 4.2 * k, 2.6 * n), squeeze=False,
                             gridspec_kw={"width_ratios": [1] + [1.6] * k})
    for i, path in enumerate(paths):
        ax = axes[i, 0]
        ax.imshow(open_rgb(path))
        ax.set_title(classes[int(labels[i])], fontsize=10)
        ax.axis("off")
        for j, (name, column) in enumerate(texts.items(), start=1):
            ax = axes[i, j]
            ax.axis("off")
            wrapped = textwrap.fill(_printable(column[i]), width=width, max_lines=9, placeholder=" ...")
            ax.text(0, 1, wrapped, va="top", ha="left", fontsize=9, family="monospace",
                    transform=ax.transAxes, wrap=False)
            if i == 0:
                ax.set_title(f"{name} prompt", fontsize=10, loc="left")
    fig.tight_layout()
    return fig


def plot_lengths(word_lengths: Mapping[str, np.ndarray], token_lengths: Mapping[str, np.ndarray],
                 labels: Sequence[int], classes: Sequence[str], context_length: int = 77):
    """Words per description (per prompt and class) and CLIP tokens against the 77 limit."""
    import matplotlib.pyplot as plt

    labels = np.asarray(labels)
    names = list(word_lengths)
    fig, axes = plt.subplots(1, 2, figsize=(11, 3.6))
    ax = axes[0]
    data, ticks = [], []
    for name in names:
        for c, cls in enumerate(classes):
            data.append(np.asarray(word_lengths[name])[labels == c])
            ticks.append(f"{name}\n{cls}")
    ax.boxplot(data, showmeans=True)
    ax.set_xticks(range(1, len(ticks) + 1), ticks, fontsize=8)
    ax.set_ylabel("words per description")
    ax.set_title("Description length")
    ax = axes[1]
    top = max([context_length + 5] + [int(np.max(v)) + 2 for v in token_lengths.values() if len(v)])
    bins = np.linspace(0, top, 30)
    for name in names:
        ax.hist(token_lengths[name], bins=bins, alpha=0.6, label=name)
    ax.axvline(context_length, color="#c62828", ls="--", label=f"CLIP limit ({context_length})")
    ax.set_xlabel("CLIP tokens (with start/end markers)")
    ax.set_ylabel("descriptions")
    ax.set_title("What CLIP's text tower reads")
    ax.legend(fontsize=8)
    fig.tight_layout()
    return fig


def plot_separating_words(tables: Mapping[str, "pd.DataFrame"], top: int = 8):  # noqa: F821
    """Per prompt and class, the words whose presence best predicts that class (z-score)."""
    import matplotlib.pyplot as plt

    names = list(tables)
    classes = sorted({c for t in tables.values() for c in t["class"].unique()}) if names else []
    fig, axes = plt.subplots(max(len(names), 1), max(len(classes), 1),
                             figsize=(4.2 * max(len(classes), 1), 0.35 * top * max(len(names), 1) + 1.2),
                             squeeze=False)
    for i, name in enumerate(names):
        for j, cls in enumerate(classes):
            ax = axes[i, j]
            rows = tables[name][tables[name]["class"] == cls].head(top)[::-1]
            ax.barh([_printable(w) for w in rows["word"]], rows["z"], color=f"C{j}")
            ax.set_title(f"{name} prompt: {cls}", fontsize=10)
            ax.tick_params(axis="y", labelsize=8)
            if i == len(names) - 1:
                ax.set_xlabel("z-scored log-odds (class vs rest)")
    fig.tight_layout()
    return fig
