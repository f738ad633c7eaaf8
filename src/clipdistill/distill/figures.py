"""Chapter 05's figures. Each function takes the sweep's DataFrame and returns a Figure
(one panel per teacher); the notebook shows it and saves it with ``cd.save_figure``."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pandas as pd

__all__ = [
    "accuracy_vs_student_size",
    "accuracy_vs_train_size",
    "accuracy_vs_extra_images",
    "fidelity_figure",
    "training_curves",
    "speed_vs_f1",
    "projection_energy",
    "pipeline",
]


def _panels(df: pd.DataFrame, width: float = 4.2, height: float = 3.4):
    import matplotlib.pyplot as plt

    teachers = list(dict.fromkeys(df["teacher"]))
    fig, axes = plt.subplots(1, len(teachers), figsize=(width * len(teachers), height),
                             squeeze=False, sharey=True)
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


def _teacher_line(ax: Any, group: pd.DataFrame) -> None:
    f1 = float(group["teacher_f1"].iloc[0])
    ax.axhline(f1, color="k", ls="--", lw=1, label="teacher (band: -1 point)")
    ax.annotate(f"teacher {f1:.1f}", xy=(1, f1), xycoords=("axes fraction", "data"),
                xytext=(-3, 3), textcoords="offset points", ha="right", fontsize=7)
    ax.axhspan(f1 - 1, f1, color="k", alpha=0.07, lw=0)  # "within 1 F1 point"


def _finish(fig: Any, axes: list, xlabel: str, title: str) -> Any:
    for i, (teacher, ax) in enumerate(axes):
        ax.set_title(f"teacher: {teacher}")
        ax.set_xlabel(xlabel)
        ax.grid(alpha=0.3)
        if i == 0:
            ax.set_ylabel("kNN macro F1 on knn/test")
    axes[-1][1].legend(fontsize=7, loc="best")
    fig.suptitle(title)
    fig.tight_layout()
    return fig


def accuracy_vs_student_size(df: pd.DataFrame, *, n_extra: int | None = None):
    """F1 against parameters (log scale), a line per train size; the teacher dashed."""
    n_extra = int(df["n_extra"].min()) if n_extra is None else n_extra
    fig, axes = _panels(df)
    for teacher, ax in axes:
        g = df[(df["teacher"] == teacher) & (df["n_extra"] == n_extra)]
        for (split, n_train), line in g.groupby(["split", "n_train"], sort=False):
            line = line.sort_values("params")
            ax.plot(line["params"], line["knn_f1"], "o-", label=f"{split} ({n_train} images)")
            for _, r in line.iterrows():
                ax.annotate(r["student"], (r["params"], r["knn_f1"]), fontsize=6,
                            xytext=(3, 3), textcoords="offset points")
        _teacher_line(ax, df[df["teacher"] == teacher])
        ax.set_xscale("log")
        _ticks(ax, g["params"])
        ax.margins(x=0.15)
    return _finish(fig, axes, "student parameters", f"accuracy vs student size (+{n_extra} extra images)")


def _per_student(df: pd.DataFrame, x: str, column: str, value: Any, xlabel: str, title: str):
    """F1 against ``x``, a line per student, over the rows where ``column == value``."""
    fig, axes = _panels(df)
    for teacher, ax in axes:
        g = df[(df["teacher"] == teacher) & (df[column] == value)]
        for student, line in g.groupby("student", sort=False):
            line = line.sort_values(x)
            ax.plot(line[x], line["knn_f1"], "o-", label=student)
        _teacher_line(ax, df[df["teacher"] == teacher])
        positive = g[x][g[x] > 0]
        # symlog keeps 0 (no extra images) on an otherwise logarithmic axis
        ax.set_xscale("symlog", linthresh=float(positive.min()) if len(positive) else 1.0)
        _ticks(ax, g[x])
        ax.margins(x=0.1)
    return _finish(fig, axes, xlabel, title)


def accuracy_vs_train_size(df: pd.DataFrame, *, n_extra: int | None = None):
    """F1 against the number of labelled-set training images, a line per student."""
    n_extra = int(df["n_extra"].min()) if n_extra is None else n_extra
    return _per_student(df, "n_train", "n_extra", n_extra, "training images (cat/dog split)",
                        f"accuracy vs train size (+{n_extra} extra images)")


def accuracy_vs_extra_images(df: pd.DataFrame, *, split: str | None = None):
    """F1 against the number of extra unlabelled images."""
    split = df["split"].iloc[0] if split is None else split
    return _per_student(df, "n_extra", "split", split, "extra unlabelled images",
                        f"accuracy vs extra data ({split})")


def fidelity_figure(df: pd.DataFrame):
    """Left: fidelity (mean cosine to the teacher) per student size, a line per teacher.
    Right: does fidelity buy accuracy? F1 gap to the teacher against fidelity, every cell."""
    import matplotlib.pyplot as plt

    fig, (a, b) = plt.subplots(1, 2, figsize=(9.5, 3.6))
    for teacher, g in df.groupby("teacher", sort=False):
        best = g.groupby("params", as_index=False)["fidelity"].max().sort_values("params")
        a.plot(best["params"], best["fidelity"], "o-", label=teacher)
        b.scatter(g["fidelity"], g["teacher_f1"] - g["knn_f1"], s=18, label=teacher)
    a.set_xscale("log")
    _ticks(a, df["params"])
    a.margins(x=0.15)
    a.set_xlabel("student parameters")
    a.set_ylabel("fidelity (best cell)")
    a.set_title("how well the student copies the teacher")
    b.axhline(1, color="k", ls="--", lw=1)
    b.set_xlabel("fidelity on knn/test")
    b.set_ylabel("teacher F1 - student F1 (points)")
    b.set_title("fidelity vs accuracy gap")
    for ax in (a, b):
        ax.grid(alpha=0.3)
        ax.legend(fontsize=7)
    fig.tight_layout()
    return fig


def training_curves(df: pd.DataFrame, work_dir: str | Path):
    """Validate cosine per epoch of every run (from each run's ``done.json``), a colour per
    student: the spread within a colour is the train sets and extra-image counts."""
    import matplotlib.pyplot as plt
    from matplotlib.ticker import MaxNLocator

    colours = {s: plt.get_cmap("tab10")(i % 10) for i, s in enumerate(dict.fromkeys(df["student"]))}
    fig, axes = _panels(df)
    for teacher, ax in axes:
        seen: set[str] = set()
        for _, r in df[df["teacher"] == teacher].iterrows():
            done = Path(work_dir) / "distill" / "runs" / r["run_key"] / "done.json"
            if not done.is_file():
                continue
            hist = json.loads(done.read_text())["history"]
            ax.plot([h["epoch"] + 1 for h in hist], [h["val_cosine"] for h in hist], lw=1,
                    color=colours[r["student"]], alpha=0.8,
                    label=None if r["student"] in seen else r["student"])
            seen.add(r["student"])
        ax.set_title(f"teacher: {teacher}")
        ax.set_xlabel("epoch")
        ax.xaxis.set_major_locator(MaxNLocator(integer=True))
        ax.grid(alpha=0.3)
    axes[0][1].set_ylabel("validate cosine")
    axes[-1][1].legend(fontsize=7)
    fig.suptitle("training: student-teacher cosine on validate")
    fig.tight_layout()
    return fig


def speed_vs_f1(df: pd.DataFrame, costs: pd.DataFrame):
    """The headline as a picture: each student's best kNN F1 against its images/s, one
    panel per teacher, the teacher itself a star at its own speed (a description teacher
    without a VLM timing sits at CLIP's image tower: a ceiling on its speed)."""
    import numpy as np

    speed = costs.set_index("model")["images_per_s"]
    clip = costs[costs["role"] == "teacher:image"].iloc[0]
    fig, axes = _panels(df)
    for teacher, ax in axes:
        group = df[df["teacher"] == teacher]
        best = group.sort_values("knn_f1", ascending=False).drop_duplicates("student")
        for i, row in enumerate(best.itertuples()):
            ax.scatter(speed.get(row.student, np.nan), row.knn_f1, s=40, color=f"C{i}",
                       zorder=3, label=f"{row.student} ({row.params / 1e6:.2f}M)")
        own = costs[costs["role"] == f"teacher:{teacher}"]
        ips = float(own["images_per_s"].iloc[0]) if len(own) else np.nan
        timed = np.isfinite(ips)
        ax.scatter(ips if timed else clip["images_per_s"], group["teacher_f1"].iloc[0],
                   marker="*", s=220, color="k", zorder=4,
                   label="teacher" + ("" if timed else " (at most CLIP's speed)"))
        ax.axhspan(group["teacher_f1"].iloc[0] - 1, group["teacher_f1"].iloc[0], color="k",
                   alpha=0.07, lw=0)
        ax.set_xscale("log")
    return _finish(fig, axes, "images per second (log scale)",
                   "Speed against kNN F1: the best cell of each student")


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
