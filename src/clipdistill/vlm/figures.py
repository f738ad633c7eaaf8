"""Chapter 03's figures: descriptions beside their images, lengths, class-telling words."""

from __future__ import annotations

import textwrap
from pathlib import Path
from typing import Mapping, Sequence

import numpy as np

from .base import open_rgb

__all__ = ["plot_examples", "examples_table", "plot_lengths", "plot_separating_words",
           "pixels_vs_words", "disagreements", "disagreements_table", "pipeline"]


def _clean(text: str) -> str:
    """Control characters and U+FFFD (half a UTF-8 character) show as boxes: drop them."""
    text = "".join(ch if ch.isprintable() and ch != "\ufffd" else " " for ch in text)
    return " ".join(text.split())


def _printable(text: str) -> str:
    """:func:`_clean`, with ``$`` escaped so matplotlib draws it instead of maths."""
    return _clean(text).replace("$", r"\$")


def _rows_figure(paths: Sequence[str | Path], titles: Sequence[str],
                 blocks: Sequence[Sequence[tuple[str, str | Sequence[str]]]], *,
                 width: int = 70, max_lines: int = 8, fig_width: float = 7.0):
    """One row an image: its thumbnail (``titles`` above it), then its text ``blocks``,
    each a ``(heading, text)`` pair (or a heading over several texts, a line each), the
    text wrapped to ``width`` characters of 9 pt.

    Sized for a 7-inch column: the text stays one column wide beside a small picture
    instead of many narrow columns side by side, which shrink with the figure."""
    import matplotlib.pyplot as plt

    texts = []
    for row in blocks:
        lines = []
        for heading, body in row:
            lines.append(heading)
            for part in [body] if isinstance(body, str) else body:
                wrapped = textwrap.wrap(_printable(part), width=width, max_lines=max_lines,
                                        placeholder=" ...") or ["(empty)"]
                lines += ["   " + w for w in wrapped]
        texts.append(lines)
    line_in = 9 * 1.3 / 72  # a 9 pt line, in inches
    heights = [max(1.5, line_in * len(lines) + 0.25) for lines in texts]
    fig = plt.figure(figsize=(fig_width, sum(heights)))
    grid = fig.add_gridspec(len(paths), 2, height_ratios=heights, width_ratios=[1.35, 5.65],
                            left=0.01, right=0.99, top=0.99, bottom=0.01, hspace=0.12,
                            wspace=0.04)
    for r, (path, title, lines) in enumerate(zip(paths, titles, texts)):
        ax = fig.add_subplot(grid[r, 0])
        ax.imshow(open_rgb(path))
        ax.set_title(title, fontsize=10)
        ax.axis("off")
        ax = fig.add_subplot(grid[r, 1])
        ax.axis("off")
        ax.text(0, 1, "\n".join(lines), va="top", ha="left", fontsize=9,
                linespacing=1.3, transform=ax.transAxes)
    return fig


def plot_examples(paths: Sequence[str | Path], texts: Mapping[str, Sequence[str]],
                  labels: Sequence[int], classes: Sequence[str], *, width: int = 70):
    """One row per image: the picture, then its description under each prompt."""
    blocks = [[(f"{name} prompt:", column[i]) for name, column in texts.items()]
              for i in range(len(paths))]
    titles = [classes[int(c)] for c in labels]
    return _rows_figure(paths, titles, blocks, width=width)


def _thumbnail_uri(path: str | Path, size: int = 128) -> str:
    """A JPEG thumbnail as a data URI: the table carries its pictures with it."""
    import base64
    import io

    image = open_rgb(path)
    image.thumbnail((size, size))
    buf = io.BytesIO()
    image.save(buf, format="JPEG", quality=85)
    return "data:image/jpeg;base64," + base64.b64encode(buf.getvalue()).decode("ascii")


def _verdict(pred: int, label: int, classes: Sequence[str]) -> str:
    return f"{classes[int(pred)]} " + ("✓" if pred == label else "✗ wrong")


def _html_rows(paths: Sequence[str | Path], titles: Sequence[str],
               cells: Sequence[Sequence[tuple[str, str]]], header: Sequence[str]) -> str:
    """An HTML table, a row an image: thumbnail and title, then ``cells`` per row, each
    a list of ``(heading, text)`` shown as a bold heading over its text.

    Text in HTML reflows to the reader's column and stays selectable; the wrapper opts
    out of MathJax so a ``$`` in a description stays a dollar sign."""
    from html import escape

    td = "vertical-align:top;text-align:left;padding:6px 8px;"
    head = "".join(f'<th style="{td}">{escape(h)}</th>' for h in header)
    rows = []
    for path, title, row in zip(paths, titles, cells):
        picture = (f'<td style="{td}width:136px"><img src="{_thumbnail_uri(path)}" '
                   f'alt="{escape(title)}" style="max-width:128px;max-height:128px">'
                   f"<br>{escape(title)}</td>")
        parts = []
        for block in row:
            parts.append("".join(
                f"<div style=\"margin-bottom:0.4em\"><b>{escape(h)}</b><br>"
                f"{escape(_clean(t))}</div>"
                for h, t in block))
        rows.append("<tr>" + picture + "".join(
            f'<td style="{td}overflow-wrap:anywhere">{p}</td>' for p in parts) + "</tr>")
    return ('<div class="tex2jax_ignore mathjax_ignore">'
            '<table style="border-collapse:collapse;width:100%;font-size:0.9em">'
            f"<thead><tr>{head}</tr></thead><tbody>{''.join(rows)}</tbody>"
            "</table></div>")


def examples_table(paths: Sequence[str | Path], texts: Mapping[str, Sequence[str]],
                   labels: Sequence[int], classes: Sequence[str]) -> str:
    """:func:`plot_examples` as an HTML table: each image beside what the VLM wrote for it
    under each prompt, readable at any column width."""
    cells = [[[(f"{name} prompt", column[i]) for name, column in texts.items()]]
             for i in range(len(paths))]
    titles = [classes[int(c)] for c in labels]
    return _html_rows(paths, titles, cells, ["image", "what the VLM wrote"])


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
    ax.set_title("Description length (boxes: quartiles; triangles: means)", fontsize=10)
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


def _disagreeing(preds: Mapping[str, Sequence[int]], most: int) -> np.ndarray:
    """The first ``most`` images on which the classifiers' predictions differ."""
    stacked = np.stack([np.asarray(p) for p in preds.values()])
    return np.flatnonzero((stacked != stacked[0]).any(axis=0))[:most]


def disagreements(paths: Sequence[str | Path], texts: Mapping[str, Sequence[str]],
                  preds: Mapping[str, Sequence[int]], labels: Sequence[int],
                  classes: Sequence[str], *, most: int = 6, width: int = 70):
    """The test images on which the kNN classifiers disagree: each image with its true
    class and every classifier's prediction (a cross marks a wrong one), then what the VLM
    wrote under each prompt. None when every classifier agrees on every image."""
    labels = np.asarray(labels)
    rows = _disagreeing(preds, most)
    if not len(rows):
        return None
    blocks = []
    for i in rows:
        said = [f"{name}: {_verdict(p[i], labels[i], classes)}"
                for name, p in preds.items()]
        blocks.append([("kNN predicted:", said)]
                      + [(f"{name} prompt:", column[i]) for name, column in texts.items()])
    titles = [f"a {classes[int(labels[i])]}" for i in rows]
    return _rows_figure([paths[i] for i in rows], titles, blocks, width=width)


def disagreements_table(paths: Sequence[str | Path], texts: Mapping[str, Sequence[str]],
                        preds: Mapping[str, Sequence[int]], labels: Sequence[int],
                        classes: Sequence[str], *, most: int = 6) -> str | None:
    """:func:`disagreements` as an HTML table (thumbnail, predictions, descriptions);
    None when every classifier agrees on every image."""
    labels = np.asarray(labels)
    rows = _disagreeing(preds, most)
    if not len(rows):
        return None
    cells = [[[(name, _verdict(p[i], labels[i], classes)) for name, p in preds.items()],
              [(f"{name} prompt", column[i]) for name, column in texts.items()]]
             for i in rows]
    titles = [f"a {classes[int(labels[i])]}" for i in rows]
    return _html_rows([paths[i] for i in rows], titles, cells,
                      ["image", "kNN predicted", "what the VLM wrote"])


# The two routes, top to bottom: (row, step). The CLIP towers share a row, so the
# reader sees the words route's two extra steps where the pixels route has none.
PIXELS_ROUTE = [(0, "image"), (3, "CLIP image tower"), (4, "image embedding"),
                (5, "kNN vote"), (6, "cat or dog")]
WORDS_ROUTE = [(0, "image"), (1, "VLM + prompt"), (2, "one sentence"),
               (3, "CLIP text tower"), (4, "text embedding"), (5, "kNN vote"),
               (6, "cat or dog")]
MODEL_STEPS = ("CLIP image tower", "VLM + prompt", "CLIP text tower")


def pipeline():
    """Chapter 03's route from an image to a label, beside chapter 02's: two columns read
    top to bottom, so each box's words are 10 pt at the book's 7-inch column."""
    import matplotlib.pyplot as plt
    from matplotlib.patches import FancyBboxPatch

    lanes = [("chapter 2: through pixels", PIXELS_ROUTE),
             ("this chapter: through words", WORDS_ROUTE)]
    rows = 1 + max(r for _, route in lanes for r, _ in route)
    pitch, box_w, box_h = 0.56, 2.3, 0.34  # inches
    fig = plt.figure(figsize=(7.0, pitch * rows + 0.9))
    ax = fig.add_axes([0, 0, 1, 1])
    ax.set_xlim(0, 7.0)
    ax.set_ylim(-pitch * rows - 0.1, 0.8)
    ax.axis("off")
    ax.text(3.5, 0.62, "Two routes to a label: through pixels, and through words",
            ha="center", va="center", fontsize=11)
    for lane, (name, route) in enumerate(lanes):
        x = 1.9 + 3.2 * lane
        ax.text(x, 0.25, name, ha="center", va="center", fontsize=10, style="italic",
                color="#444")
        previous = None
        for row, step in route:
            y = -pitch * row - box_h / 2
            model = step in MODEL_STEPS
            ax.add_patch(FancyBboxPatch((x - box_w / 2, y - box_h / 2), box_w, box_h,
                                        boxstyle="round,pad=0.02,rounding_size=0.06",
                                        fc="#eef3fb" if model else "#fdf1e6",
                                        ec="#4c72b0", lw=1))
            ax.text(x, y, step, ha="center", va="center", fontsize=10,
                    weight="bold" if model else "normal")
            if previous is not None:
                ax.annotate("", xy=(x, y + box_h / 2 + 0.02),
                            xytext=(x, previous - box_h / 2 - 0.02),
                            arrowprops={"arrowstyle": "-|>", "color": "#333", "lw": 1})
            previous = y
    return fig
