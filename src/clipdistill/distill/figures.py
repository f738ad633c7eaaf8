"""Chapter 05's figures. Each function takes the sweep's DataFrame and returns a Figure
(one panel per teacher); the notebook shows it and saves it with ``cd.save_figure``.

Every figure draws a student in the same colour and marker (:func:`student_styles`), and
builds its one legend from that mapping, below the panels where it covers no data.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any, Iterable

import pandas as pd

from .students import student_names

__all__ = [
    "student_styles",
    "accuracy_vs_student_size",
    "accuracy_vs_train_size",
    "accuracy_vs_extra_images",
    "fidelity_figure",
    "training_curves",
    "speed_vs_f1",
    "projection_energy",
    "pipeline",
]

# Students take the first colours (matplotlib's tab10 order); teachers, drawn only where
# no student is, take colours no student has, so neither is mistaken for the other.
STUDENT_COLOURS = ("#1f77b4", "#ff7f0e", "#2ca02c", "#d62728", "#e377c2", "#bcbd22",
                   "#17becf", "#7f7f7f")
MARKERS = ("o", "s", "^", "D", "v", "P", "X", "h")
TEACHER_COLOURS = {"image": "#222222", "generic": "#9467bd", "specific": "#8c564b"}
F1_LABEL = "kNN macro F1 on knn/test (%)"
BAND_ALPHA = 0.1


def student_styles(students: Iterable[str]) -> dict[str, dict[str, str]]:
    """Each student's colour and marker, fixed by its place in the package's list of
    students (tiny to small), not by the order a table lists it: a student looks the
    same in every panel and every figure. Ordered as that list; unknown names last."""
    present = set(students)
    order = student_names() + sorted(present - set(student_names()))
    return {s: {"color": STUDENT_COLOURS[i % len(STUDENT_COLOURS)],
                "marker": MARKERS[i % len(MARKERS)]}
            for i, s in enumerate(order) if s in present}


def _student_handles(styles: dict[str, dict[str, str]], labels: dict[str, str] | None = None,
                     line: bool = True, hollow: bool = False) -> list:
    from matplotlib.lines import Line2D

    face = {"mfc": "none", "mew": 1.6} if hollow else {}
    return [Line2D([], [], ls="-" if line else "none", label=(labels or {}).get(s, s),
                   **face, **st)
            for s, st in styles.items()]


def _teacher_handles() -> list:
    from matplotlib.lines import Line2D
    from matplotlib.patches import Patch

    return [Line2D([], [], color="k", ls="--", lw=1, label="teacher's F1"),
            Patch(color="k", alpha=BAND_ALPHA, lw=0, label="within 1 point of it")]


def _titled(title: str, smoke: bool) -> str:
    return title + (" (smoke: random weights)" if smoke else "")


def _panels(df: pd.DataFrame, height: float = 3.9):
    """One panel per teacher, the whole figure about 7.6 inches wide (the book's column)."""
    import matplotlib.pyplot as plt

    teachers = list(dict.fromkeys(df["teacher"]))
    width = min(4.2, 7.6 / len(teachers))
    fig, axes = plt.subplots(1, len(teachers), figsize=(width * len(teachers), height),
                             squeeze=False, sharey=True, layout="constrained")
    return fig, list(zip(teachers, axes[0]))


def _count(n: float) -> str:
    n = float(n)
    for div, suffix in ((1e6, "M"), (1e3, "K")):
        if n >= div:
            return f"{n / div:.3g}{suffix}"
    return f"{n:.3g}"


def _ticks(ax: Any, values: Any) -> None:
    """Ticks exactly at the swept values (1K, 10K, ...), no crowded minor labels."""
    from matplotlib.ticker import FixedLocator, NullLocator

    values = sorted(set(float(v) for v in values))
    ax.xaxis.set_major_locator(FixedLocator(values))
    ax.xaxis.set_minor_locator(NullLocator())
    ax.set_xticklabels([_count(v) for v in values])


def _teacher_line(ax: Any, group: pd.DataFrame) -> float:
    """The teacher's F1 dashed, the band one point below it; its value goes in the title."""
    f1 = float(group["teacher_f1"].iloc[0])
    ax.axhline(f1, color="k", ls="--", lw=1, zorder=1)
    ax.axhspan(f1 - 1, f1, color="k", alpha=BAND_ALPHA, lw=0, zorder=0)
    return f1


def _legend(fig: Any, handles: list) -> None:
    """One legend for the figure, under the panels: it can never cover a point."""
    fig.legend(handles=handles, loc="outside lower center", ncol=min(len(handles), 3),
               fontsize=9, frameon=False)


def _finish(fig: Any, axes: list, f1s: dict[str, float], xlabel: str, title: str,
            handles: list) -> Any:
    """Panel titles with the teacher's F1 (not a label on the plot, which could cover a
    point or the frame), axis labels, the one legend and the figure's title."""
    for i, (teacher, ax) in enumerate(axes):
        ax.set_title(f"teacher: {teacher} (F1 {f1s[teacher]:.1f}%)", fontsize=10)
        ax.set_xlabel(xlabel)
        ax.grid(alpha=0.3)
        if i == 0:
            ax.set_ylabel(F1_LABEL)
    _legend(fig, handles)
    fig.suptitle(title)
    return fig


def _split_styles(keys: Iterable[Any]) -> dict[Any, str]:
    """A line style per training set, in order of appearance (up to four read apart)."""
    styles = ("-", "--", ":", "-.")
    return {k: styles[i % len(styles)] for i, k in enumerate(dict.fromkeys(keys))}


def accuracy_vs_student_size(df: pd.DataFrame, *, n_extra: int | None = None,
                             smoke: bool = False):
    """F1 against parameters (log scale): a grey line per training set through the
    students, each student's marker in its own colour; the teacher dashed."""
    from matplotlib.lines import Line2D

    n_extra = int(df["n_extra"].min()) if n_extra is None else n_extra
    styles = student_styles(df["student"])
    sets = df[["split", "n_train"]].drop_duplicates().itertuples(index=False)
    dashes = _split_styles(tuple(s) for s in sets)
    fig, axes = _panels(df)
    f1s = {}
    for teacher, ax in axes:
        g = df[(df["teacher"] == teacher) & (df["n_extra"] == n_extra)]
        for key, line in g.groupby(["split", "n_train"], sort=False):
            line = line.sort_values("params")
            ax.plot(line["params"], line["knn_f1"], color="0.55", lw=1,
                    ls=dashes[tuple(key)], zorder=2)
            for _, r in line.iterrows():
                ax.plot(r["params"], r["knn_f1"], ls="none", ms=7, zorder=3,
                        **styles[r["student"]])
        f1s[teacher] = _teacher_line(ax, df[df["teacher"] == teacher])
        ax.set_xscale("log")
        _ticks(ax, g["params"])
        ax.margins(x=0.15)
    handles = _student_handles(styles, line=False) + [
        Line2D([], [], color="0.55", lw=1, ls=ls,
               label=f"train set {split} ({n_train:,} images)")
        for (split, n_train), ls in dashes.items()] + _teacher_handles()
    title = _titled(f"Accuracy against student size (+{n_extra:,} extra images)",
                    smoke)
    return _finish(fig, axes, f1s, "student parameters (log scale)", title, handles)


def _per_student(df: pd.DataFrame, x: str, column: str, value: Any, xlabel: str,
                 title: str):
    """F1 against ``x``, a line per student, over the rows where ``column == value``."""
    styles = student_styles(df["student"])
    fig, axes = _panels(df)
    f1s = {}
    for teacher, ax in axes:
        g = df[(df["teacher"] == teacher) & (df[column] == value)]
        for student, line in g.groupby("student", sort=False):
            line = line.sort_values(x)
            # hollow markers: two students at the same point both stay visible
            ax.plot(line[x], line["knn_f1"], ms=7, mfc="none", mew=1.6, zorder=3,
                    **styles[student])
        f1s[teacher] = _teacher_line(ax, df[df["teacher"] == teacher])
        positive = g[x][g[x] > 0]
        # symlog keeps 0 (no extra images) on an otherwise logarithmic axis
        ax.set_xscale("symlog",
                      linthresh=float(positive.min()) if len(positive) else 1.0)
        _ticks(ax, g[x])
        ax.margins(x=0.1)
    handles = _student_handles(styles, hollow=True) + _teacher_handles()
    return _finish(fig, axes, f1s, xlabel, title, handles)


def accuracy_vs_train_size(df: pd.DataFrame, *, n_extra: int | None = None,
                           smoke: bool = False):
    """F1 against the number of labelled-set training images, a line per student."""
    n_extra = int(df["n_extra"].min()) if n_extra is None else n_extra
    title = f"Accuracy against training-set size (+{n_extra:,} extra images)"
    return _per_student(df, "n_train", "n_extra", n_extra,
                        "training images (cat/dog split)", _titled(title, smoke))


def accuracy_vs_extra_images(df: pd.DataFrame, *, split: str | None = None,
                             smoke: bool = False):
    """F1 against the number of extra unlabelled images, a line per student."""
    split = df["split"].iloc[0] if split is None else split
    title = f"Accuracy against extra unlabelled images (train set {split})"
    return _per_student(df, "n_extra", "split", split, "extra unlabelled images",
                        _titled(title, smoke))


def fidelity_figure(df: pd.DataFrame, *, smoke: bool = False):
    """Left: fidelity (mean cosine to the teacher) per student size, a line per teacher.
    Right: does fidelity buy accuracy? F1 gap to the teacher against fidelity, every
    cell. The left panel shows each student's cell chosen on ``validate``
    (:func:`sweep.chosen_cells`). Colours are the teachers' here (none is a student's);
    markers are the students', as in every other figure of the chapter."""
    import matplotlib.pyplot as plt
    from matplotlib.lines import Line2D

    from .sweep import chosen_cells

    styles = student_styles(df["student"])
    fig, (a, b) = plt.subplots(1, 2, figsize=(7.6, 3.6), layout="constrained")
    for teacher, g in df.groupby("teacher", sort=False):
        colour = TEACHER_COLOURS.get(teacher, "0.4")
        chosen = chosen_cells(g).sort_values("params")  # on validate, as the headline
        a.plot(chosen["params"], chosen["fidelity"], "-", color=colour,
               label=f"teacher: {teacher}")
        for student, s in g.groupby("student", sort=False):
            mine = chosen[chosen["student"] == student]
            a.plot(mine["params"], mine["fidelity"], ls="none", color=colour, ms=7,
                   mfc="none", mew=1.6, marker=styles[student]["marker"])
            b.scatter(s["fidelity"], s["teacher_f1"] - s["knn_f1"], s=30, edgecolors=colour,
                      facecolors="none", linewidths=1.3, marker=styles[student]["marker"])
    a.set_xscale("log")
    _ticks(a, df["params"])
    a.margins(x=0.15)
    a.set_xlabel("student parameters (log scale)")
    a.set_ylabel("fidelity (chosen cell)")
    a.set_title("how well the student copies", fontsize=10)
    b.axhline(1, color="k", ls="--", lw=1, label="1-point margin")
    b.set_xlabel("fidelity on knn/test")
    b.set_ylabel("teacher F1 - student F1 (% points)")
    b.set_title("fidelity against the F1 gap", fontsize=10)
    for ax in (a, b):
        ax.grid(alpha=0.3)
    students = [Line2D([], [], ls="none", marker=st["marker"], color="0.35", mfc="none",
                       label=name) for name, st in styles.items()]
    _legend(fig, a.get_legend_handles_labels()[0] + students
            + b.get_legend_handles_labels()[0])
    fig.suptitle(_titled("Fidelity", smoke))
    return fig


def _curve_styles(df: pd.DataFrame) -> tuple[dict[int, str], dict[int, float]]:
    """Training curves: a line style per training-set size, an opacity per number of
    extra images (faint: none; solid: the most)."""
    sizes = _split_styles(sorted(df["n_train"].unique()))
    extras = sorted(df["n_extra"].unique())
    step = 0.65 / max(len(extras) - 1, 1)
    alphas = {n: (0.35 + step * i if len(extras) > 1 else 0.9)
              for i, n in enumerate(extras)}
    return sizes, alphas


def training_curves(df: pd.DataFrame, work_dir: str | Path, *, smoke: bool = False):
    """Validate cosine per epoch of every run (from each run's ``done.json``): colour
    and marker by student, line style by training-set size, opacity by extra images."""
    from matplotlib.lines import Line2D
    from matplotlib.ticker import MaxNLocator

    styles = student_styles(df["student"])
    sizes, alphas = _curve_styles(df)
    fig, axes = _panels(df)
    for teacher, ax in axes:
        for _, r in df[df["teacher"] == teacher].iterrows():
            done = Path(work_dir) / "distill" / "runs" / r["run_key"] / "done.json"
            if not done.is_file():
                continue
            hist = json.loads(done.read_text())["history"]
            ax.plot([h["epoch"] + 1 for h in hist], [h["val_cosine"] for h in hist],
                    lw=1.3, ms=4, ls=sizes[r["n_train"]], alpha=alphas[r["n_extra"]],
                    **styles[r["student"]])
        ax.set_title(f"teacher: {teacher}", fontsize=10)
        ax.set_xlabel("epoch")
        ax.xaxis.set_major_locator(MaxNLocator(integer=True))
        ax.grid(alpha=0.3)
    axes[0][1].set_ylabel("cosine to the teacher on validate")
    handles = _student_handles(styles) + [
        Line2D([], [], color="0.3", ls=ls, label=f"{n:,} training images")
        for n, ls in sizes.items()] + [
        Line2D([], [], color="0.3", alpha=al, lw=2.5, label=f"+{n:,} extra images")
        for n, al in alphas.items()]
    _legend(fig, handles)
    fig.suptitle(_titled("Training: the student's cosine to its teacher", smoke))
    return fig


def speed_vs_f1(df: pd.DataFrame, costs: pd.DataFrame, *, smoke: bool = False):
    """The headline as a picture: the kNN F1 of each student's cell chosen on
    ``validate`` (:func:`sweep.chosen_cells`, as the headline) against its images/s, one
    panel per teacher, the teacher itself a star at its own speed (a description teacher
    whose VLM was not timed is drawn at CLIP's image tower, and says so)."""
    import numpy as np
    from matplotlib.lines import Line2D

    from .sweep import chosen_cells

    speed = costs.set_index("model")["images_per_s"]
    clip = costs[costs["role"] == "teacher:image"].iloc[0]
    styles = student_styles(df["student"])
    fig, axes = _panels(df)
    f1s = {}
    for teacher, ax in axes:
        group = df[df["teacher"] == teacher]
        for row in chosen_cells(group).itertuples():
            st = styles[row.student]
            ax.scatter(speed.get(row.student, np.nan), row.knn_f1, s=45, zorder=3,
                       color=st["color"], marker=st["marker"])
        own = costs[costs["role"] == f"teacher:{teacher}"]
        ips = float(own["images_per_s"].iloc[0]) if len(own) else np.nan
        timed = np.isfinite(ips)
        x, y = (ips if timed else clip["images_per_s"]), group["teacher_f1"].iloc[0]
        ax.scatter(x, y, marker="*", s=220, color="k", zorder=4)
        if not timed:
            ax.annotate("not timed:\nat CLIP's speed", (x, y), xytext=(0, -10),
                        textcoords="offset points", ha="center", va="top", fontsize=8)
        f1s[teacher] = _teacher_line(ax, group)
        ax.set_xscale("log")
        ax.margins(x=0.15, y=0.12)
    params = df.drop_duplicates("student").set_index("student")["params"]
    labels = {s: f"{s} ({params[s] / 1e6:.2f}M)" for s in styles}
    star = Line2D([], [], ls="none", marker="*", ms=12, color="k",
                  label="teacher (its own speed)")
    handles = _student_handles(styles, labels, line=False) + [star]
    handles += _teacher_handles()
    title = _titled("Speed against kNN F1: each student's cell chosen on validate", smoke)
    return _finish(fig, axes, f1s, "images per second (log scale)", title, handles)


def projection_energy(targets: Any, dim: int):
    """How much of the teacher's embeddings ``dim`` directions keep: the cumulative share
    of the targets' squared length along the top singular directions, ``dim`` marked."""
    import matplotlib.pyplot as plt
    import numpy as np

    x = np.asarray(targets, dtype=np.float64)
    energy = np.linalg.svd(x, compute_uv=False) ** 2
    share = np.cumsum(energy) / energy.sum()
    fig, ax = plt.subplots(figsize=(6, 3.2))
    ax.plot(np.arange(1, len(share) + 1), share, color="#4c72b0")
    kept = share[min(dim, len(share)) - 1]
    ax.axvline(dim, color="grey", ls=":", lw=1)
    ax.annotate(f"{dim} directions keep {kept:.1%}", xy=(dim, kept), xytext=(8, -14),
                textcoords="offset points", fontsize=8)
    ax.set_xscale("log")
    ax.set_xlabel("top singular directions of the training targets (log scale)")
    ax.set_ylabel("share of squared length kept")
    ax.set_ylim(0, 1.02)
    ax.grid(alpha=0.3)
    ax.set_title(f"{len(x)} teacher embeddings, {x.shape[1]}-d")
    fig.tight_layout()
    return fig


def pipeline():
    """Chapter 05's method: teacher targets, a student that learns them, the same kNN test."""
    from ..plots import pipeline as sketch

    return sketch([
        ("teacher", ["training image", "CLIP image tower, or VLM + text tower",
                     "target embedding"]),
        ("student", ["the same image", "small network", "embedding", "cosine loss vs target"]),
        ("test", ["knn/train, knn/test", "trained student", "embeddings", "kNN vote",
                  "F1 vs the teacher's"]),
    ], title="Distillation: no labels in training; the teacher's kNN test at the end")
