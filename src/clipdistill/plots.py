"""Figures shared by several chapters. Each function returns a matplotlib Figure.

The notebook shows it (Jupyter displays open figures at the end of a cell) and saves it
with ``cd.save_figure``; nothing here writes files or calls ``plt.show()``.
"""

from __future__ import annotations

import os
import textwrap
from typing import Any, Mapping, Sequence

import numpy as np

__all__ = [
    "confusion_matrix",
    "image_grid",
    "retrieval_grid",
    "reliability_diagram",
    "temperature_curves",
    "projection_2d",
    "similarity_heatmap",
    "bar_chart",
    "class_probabilities",
    "k_sweep",
    "pipeline",
]


def _plt():
    import matplotlib.pyplot as plt

    return plt


def confusion_matrix(y_true: np.ndarray, y_pred: np.ndarray, classes: Sequence[str], *,
                     title: str = "", normalize: bool = False):
    """Counts (or row-normalised rates) of true class (rows) vs predicted class (columns)."""
    from sklearn.metrics import confusion_matrix as sk_cm

    cm = sk_cm(np.asarray(y_true), np.asarray(y_pred), labels=list(range(len(classes)))).astype(float)
    if normalize:
        cm = cm / np.maximum(cm.sum(axis=1, keepdims=True), 1)
    n = len(classes)
    size = max(3.2, 0.45 * n + 1.8)
    fig, ax = _plt().subplots(figsize=(size + 0.8, size))
    im = ax.imshow(cm, cmap="Blues", vmin=0, vmax=1 if normalize else max(cm.max(), 1))
    fig.colorbar(im, ax=ax, fraction=0.046, pad=0.04)
    ax.set_xticks(range(n), [str(c) for c in classes], rotation=45 if n > 4 else 0, ha="right" if n > 4 else "center")
    ax.set_yticks(range(n), [str(c) for c in classes])
    ax.set_xlabel("predicted")
    ax.set_ylabel("true")
    if n <= 15:
        for i in range(n):
            for j in range(n):
                val = f"{cm[i, j]:.2f}" if normalize else f"{int(cm[i, j])}"
                ax.text(j, i, val, ha="center", va="center", fontsize=8,
                        color="white" if cm[i, j] > 0.6 * (1 if normalize else cm.max()) else "black")
    ax.set_title(title or "confusion matrix")
    fig.tight_layout()
    return fig


def _thumb(path: str | os.PathLike, size: int = 160) -> np.ndarray:
    from PIL import Image, ImageOps

    with Image.open(path) as im:
        im = ImageOps.exif_transpose(im).convert("RGB")
        im.thumbnail((size, size))
        return np.asarray(im)


def image_grid(paths: Sequence[str | os.PathLike], *, titles: Sequence[str] | None = None,
               ncols: int = 5, cell: float = 2.0, suptitle: str = ""):
    """Thumbnails in rows of ``ncols`` with optional per-image titles."""
    n = max(len(paths), 1)
    ncols = max(1, min(ncols, n))
    nrows = int(np.ceil(n / ncols))
    fig, axes = _plt().subplots(nrows, ncols, figsize=(cell * ncols, cell * nrows + 0.3), squeeze=False)
    for ax in axes.ravel():
        ax.axis("off")
    for i, path in enumerate(paths):
        ax = axes.ravel()[i]
        ax.imshow(_thumb(path))
        if titles is not None:
            ax.set_title(str(titles[i]), fontsize=8)
    if suptitle:
        fig.suptitle(suptitle)
    fig.tight_layout()
    return fig


def retrieval_grid(queries: Sequence[str], paths: Sequence[Sequence[str | os.PathLike]],
                   scores: np.ndarray, *, cell: float = 1.9, labels: Sequence[Sequence[str]] | None = None):
    """One row per text query: its top-k images, each titled with its cosine similarity."""
    k = max((len(p) for p in paths), default=1)
    fig, axes = _plt().subplots(len(queries), k, figsize=(cell * k, cell * len(queries) + 0.2), squeeze=False)
    for r, query in enumerate(queries):
        for c in range(k):
            ax = axes[r, c]
            ax.set_xticks([])
            ax.set_yticks([])
            if c >= len(paths[r]):
                ax.axis("off")
                continue
            ax.imshow(_thumb(paths[r][c]))
            extra = f" {labels[r][c]}" if labels is not None else ""
            score = round(float(scores[r][c]), 3) + 0.0  # + 0.0 turns -0.0 into 0.0
            ax.set_title(f"{score:.3f}{extra}", fontsize=8)
        axes[r, 0].set_ylabel(query if len(query) < 28 else query[:26] + "…", fontsize=8,
                              rotation=0, ha="right", va="center")
    fig.tight_layout()
    return fig


def reliability_diagram(probs: np.ndarray, y_true: np.ndarray, *, n_bins: int = 10, title: str = ""):
    """Accuracy per confidence bin against the diagonal of perfect calibration."""
    from .zeroshot import expected_calibration_error, reliability

    rel = reliability(probs, y_true, n_bins)
    centers = (rel["edges"][:-1] + rel["edges"][1:]) / 2
    width = 1.0 / n_bins
    fig, ax = _plt().subplots(figsize=(4.2, 4.0))
    used = rel["count"] > 0
    ax.bar(centers[used], rel["accuracy"][used], width=width * 0.95, color="#4c72b0", label="accuracy")
    ax.plot([0, 1], [0, 1], "k--", lw=1, label="perfect calibration")
    ax.set_xlim(0, 1)
    ax.set_ylim(0, 1)
    ax.set_xlabel("confidence")
    ax.set_ylabel("accuracy")
    ece = expected_calibration_error(probs, y_true, n_bins)
    ax.set_title(title or f"reliability (ECE {ece:.3f})")
    ax.legend(loc="upper left", fontsize=8)
    fig.tight_layout()
    return fig


def temperature_curves(sweep, *, learned: float | None = None, title: str = ""):
    """From ``zeroshot.temperature_sweep``: confidence and accuracy, then ECE and NLL, vs T."""
    fig, (a1, a2) = _plt().subplots(1, 2, figsize=(9, 3.4))
    t = sweep["temperature"]
    a1.plot(t, sweep["mean confidence"], "o-", label="mean confidence")
    a1.plot(t, sweep["accuracy"], "s--", label="accuracy")
    a1.set_ylim(0, 1.02)
    a1.set_ylabel("fraction")
    a2.plot(t, sweep["ECE"], "o-", color="#c44e52", label="ECE")
    a2b = a2.twinx()
    a2b.plot(t, sweep["NLL"], "^:", color="#55a868", label="NLL")
    a2.set_ylabel("ECE")
    a2b.set_ylabel("NLL")
    for ax in (a1, a2):
        ax.set_xscale("log")
        ax.set_xlabel("temperature T (softmax of cos / T)")
        if learned is not None:
            ax.axvline(learned, color="grey", lw=1, ls=":")
    a1.legend(fontsize=8, loc="lower left")
    lines = a2.get_legend_handles_labels()
    lines2 = a2b.get_legend_handles_labels()
    a2.legend(lines[0] + lines2[0], lines[1] + lines2[1], fontsize=8, loc="upper center")
    fig.suptitle(title or "temperature: confidence and calibration")
    fig.tight_layout()
    return fig


def projection_2d(points: np.ndarray, labels: np.ndarray, classes: Sequence[str], *, title: str = "",
                  method: str = ""):
    """Scatter of 2-D coordinates (from ``zeroshot.project_2d``), one colour per class."""
    fig, ax = _plt().subplots(figsize=(5.2, 4.4))
    cmap = _plt().get_cmap("tab10" if len(classes) <= 10 else "tab20")
    labels = np.asarray(labels)
    for c, name in enumerate(classes):
        sel = labels == c
        ax.scatter(points[sel, 0], points[sel, 1], s=14, alpha=0.8, color=cmap(c % cmap.N), label=str(name))
    ax.set_xticks([])  # a projection's coordinates have no units worth reading
    ax.set_yticks([])
    first, second = (("PC1", "PC2") if method.upper() == "PCA" else
                     (f"{method or 'projection'} 1", f"{method or 'projection'} 2"))
    ax.set_xlabel(first)
    ax.set_ylabel(second)
    ax.set_title(title or f"embedding space ({method or '2-D projection'})")
    ax.legend(fontsize=7, markerscale=1.2, loc="best", ncol=1 if len(classes) <= 10 else 2)
    fig.tight_layout()
    return fig


def similarity_heatmap(matrix, *, title: str = "", xlabel: str = "", ylabel: str = ""):
    """A table of cosine similarities: C x C class means (``zeroshot.similarity_stats``),
    or any rows x columns DataFrame, e.g. images x captions."""
    values = np.asarray(matrix, dtype=float)
    rows = [str(c) for c in getattr(matrix, "index", range(values.shape[0]))]
    cols = [str(c) for c in getattr(matrix, "columns", range(values.shape[1]))]
    n, m = len(rows), len(cols)
    size = max(3.2, 0.45 * max(n, m) + 1.8)
    fig, ax = _plt().subplots(figsize=(size + 0.8, size))
    im = ax.imshow(values, cmap="viridis")
    fig.colorbar(im, ax=ax, fraction=0.046, pad=0.04)
    ax.set_xticks(range(m), cols, rotation=45 if m > 4 else 0, ha="right" if m > 4 else "center")
    ax.set_yticks(range(n), rows)
    if max(n, m) <= 12:
        for i in range(n):
            for j in range(m):
                ax.text(j, i, f"{values[i, j]:.2f}", ha="center", va="center", fontsize=7, color="white")
    ax.set_xlabel(xlabel)
    ax.set_ylabel(ylabel)
    ax.set_title(title or "mean cosine similarity")
    fig.tight_layout()
    return fig


def bar_chart(values: Mapping[str, float] | Any, *, title: str = "", xlabel: str = "accuracy",
              reference: Mapping[str, float] | None = None):
    """Horizontal bars (e.g. accuracy per prompt strategy), with optional reference lines."""
    items = list(values.items())
    fig, ax = _plt().subplots(figsize=(6, 0.45 * len(items) + 1.2))
    ax.barh([k for k, _ in items][::-1], [float(v) for _, v in items][::-1], color="#4c72b0")
    for name, x in (reference or {}).items():
        ax.axvline(x, color="grey", ls="--", lw=1)
        ax.text(x, -0.45, f" {name}", fontsize=8, color="grey", va="bottom")
    ax.set_xlabel(xlabel)
    ax.set_title(title)
    fig.tight_layout()
    return fig


def class_probabilities(path: str | os.PathLike, probs: Mapping[str, Sequence[float]],
                        classes: Sequence[str], *, title: str = ""):
    """One image beside its class probabilities, a group of bars per prompt wording."""
    plt = _plt()
    fig, (left, right) = plt.subplots(1, 2, figsize=(8.6, 3.2), width_ratios=[1, 1.9])
    left.imshow(_thumb(path, 320))
    left.axis("off")
    styles = list(probs)
    height = 0.8 / max(len(classes), 1)
    colours = plt.get_cmap("tab10").colors
    for c, name in enumerate(classes):
        y = np.arange(len(styles)) + (c - (len(classes) - 1) / 2) * height
        vals = [float(probs[s][c]) for s in styles]
        right.barh(y, vals, height=height, color=colours[c % 10], label=str(name))
        for yi, v in zip(y, vals):
            right.text(min(v, 0.86) + 0.01, yi, f"{v:.2f}", va="center", fontsize=8)
    right.set_yticks(range(len(styles)), styles)
    right.invert_yaxis()
    right.set_xlim(0, 1)
    right.set_xlabel("probability (softmax of the scaled cosines)")
    right.legend(fontsize=8, loc="lower right", frameon=False)
    right.set_title(title, fontsize=10)
    fig.tight_layout()
    return fig


def k_sweep(table, *, chosen: int | None = None, floor: float | None = None, title: str = ""):
    """kNN scores against k: a line per column of ``table`` (index k), the run's k marked."""
    fig, ax = _plt().subplots(figsize=(6, 3.2))
    for column in table.columns:
        ax.plot(table.index, table[column], marker="o", label=str(column))
    if chosen is not None:
        ax.axvline(chosen, color="grey", ls=":", lw=1)
        ax.text(chosen, ax.get_ylim()[0], f" k = {chosen}", fontsize=8, color="grey", va="bottom")
    if floor is not None:
        ax.axhline(floor, color="grey", ls="--", lw=1)
        ax.text(table.index.min(), floor, " random embeddings (accuracy)", fontsize=8, color="grey",
                va="bottom")
    ax.set_xscale("log")
    ax.set_xticks(list(table.index), [str(k) for k in table.index])
    ax.minorticks_off()
    ax.set_xlabel("k (neighbours that vote)")
    ax.set_ylabel("score on knn/test")
    ax.legend(fontsize=8, frameon=False)
    ax.set_title(title)
    fig.tight_layout()
    return fig


def pipeline(lanes: Sequence[tuple[str, Sequence[str]]], *, title: str = ""):
    """A sketch of a method: one lane per route, each a chain of boxes joined by arrows.

    Drawn with matplotlib, so a chapter's diagram needs no service at build time and
    renders the same in Jupyter, Colab and the book.
    """
    plt = _plt()
    from matplotlib.patches import FancyBboxPatch

    longest = max(len(steps) for _, steps in lanes)
    fig, ax = plt.subplots(figsize=(1.55 * longest + 1.6, 0.95 * len(lanes) + 0.5))
    ax.set_xlim(-1.5, longest * 1.55)
    ax.set_ylim(-len(lanes) + 0.4, 0.6)
    ax.axis("off")
    for row, (name, steps) in enumerate(lanes):
        y = -row
        ax.text(-1.45, y, name, ha="left", va="center", fontsize=9, style="italic", color="#555")
        for col, step in enumerate(steps):
            x = col * 1.55
            ax.add_patch(FancyBboxPatch((x - 0.62, y - 0.26), 1.24, 0.52,
                                        boxstyle="round,pad=0.02,rounding_size=0.08",
                                        fc="#eef3fb" if col % 2 else "#fdf1e6", ec="#4c72b0", lw=1))
            ax.text(x, y, textwrap.fill(step, 14), ha="center", va="center", fontsize=8)
            if col:
                ax.annotate("", xy=(x - 0.64, y), xytext=(x - 0.91, y),
                            arrowprops={"arrowstyle": "-|>", "color": "#333", "lw": 1})
    if title:
        ax.set_title(title, fontsize=10)
    fig.tight_layout()
    return fig
