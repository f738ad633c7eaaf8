"""Chapter 03's figures: descriptions beside their images, lengths, class-telling words."""

from __future__ import annotations

import textwrap
from pathlib import Path
from typing import Mapping, Sequence

import numpy as np

from .base import open_rgb

__all__ = ["plot_examples", "plot_lengths", "plot_separating_words", "pixels_vs_words",
           "disagreements", "pipeline"]


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


def pixels_vs_words(estimates: Mapping[str, "Estimate"], *, title: str = ""):  # noqa: F821
    """Each input's kNN macro F1 with its 95% interval (``verdicts.Estimate``): the image
    embedding against the descriptions under each prompt, on the same test images."""
    import matplotlib.pyplot as plt

    names = list(estimates)
    fig, ax = plt.subplots(figsize=(6.4, 0.55 * len(names) + 1.3))
    for row, name in enumerate(names):
        e = estimates[name]
        colour = "#4c72b0" if row == 0 else "#dd8452"
        ax.errorbar(e.value, row, xerr=[[e.value - e.low], [e.high - e.value]], fmt="o",
                    color=colour, capsize=4, ms=7)
        ax.text(e.high + 0.01, row, f"{e.value:.3f}", va="center", fontsize=9)
    ax.set_yticks(range(len(names)), names)
    ax.invert_yaxis()
    lows = [estimates[n].low for n in names]
    ax.set_xlim(max(0.0, min(lows) - 0.05), 1.05)
    ax.set_xlabel(f"kNN macro F1 on the same {estimates[names[0]].n} test images "
                  "(bars: 95% interval)")
    ax.set_title(title, fontsize=10)
    ax.grid(axis="x", alpha=0.3)
    fig.tight_layout()
    return fig


def disagreements(paths: Sequence[str | Path], texts: Mapping[str, Sequence[str]],
                  preds: Mapping[str, Sequence[int]], labels: Sequence[int],
                  classes: Sequence[str], *, most: int = 6, width: int = 46):
    """The test images on which the kNN classifiers disagree: each image with its true
    class and every classifier's prediction (a cross marks a wrong one), then what the VLM
    wrote under each prompt. None when every classifier agrees on every image."""
    import matplotlib.pyplot as plt

    labels = np.asarray(labels)
    stacked = np.stack([np.asarray(p) for p in preds.values()])
    rows = np.flatnonzero((stacked != stacked[0]).any(axis=0))[:most]
    if not len(rows):
        return None
    k = len(texts)
    fig, axes = plt.subplots(len(rows), 2 + k, figsize=(5.2 + 4.0 * k, 2.6 * len(rows)),
                             squeeze=False, gridspec_kw={"width_ratios": [1, 1.1] + [1.6] * k})
    for r, i in enumerate(rows):
        ax = axes[r, 0]
        ax.imshow(open_rgb(paths[i]))
        ax.axis("off")
        ax.set_title(f"a {classes[int(labels[i])]}", fontsize=10)
        ax = axes[r, 1]
        ax.axis("off")
        said = "\n".join(f"{name}:\n  {classes[int(p[i])]}"
                         + ("  ✓" if p[i] == labels[i] else "  ✗ wrong")
                         for name, p in preds.items())
        ax.text(0, 1, said, va="top", ha="left", fontsize=9, transform=ax.transAxes)
        if r == 0:
            ax.set_title("kNN predicted", fontsize=10, loc="left")
        for j, (name, column) in enumerate(texts.items(), start=2):
            ax = axes[r, j]
            ax.axis("off")
            wrapped = textwrap.fill(_printable(column[i]), width=width, max_lines=8, placeholder=" ...")
            ax.text(0, 1, wrapped, va="top", ha="left", fontsize=9, family="monospace",
                    transform=ax.transAxes)
            if r == 0:
                ax.set_title(f"{name} prompt", fontsize=10, loc="left")
    fig.tight_layout()
    return fig


def pipeline():
    """Chapter 03's route from an image to a label, beside chapter 02's."""
    from ..plots import pipeline as sketch

    return sketch([
        ("chapter 2", ["image", "CLIP image tower", "embedding", "kNN vote", "cat or dog"]),
        ("this chapter", ["image", "VLM + prompt", "one sentence", "CLIP text tower",
                          "embedding", "kNN vote", "cat or dog"]),
    ], title="Two routes to a label: through pixels, and through words")
