"""What chapter 05 shows the reader: its tables with readable names, units and rounding,
and the pieces of its computed sentences.

Display only: the results file keeps the sweep's own keys (``knn_f1``, ``speedup``, ...),
which chapter 06 and the tests read; these functions rename and round copies.
"""

from __future__ import annotations

from typing import Any, Mapping

import pandas as pd

from ..findings import Gap, gap_sentence, is_finite, number_text
from .teachers import TEACHERS

__all__ = ["LABELS", "cost_table_view", "sweep_table_view", "compact_table_view",
           "headline_view", "headline_sentences", "change_sentence"]

# The sweep's keys as the reader sees them; F1 and accuracy are in points (0-100).
LABELS = {
    "split": "train set", "n_train": "training images", "n_extra": "extra images",
    "teacher": "teacher", "student": "student", "dim": "embedding size",
    "params": "parameters (M)", "gflops": "GFLOPs per image",
    "epochs_run": "epochs", "best_epoch": "best epoch", "val_cosine": "validate cosine",
    "fidelity": "fidelity", "knn_accuracy": "kNN accuracy (%)", "knn_f1": "kNN F1 (%)",
    "teacher_f1": "teacher kNN F1 (%)",
    "teacher_dim_f1": "teacher kNN F1 at this size (%)",
    "image_size": "image size (px)", "images_per_s": "images per second",
    "model": "model", "role": "role",
}


def cost_table_view(costs: pd.DataFrame) -> pd.DataFrame:
    """The cost table: parameters in millions, whole-pixel image sizes, rounded speeds,
    "-" where a row has no such number (the VLM teacher's size and FLOPs)."""
    view = costs.assign(params=costs["params"] / 1e6,
                        image_size=costs["image_size"].round().astype("Int64"))
    view = view.round({"params": 2, "gflops": 3, "images_per_s": 1})
    view = view.astype(object).where(view.notna(), "-")
    return view.set_index("model").rename(columns=LABELS)


def sweep_table_view(results: pd.DataFrame) -> pd.DataFrame:
    """One row per cell, indexed by teacher: the columns a reader compares, the
    scores first. Narrow enough for the book's column: a student's parameters are in
    the cost table, so not repeated on every row."""
    cols = ["n_train", "n_extra", "student", "knn_f1", "teacher_f1", "fidelity",
            "val_cosine", "epochs_run"]
    view = results.set_index("teacher")[cols]
    view = view.round({"val_cosine": 3, "fidelity": 3, "knn_f1": 1, "teacher_f1": 1})
    return view.rename(columns=LABELS)


def _number(value: Any, digits: int, missing: str = "-") -> str:
    return number_text(value, digits, missing=missing, grouped=True)


def headline_view(headline: pd.DataFrame | Mapping[str, Mapping[str, Any]]) -> pd.DataFrame:
    """The headline, a column per teacher, a readable row per fact, rounded.

    Takes :func:`sweep.headline`'s table or the ``{teacher: {key: value}}`` the results
    file stores. ``speedup`` repeats one of the two speed-ups shown (which one is what
    ``speedup_basis`` says), so neither is shown; a speed not timed says so.
    """
    if isinstance(headline, Mapping):
        headline = pd.DataFrame.from_dict(dict(headline), orient="index")
        headline = headline.rename_axis("teacher").reset_index()
    rows: dict[str, Any] = {
        "student": lambda r: r["student"],
        "within 1 point of the teacher":
            lambda r: "yes" if r["within"] else "no (the closest shown)",
        "train set": lambda r: r["split"],
        "extra images": lambda r: f"{int(r['n_extra']):,}",
        "embedding size": lambda r: str(int(r["dim"])),
        "student kNN F1 (%)": lambda r: _number(r["student_f1"], 1),
        "teacher kNN F1 (%)": lambda r: _number(r["teacher_f1"], 1),
        "gap to the teacher (points)": lambda r: _number(r["gap"], 1),
        "95% interval of the gap (points)": _gap_interval_text,
        "knn/test images": lambda r: _number(r.get("n_test") or None, 0),
        "student parameters (M)": lambda r: _number(r["params"] / 1e6, 2),
        "parameters, % of CLIP's image tower":
            lambda r: _number(100 * r["params_vs_clip_image"], 1),
        "student images per second": lambda r: _number(r["student_images_per_s"], 0),
        "speed-up over CLIP's image tower (x)":
            lambda r: _number(r["speedup_vs_clip_image"], 1),
        "speed-up over the teacher's own pipeline (x)":
            lambda r: _number(r["speedup_vs_teacher"], 1, missing="not timed"),
    }
    table = {row["teacher"]: {name: show(row) for name, show in rows.items()}
             for _, row in headline.iterrows()}
    # the chapter's order of teachers, whatever order the results file kept
    order = sorted(table, key=lambda t: TEACHERS.index(t) if t in TEACHERS else 99)
    return pd.DataFrame(table)[order].rename_axis(columns="teacher")


def _gap_interval_text(row: Mapping[str, Any]) -> str:
    """'-2.0 to +5.5', or '-' where the results hold no interval (an older file)."""
    low, high = row.get("gap_low"), row.get("gap_high")
    if not (is_finite(low) and is_finite(high)):
        return "-"
    return f"{float(low):+.1f} to {float(high):+.1f}"


def headline_sentences(headline: pd.DataFrame) -> list[str]:
    """The headline in words, per teacher: which student, in which cell (the one chosen
    on ``validate``), how far from its teacher and how fast; then what the test images
    can tell about that gap (:func:`clipdistill.findings.gap_sentence`)."""
    out = []
    for h in headline.to_dict(orient="records"):
        cell = f"{h['split']}, +{int(h['n_extra']):,} extra images"
        if h["within"]:
            verb = "beat it" if h["student_f1"] > h["teacher_f1"] else "come within a point"
            out.append(f"With the `{h['teacher']}` teacher, the smallest student to {verb} "
                       f"is {h['student']} (its cell chosen on `validate`: {cell}), with "
                       f"kNN F1 {h['student_f1']:.1f}% against {h['teacher_f1']:.1f}%; "
                       f"{h['params'] / 1e6:.2f}M parameters, {h['speedup']:.0f}x the "
                       f"speed of the {h['speedup_basis']}.")
        else:
            out.append(f"With the `{h['teacher']}` teacher no student's chosen cell got "
                       f"within a point on these test images; the closest, {h['student']} "
                       f"({cell}), was {h['gap']:.1f} points behind.")
        if is_finite(h.get("gap_low")) and is_finite(h.get("gap_high")) and h.get("n_test"):
            # teacher minus student, the sign of the table's gap and its interval
            gap = Gap(h["gap"], h["gap_low"], h["gap_high"], int(h["n_test"]), "macro_f1")
            out.append(gap_sentence(f"The `{h['teacher']}` teacher", h["student"], gap))
    return out


def change_sentence(results: pd.DataFrame, axis: str) -> str | None:
    """How the students' F1 moved from the smallest to the largest value of ``axis``
    (``n_train`` or ``n_extra``), per teacher: the mean over students and, with more
    than one student, the students that moved least and most. None when not swept."""
    what = {"n_train": "training images", "n_extra": "extra unlabelled images"}[axis]
    if results[axis].nunique() < 2:
        return None
    lo, hi = results[axis].min(), results[axis].max()
    # other swept settings (the other axis, train sets) are averaged over
    wide = results.pivot_table(index=["teacher", "student"], columns=axis,
                               values="knn_f1")
    change = (wide[hi] - wide[lo]).dropna()
    parts = []
    for teacher in dict.fromkeys(results["teacher"]):
        if teacher not in change.index.get_level_values("teacher"):
            continue
        d = change.xs(teacher, level="teacher")
        if len(d) == 1:
            parts.append(f"{d.iloc[0]:+.1f} points for {d.index[0]} with the "
                         f"`{teacher}` teacher")
        else:
            parts.append(f"{d.mean():+.1f} points on average with the `{teacher}` "
                         f"teacher ({d.idxmin()} {d.min():+.1f}, {d.idxmax()} "
                         f"{d.max():+.1f})")
    if not parts:
        return None
    other, other_words = (("n_extra", "extra-image") if axis == "n_train"
                          else ("n_train", "training-set"))
    k = results[other].nunique()
    over = (f" Each change is averaged over the {k} {other_words} sizes swept; a figure "
            "that shows one of them can differ.") if k > 1 else ""
    return (f"From {lo:,} to {hi:,} {what}, the students' kNN F1 changed by "
            + "; ".join(parts) + "." + over)


def compact_table_view(both: pd.DataFrame) -> pd.DataFrame:
    """Full-size students beside their compact twins: a column per embedding size."""
    view = both.pivot_table(index="student", columns="dim",
                            values=["knn_f1", "fidelity", "teacher_dim_f1"])
    view = view.round({c: 1 if c[0].endswith("f1") else 3 for c in view.columns})
    view = view.rename(columns=LABELS, level=0)
    return view.rename_axis(columns=[None, "embedding size"])
