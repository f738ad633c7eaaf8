"""Chapter 07's figures; each function returns a matplotlib Figure and writes nothing."""

from __future__ import annotations

from typing import Mapping, Sequence

import numpy as np
import pandas as pd

from .terms import BASIC_TERMS, hex_to_rgb

__all__ = ["patches_by_name", "association_heatmap", "palette_swatches", "style_comparison",
           "human_agreement"]


def _plt():
    import matplotlib.pyplot as plt

    return plt


def _rgb01(hex_: str) -> tuple[float, float, float]:
    return tuple(v / 255 for v in hex_to_rgb(hex_))  # type: ignore[return-value]


def patches_by_name(naming: pd.DataFrame, *, title: str = "", max_rows: int = 30):
    """Every patch in the column of the term the model called it; misnamed ones are framed.

    ``naming`` holds one model and style's naming rows (hex, truth, predicted).
    """
    from matplotlib.patches import Rectangle

    columns = {t: naming[naming["predicted"] == t] for t in BASIC_TERMS}
    depth = min(max([len(g) for g in columns.values()] + [1]), max_rows)
    fig, ax = _plt().subplots(figsize=(0.62 * len(BASIC_TERMS) + 0.8, 0.3 * depth + 1.3))
    for x, (term, g) in enumerate(columns.items()):
        g = g.sort_values(["truth", "hex"], key=lambda s: s.map(
            {t: i for i, t in enumerate(BASIC_TERMS)}) if s.name == "truth" else s)
        for y, (_, row) in enumerate(g.head(max_rows).iterrows()):
            wrong = row["truth"] != term
            ax.add_patch(Rectangle((x + 0.08, y + 0.06), 0.84, 0.88, facecolor=_rgb01(row["hex"]),
                                   edgecolor="#d32f2f" if wrong else "#9e9e9e", lw=1.6 if wrong else 0.4))
        if len(g) > max_rows:
            ax.text(x + 0.5, max_rows + 0.3, f"+{len(g) - max_rows}", ha="center", fontsize=7)
    ax.set_xlim(0, len(BASIC_TERMS))
    ax.set_ylim(depth + 0.8, 0)
    ax.set_xticks(np.arange(len(BASIC_TERMS)) + 0.5, BASIC_TERMS, rotation=45, ha="left")
    ax.set_yticks([])
    ax.xaxis.tick_top()
    for side in ("left", "right", "bottom"):
        ax.spines[side].set_visible(False)
    ax.set_title(title or "patches by the term the model chose (red frame: not the survey's term)",
                 fontsize=9, pad=40)
    fig.tight_layout()
    return fig


def association_heatmap(table: pd.DataFrame, canonical: Mapping[str, str], *, title: str = "",
                        hexes: Mapping[str, str] | None = None):
    """Concepts (rows) x basic colours (columns); each concept's canonical colour is boxed.

    Each row is shown relative to its own mean, so the eye compares colours within a
    concept (the raw cosines of a CLIP model sit in a narrow band).
    """
    from matplotlib.patches import Rectangle

    values = table.to_numpy(dtype=float)
    centred = values - values.mean(axis=1, keepdims=True)
    n_rows, n_cols = values.shape
    fig, ax = _plt().subplots(figsize=(0.5 * n_cols + 2.6, 0.32 * n_rows + 1.6))
    lim = float(np.abs(centred).max()) or 1.0
    im = ax.imshow(centred, cmap="RdBu_r", vmin=-lim, vmax=lim, aspect="auto")
    fig.colorbar(im, ax=ax, fraction=0.04, pad=0.02, label="cosine minus the row's mean")
    ax.set_xticks(range(n_cols), list(table.columns), rotation=45, ha="right")
    ax.set_yticks(range(n_rows), list(table.index))
    if hexes:
        ax.tick_params(axis="x", pad=16)  # the labels go below the strip of colours
        for j, colour in enumerate(table.columns):
            ax.add_patch(Rectangle((j - 0.5, n_rows - 0.5), 1, 0.6, facecolor=_rgb01(hexes[colour]),
                                   edgecolor="black", lw=0.3, clip_on=False))
    for i, concept in enumerate(table.index):
        if canonical.get(concept) in table.columns:
            j = list(table.columns).index(canonical[concept])
            ax.add_patch(Rectangle((j - 0.5, i - 0.5), 1, 1, fill=False, edgecolor="black", lw=1.8))
    # The key to the boxes goes with any title a caller gives.
    ax.set_title(f"{title or 'colour-concept associations'}\n(boxed: each concept's canonical "
                 "colour)", fontsize=9)
    fig.tight_layout()
    return fig


def palette_swatches(palettes: Mapping[str, pd.DataFrame], *, title: str = ""):
    """One row of swatches per palette: the colour chosen for each concept, labelled.

    ``palettes`` maps a row label (e.g. "ViT-B/32, palette 1") to rows with concept, hex,
    and the palette's weakest-pair delta.
    """
    from matplotlib.patches import Rectangle

    width = max([len(p) for p in palettes.values()] + [1])
    fig, ax = _plt().subplots(figsize=(1.15 * width + 2.8, 0.85 * max(len(palettes), 1) + 0.7))
    for y, (label, p) in enumerate(palettes.items()):
        for x, (_, row) in enumerate(p.iterrows()):
            ax.add_patch(Rectangle((x + 0.05, y + 0.1), 0.9, 0.62, facecolor=_rgb01(row["hex"]),
                                   edgecolor="#616161", lw=0.5))
            ax.text(x + 0.5, y + 0.88, row["concept"], ha="center", va="center", fontsize=8)
        weakest = float(p["weakest delta"].iloc[0]) if len(p) else float("nan")
        ax.text(width + 0.1, y + 0.45, f"weakest pair {weakest:+.3f}", va="center", fontsize=8)
    ax.set_xlim(0, width + 1.6)
    ax.set_ylim(max(len(palettes), 1), 0)
    ax.set_yticks(np.arange(len(palettes)) + 0.45, list(palettes))
    ax.set_xticks([])
    for side in ("top", "right", "bottom"):
        ax.spines[side].set_visible(False)
    ax.set_title(title or "palettes the associations choose", fontsize=9)
    fig.tight_layout()
    return fig


def style_comparison(table: pd.DataFrame, columns: Sequence[str], *,
                     chance: Mapping[str, float] | None = None, title: str = ""):
    """One panel per measure, stacked: grouped bars of models x prompt styles (``summary`` rows).

    Stacked rather than side by side so the figure fits a book's text column at full size;
    a measure this run did not take gets no panel, and chance goes in the legend, not on
    the bars.
    """
    table = table.reset_index()
    columns = [c for c in columns if c in table and table[c].notna().any()] or list(columns[:1])
    fig, axes = _plt().subplots(len(columns), 1, figsize=(6.8, 2.1 * len(columns) + 1.0),
                                squeeze=False, layout="constrained")
    handles: dict[str, object] = {}
    for ax, column in zip(axes[:, 0], columns):
        data = table.dropna(subset=[column]) if column in table else table.iloc[:0]
        groups = list(dict.fromkeys(zip(data["style"], data["view"])))
        models = list(dict.fromkeys(data["model"]))
        width = 0.8 / max(len(models), 1)
        for m, model in enumerate(models):
            mine = data[data["model"] == model]
            pos = [groups.index(g) for g in zip(mine["style"], mine["view"])]
            handles[model] = ax.bar(np.asarray(pos) + (m - (len(models) - 1) / 2) * width,
                                    mine[column], width, color=f"C{m}")
        if chance and column in chance:
            handles["chance"] = ax.axhline(chance[column], color="grey", ls="--", lw=1)
        ax.set_xticks(range(len(groups)), [f"style {s}\n{v}" for s, v in groups], fontsize=9)
        ax.set_xlim(-0.6, max(len(groups), 1) - 0.4)
        ax.set_ylim(0, 1.02)
        ax.set_ylabel("fraction", fontsize=9)
        ax.set_title(column, fontsize=10, loc="left")
        if data.empty:
            ax.text(0.5, 0.5, "not measured in this run", transform=ax.transAxes, ha="center",
                    color="grey")
    if handles:
        fig.legend(list(handles.values()), list(handles), loc="outside lower center",
                   ncol=min(len(handles), 2), fontsize=9, frameon=False)
    fig.suptitle(title or "prompt styles (style number, and the tower that saw the colour)",
                 fontsize=10)
    return fig


def human_agreement(table: pd.DataFrame, *, title: str = ""):
    """Mean correlation with people's ratings per model and prompt style, its 95% interval,
    and the shuffled-colour chance band (``analysis.human_summary``)."""
    plt = _plt()
    labels = [f"{str(m).split('/')[-1]}, style {s} ({v})"
              for m, s, v in zip(table["model"], table["prompt style"], table["view"])]
    y = np.arange(len(table))
    fig, ax = plt.subplots(figsize=(7.5, 0.45 * max(len(table), 2) + 1.9))
    mean = table["mean_r"].to_numpy(float)
    ax.errorbar(mean, y, xerr=[mean - table["low"].to_numpy(float),
                               table["high"].to_numpy(float) - mean],
                fmt="o", capsize=3, color="#1e88e5", label="mean r over concepts, 95% interval")
    for k, (lo, hi) in enumerate(zip(table["chance_low"], table["chance_high"])):
        ax.fill_betweenx([k - 0.35, k + 0.35], lo, hi, color="grey", alpha=0.3,
                         label="chance (colours shuffled), 95%" if k == 0 else None)
    ax.axvline(0, color="grey", lw=0.8)
    ax.set_yticks(y, labels, fontsize=8)
    ax.invert_yaxis()
    ax.set_xlim(-1, 1)
    ax.set_xlabel("Pearson r with people's ratings, averaged over concepts")
    ax.legend(loc="upper center", bbox_to_anchor=(0.5, -0.18), ncol=2, fontsize=8)
    ax.set_title(title or "Agreement with people's colour-concept associations")
    fig.tight_layout()
    return fig
