"""Chapter 05's figures: a student keeps one colour and marker in every panel of every
figure, and the one legend says which. Read back from the matplotlib artists, on a small
synthetic sweep whose panels list the students in different orders."""

from __future__ import annotations

import json

import matplotlib
import numpy as np
import pandas as pd
import pytest
from matplotlib.colors import to_rgba

from clipdistill.distill import figures

matplotlib.use("Agg")

# Each teacher's panel meets the students in a different order (and one lacks one).
ORDER = {"image": ["resnet18", "tiny_cnn", "mobilenet_v3_small"],
         "generic": ["mobilenet_v3_small", "vit_tiny", "resnet18", "tiny_cnn"]}
PARAMS = {"tiny_cnn": 1e5, "mobilenet_v3_small": 1.5e6, "resnet18": 1.1e7,
          "vit_tiny": 5.5e6}
SPEED = {"tiny_cnn": 9000.0, "mobilenet_v3_small": 3000.0, "resnet18": 800.0,
         "vit_tiny": 1200.0}
TEACHER_F1 = {"image": 90.0, "generic": 80.0}


@pytest.fixture(autouse=True)
def close_figures():
    yield
    import matplotlib.pyplot as plt

    plt.close("all")


def sweep_table() -> pd.DataFrame:
    """Every F1 distinct, rising in table order, and the validate cosine falling: the
    best test cell is always the last one, the cell chosen on validate the first."""
    rows, f1 = [], 50.0
    for teacher, students in ORDER.items():
        for student in students:
            for n_train in (100, 1000):
                for n_extra in (0, 500):
                    f1 += 0.37
                    rows.append({
                        "split": f"set{n_train}", "n_train": n_train, "n_extra": n_extra,
                        "teacher": teacher, "student": student, "dim": 8,
                        "params": PARAMS[student], "gflops": 0.1, "epochs_run": 2,
                        "best_epoch": 1, "val_cosine": 1 - f1 / 100, "fidelity": f1 / 100,
                        "knn_accuracy": f1, "knn_f1": round(f1, 2),
                        "teacher_f1": TEACHER_F1[teacher],
                        "teacher_dim_f1": TEACHER_F1[teacher],
                        "run_key": f"{teacher}-{student}-{n_train}-{n_extra}"})
    return pd.DataFrame(rows)


def costs_table() -> pd.DataFrame:
    rows = [{"model": s, "role": "student", "images_per_s": v} for s, v in SPEED.items()]
    rows += [{"model": "CLIP image tower", "role": "teacher:image", "images_per_s": 100.0},
             {"model": "VLM alone, generic prompt: vlm (ch. 3)", "role": "teacher:generic",
              "images_per_s": np.nan}]
    return pd.DataFrame(rows)


def _key(xs, ys) -> tuple:
    return (tuple(np.round(np.asarray(xs, float), 4)),
            tuple(np.round(np.asarray(ys, float), 4)))


def drawn(fig, owner: dict) -> dict[str, set]:
    """Student -> the set of (colour, marker) it is drawn with, in every panel; each
    line or point is told apart by its data (``owner``: (xs, ys) -> student)."""
    seen: dict[str, set] = {}
    found: set = set()
    for ax in fig.axes:
        for line in ax.get_lines():
            key = _key(line.get_xdata(), line.get_ydata())
            if key in owner:
                found.add(key)
                seen.setdefault(owner[key], set()).add(
                    (to_rgba(line.get_color()), line.get_marker()))
        for coll in ax.collections:
            (x, y), = coll.get_offsets()
            key = _key([x], [y])
            if key in owner:
                found.add(key)
                seen.setdefault(owner[key], set()).add(
                    (to_rgba(coll.get_facecolor()[0]), None))
    assert found == set(owner), "every student's line or point is drawn"
    return seen


def legend_styles(fig) -> dict[str, tuple]:
    """Legend text -> (colour, marker) of its handle, from the figure's one legend."""
    (legend,) = fig.legends
    return {text.get_text(): (to_rgba(h.get_color()), h.get_marker())
            for text, h in zip(legend.get_texts(), legend.legend_handles)
            if hasattr(h, "get_marker")}


def check_one_style_per_student(fig, owner: dict) -> None:
    seen = drawn(fig, owner)
    legend = legend_styles(fig)
    colours = {}
    for student, styles in seen.items():
        assert len({c for c, _ in styles}) == 1, f"{student} changes colour: {styles}"
        markers = {m for _, m in styles if m is not None}
        assert len(markers) <= 1, f"{student} changes marker: {markers}"
        (entry,) = [k for k in legend if k.split(" (")[0] == student]
        colour, marker = legend[entry]
        assert {c for c, _ in styles} == {colour}, f"legend mislabels {student}"
        assert markers <= {marker}
        colours[student] = colour
    assert len(set(colours.values())) == len(colours), "two students share a colour"


def test_speed_vs_f1_keeps_each_students_colour_in_every_panel():
    df = sweep_table()
    first = df.drop_duplicates(["teacher", "student"], keep="first")  # best on validate
    owner = {_key([SPEED[r.student]], [r.knn_f1]): r.student for r in first.itertuples()}
    fig = figures.speed_vs_f1(df, costs_table())
    check_one_style_per_student(fig, owner)
    # the cell chosen on validate is drawn, never the best test score
    best = df.sort_values("knn_f1").drop_duplicates(["teacher", "student"], keep="last")
    points = {tuple(np.round(c.get_offsets()[0], 4)) for ax in fig.axes for c in ax.collections}
    assert not any((round(SPEED[r.student], 4), round(r.knn_f1, 4)) in points
                   for r in best.itertuples())


@pytest.mark.parametrize("draw, x, fixed", [
    (figures.accuracy_vs_train_size, "n_train", ("n_extra", 0)),
    (figures.accuracy_vs_extra_images, "n_extra", ("split", "set100")),
])
def test_per_student_lines_keep_one_colour_and_marker(draw, x, fixed):
    df = sweep_table()
    rows = df[df[fixed[0]] == fixed[1]].sort_values(x)
    owner = {_key(g[x], g["knn_f1"]): s
             for (_, s), g in rows.groupby(["teacher", "student"])}
    check_one_style_per_student(draw(df), owner)


def test_student_size_markers_keep_each_students_colour():
    df = sweep_table()
    rows = df[df["n_extra"] == 0]
    owner = {_key([r.params], [r.knn_f1]): r.student for r in rows.itertuples()}
    check_one_style_per_student(figures.accuracy_vs_student_size(df), owner)


def test_training_curves_tell_runs_apart(tmp_path):
    df = sweep_table()
    owner, runs = {}, {}
    for i, r in enumerate(df.itertuples()):
        history = [{"epoch": e, "val_cosine": 0.1 * (e + 1) + i / 1000} for e in range(3)]
        done = tmp_path / "distill" / "runs" / r.run_key / "done.json"
        done.parent.mkdir(parents=True)
        done.write_text(json.dumps({"history": history}))
        key = _key([1, 2, 3], [h["val_cosine"] for h in history])
        owner[key], runs[key] = r.student, r
    fig = figures.training_curves(df, tmp_path)
    check_one_style_per_student(fig, owner)
    # within a student: line style by training-set size, opacity by extra images
    styles = {}
    for ax in fig.axes:
        for line in ax.get_lines():
            r = runs[_key(line.get_xdata(), line.get_ydata())]
            styles.setdefault(("ls", r.n_train), set()).add(line.get_linestyle())
            styles.setdefault(("alpha", r.n_extra), set()).add(line.get_alpha())
    assert all(len(v) == 1 for v in styles.values())
    assert styles[("ls", 100)] != styles[("ls", 1000)]
    assert styles[("alpha", 0)] != styles[("alpha", 500)]
    texts = [t.get_text() for t in fig.legends[0].get_texts()]
    assert {"100 training images", "1,000 training images", "+0 extra images",
            "+500 extra images"} <= set(texts)


def test_styles_follow_the_package_order_not_the_table_order():
    a = figures.student_styles(["resnet18", "tiny_cnn"])
    b = figures.student_styles(["tiny_cnn", "vit_tiny", "resnet18"])
    assert a["resnet18"] == b["resnet18"] and a["tiny_cnn"] == b["tiny_cnn"]
    assert list(b) == ["tiny_cnn", "resnet18", "vit_tiny"]  # the package's order


def test_fidelity_figure_says_which_student_each_point_is():
    """Colour is the teacher's in this figure, so the marker must name the student: one
    marker per student in the legend, one group of points per teacher and student, and
    the dashed line named as the headline's one-point margin."""
    df = sweep_table()
    fig = figures.fidelity_figure(df)
    texts = [t.get_text() for t in fig.legends[0].get_texts()]
    assert set(df["student"]) <= set(texts) and "1-point margin" in texts
    right = fig.axes[1]
    assert len(right.collections) == df.groupby(["teacher", "student"]).ngroups
    styles = figures.student_styles(df["student"])
    legend = legend_styles(fig)
    assert all(legend[s][1] == styles[s]["marker"] for s in styles)
