"""Concept relations in CLIP's text space (chapter 02), beside the image clusters.

The image side of chapter 02 asks how similar two classes' *pictures* are. The same
question has a text side: how close are the *words*? CLIP trained both towers to meet in
one space, so if "cat" sits near "dog" among the images, it should also sit near "dog"
among the prompts. Two measurements:

- :func:`word_similarity`: the cosine between the prompt embeddings of class names and of
  related words (``cfg.concept_words``): "cat" against "kitten", "tiger", "truck" ...;
- :func:`agreement`: how well the class-to-class similarities of the text space follow
  those of the image space (Spearman's rank correlation over the class pairs), with a
  bootstrap interval over *classes*: every class takes part in many pairs, so the pairs
  are not independent samples, and resampling them would give too narrow an interval.

Each word is prompted with the chapter's templates, and its embedding is the ensemble of
them (:func:`clipdistill.zeroshot.build_zero_shot_classifier`, the same cached text path
as the zero-shot classifier).
"""

from __future__ import annotations

from typing import Any, Sequence

import numpy as np

__all__ = ["word_similarity", "agreement", "plot_relations"]


def word_similarity(clip: Any, rows: Sequence[str], columns: Sequence[str],
                    templates: Sequence[str], *, cache_dir: Any = None) -> "pd.DataFrame":  # noqa: F821
    """``rows`` x ``columns`` cosine similarities of the words' prompt embeddings."""
    import pandas as pd

    from .zeroshot import build_zero_shot_classifier

    words = list(dict.fromkeys([*rows, *columns]))
    emb = build_zero_shot_classifier(clip, words, list(templates), cache_dir=cache_dir).T
    index = {w: i for i, w in enumerate(words)}
    a, b = emb[[index[w] for w in rows]], emb[[index[w] for w in columns]]
    return pd.DataFrame(a @ b.T, index=list(rows), columns=list(columns))


def _ranks(x: np.ndarray) -> np.ndarray:
    import pandas as pd

    return pd.Series(x).rank().to_numpy()


def agreement(image_sim: "pd.DataFrame", text_sim: "pd.DataFrame", *, seed: int = 0,  # noqa: F821
              resamples: int = 2000) -> dict[str, float]:
    """Spearman's rho between the image-space and the text-space similarity of every pair
    of different classes, and a 95% bootstrap interval (``seed``-ed).

    The bootstrap resamples classes, not pairs, and rebuilds the pairs from the classes
    drawn (a class drawn twice is not paired with itself): with C classes each one sits
    in C - 1 of the pairs, and treating the pairs as independent would understate the
    luck of which classes the set happens to hold (the usual resampling for comparing two
    similarity matrices).
    """
    names = list(image_sim.index)
    text = text_sim.loc[names, names].to_numpy(float)
    image = image_sim.to_numpy(float)
    i, j = np.triu_indices(len(names), k=1)
    keep = np.isfinite(image[i, j]) & np.isfinite(text[i, j])
    pairs = int(keep.sum())
    if pairs < 3:
        return {"rho": float("nan"), "low": float("nan"), "high": float("nan"), "pairs": pairs}
    whole = _pair_rho(image, text, np.arange(len(names)))
    rng = np.random.default_rng(seed)
    boots = np.array([_pair_rho(image, text, rng.integers(0, len(names), len(names)))
                      for _ in range(resamples)])
    low, high = np.nanpercentile(boots, [2.5, 97.5]) if np.isfinite(boots).any() else (np.nan,) * 2
    return {"rho": whole, "low": float(low), "high": float(high), "pairs": pairs}


def _pair_rho(image: np.ndarray, text: np.ndarray, drawn: np.ndarray) -> float:
    """Spearman's rho over the pairs of the classes ``drawn`` (indices, repeats allowed)."""
    a, b = np.triu_indices(len(drawn), k=1)
    a, b = drawn[a], drawn[b]
    x, y = image[a, b], text[a, b]
    keep = (a != b) & np.isfinite(x) & np.isfinite(y)
    if keep.sum() < 3:
        return float("nan")
    rx, ry = _ranks(x[keep]), _ranks(y[keep])
    if rx.std() == 0 or ry.std() == 0:
        return float("nan")
    return float(np.corrcoef(rx, ry)[0, 1])


def plot_relations(image_sim: "pd.DataFrame", text_sim: "pd.DataFrame",  # noqa: F821
                   related: "pd.DataFrame", *, title: str = ""):  # noqa: F821
    """Three heatmaps: classes by their images, by their names, names by related words.

    The two class-by-class maps share the top row and the names-by-words map spans the
    bottom one, so every class and word label is 9 pt at the book's 7-inch column."""
    import matplotlib.pyplot as plt
    import pandas as pd

    names = text_sim.loc[image_sim.index, image_sim.index]
    values = names.to_numpy(float, copy=True)
    np.fill_diagonal(values, np.nan)  # 1 by definition; it would flatten the scale
    names = pd.DataFrame(values, index=names.index, columns=names.columns)
    panels = [(image_sim, "images: mean cosine\nbetween classes"),
              (names, "names: cosine of the prompts\n(diagonal left out)"),
              (related, "names x related words")]
    n, words = len(image_sim), related.shape[1]
    cell = 0.27  # inches a heatmap cell
    fig = plt.figure(figsize=(7.0, cell * (n + max(n, len(related))) + 3.0))
    grid = fig.add_gridspec(2, 2, height_ratios=[n, max(n, len(related))])
    axes = [fig.add_subplot(grid[0, 0]), fig.add_subplot(grid[0, 1]),
            fig.add_subplot(grid[1, :])]
    for ax, (matrix, label) in zip(axes, panels):
        values = matrix.to_numpy(float)
        im = ax.imshow(values, cmap="viridis")
        bar = fig.colorbar(im, ax=ax, fraction=0.046, pad=0.03)
        bar.ax.tick_params(labelsize=8)
        ax.set_xticks(range(values.shape[1]), [str(c) for c in matrix.columns],
                      rotation=60, ha="right", rotation_mode="anchor", fontsize=9)
        ax.set_yticks(range(values.shape[0]), [str(c) for c in matrix.index], fontsize=9)
        ax.set_title(label, fontsize=10)
    fig.suptitle(title or "Concept relations", fontsize=11)
    fig.tight_layout()
    return fig
