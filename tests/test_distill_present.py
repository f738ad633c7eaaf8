"""Chapter 05's tables as the reader sees them: readable names, units, rounding, no
duplicate column; the results file's keys untouched. And its computed sentences."""

from __future__ import annotations

import json

import numpy as np
import pandas as pd
import pytest

from clipdistill.config import resolve
from clipdistill.distill import headline, headline_metrics, present
from clipdistill.distill.sweep import SweepSpec


def _headline() -> pd.DataFrame:
    rows = [dict(teacher=t, student=s, dim=512, split="knn", n_extra=0, knn_f1=f1,
                 teacher_f1=tf1, params=p, val_cosine=0.5)
            for t, tf1 in (("image", 61.1), ("generic", 70.0))
            for s, p, f1 in (("tiny_cnn", 123456, 60.53134), ("resnet18", 11e6, 60.0))]
    costs = pd.DataFrame([
        {"model": "tiny_cnn", "role": "student", "params": 123456, "images_per_s": 1595.167679},
        {"model": "resnet18", "role": "student", "params": 11e6, "images_per_s": 300.0},
        {"model": "CLIP", "role": "teacher:image", "params": 8.8e7, "images_per_s": 40.0},
        {"model": "VLM", "role": "teacher:generic", "params": np.nan, "images_per_s": np.nan},
    ])
    return headline(pd.DataFrame(rows), costs)


def test_headline_view_is_readable_and_the_same_from_the_results_file():
    table = _headline()
    view = present.headline_view(table)
    # the results file's keys stay as they were; chapter 06 reads them back
    stored = json.loads(json.dumps(headline_metrics(table), sort_keys=True))
    assert {"speedup", "speedup_basis", "speedup_vs_teacher"} <= set(stored["image"])
    pd.testing.assert_frame_equal(present.headline_view(stored), view)
    assert list(view.columns) == ["image", "generic"]
    shown = " ".join(view.index)
    assert "_" not in shown and "speedup" not in shown  # readable, no duplicate
    assert "student kNN F1 (%)" in view.index
    assert view.loc["student images per second", "image"] == "1,595"
    assert view.loc["student kNN F1 (%)", "generic"] == "60.5"
    assert view.loc["speed-up over the teacher's own pipeline (x)", "generic"] == "not timed"
    assert view.loc["within 1 point of the teacher", "image"] == "yes"
    assert view.loc["within 1 point of the teacher", "generic"].startswith("no")
    # no per-image predictions here (nor in an older results file): no interval to show
    assert view.loc["95% interval of the gap (points)", "image"] == "-"
    assert view.loc["knn/test images", "image"] == "-"


def _with_predictions(student_pred: list[int]) -> pd.DataFrame:
    """One image-teacher cell on 20 test images; the teacher misses one of them."""
    from clipdistill.zeroshot import classification_report

    labels = [0] * 10 + [1] * 10
    teacher = [1] + labels[1:]
    f1 = lambda pred: 100 * classification_report(labels, pred, ["cat", "dog"])["macro_f1"]  # noqa: E731
    row = dict(teacher="image", student="tiny_cnn", dim=512, split="cat_dog_1k", n_extra=48,
               knn_f1=f1(student_pred), teacher_f1=f1(teacher), val_cosine=0.5,
               params=123456, knn_pred=student_pred, teacher_pred=teacher, test_labels=labels)
    costs = pd.DataFrame([
        {"model": "tiny_cnn", "role": "student", "params": 123456, "images_per_s": 1600.0},
        {"model": "CLIP", "role": "teacher:image", "params": 8.8e7, "images_per_s": 40.0}])
    return headline(pd.DataFrame([row]), costs)


def test_the_headline_says_which_cell_and_what_the_test_images_can_tell():
    labels = [0] * 10 + [1] * 10
    close = _with_predictions([1] + labels[1:])  # the teacher's own mistake: gap 0
    view = present.headline_view(close)
    assert view.loc["knn/test images", "image"] == "20"
    assert view.loc["95% interval of the gap (points)", "image"] == "+0.0 to +0.0"
    said = present.headline_sentences(close)
    assert said[0].startswith("With the `image` teacher, the smallest student to come "
                              "within a point is tiny_cnn (its cell chosen on `validate`: "
                              "cat_dog_1k, +48 extra images)")
    assert "40x the speed of the CLIP image tower" in said[0]
    assert said[1] == ("The `image` teacher and tiny_cnn scored the same on these 20 test "
                       "images, and on every resample of them.")
    far = _with_predictions([1 - y for y in labels])  # every image wrong
    h = far.iloc[0]
    assert not h["within"] and h["gap_low"] > 0
    said = present.headline_sentences(far)
    assert said[0].startswith("With the `image` teacher no student's chosen cell got within "
                              "a point on these test images; the closest, tiny_cnn (cat_dog_1k, +48 extra images)")
    # in the table's sign: teacher minus student, as its interval row
    assert said[1].startswith(f"The `image` teacher scored {h['gap']:.1f} F1 points above "
                              f"tiny_cnn (95% interval {h['gap_low']:+.1f} to "
                              f"{h['gap_high']:+.1f}, 20 test images)")
    assert present.headline_view(far).loc["95% interval of the gap (points)", "image"] == (
        f"{h['gap_low']:+.1f} to {h['gap_high']:+.1f}")
    # the results file keeps the interval, and the view reads it back the same
    stored = json.loads(json.dumps(headline_metrics(far)))
    pd.testing.assert_frame_equal(present.headline_view(stored), present.headline_view(far))


def test_cost_table_view_shows_whole_pixels_and_millions():
    costs = pd.DataFrame([
        {"model": "tiny_cnn", "role": "student", "image_size": 64.0, "params": 123456.0,
         "gflops": 0.012345, "images_per_s": 1595.167679},
        {"model": "VLM", "role": "teacher:generic", "image_size": np.nan,
         "params": np.nan, "gflops": np.nan, "images_per_s": np.nan}])
    view = present.cost_table_view(costs)
    assert view.index.tolist() == ["tiny_cnn", "VLM"]
    assert view["image size (px)"].tolist()[0] == 64
    assert view.loc["VLM"].tolist()[1:] == ["-"] * 4  # no <NA> or NaN on the page
    assert view["parameters (M)"].tolist()[0] == pytest.approx(0.12)
    assert view["images per second"].tolist()[0] == pytest.approx(1595.2)


def _sweep() -> pd.DataFrame:
    """Two students; both axes move the mean F1 by exactly +6 points."""
    rows = []
    for student, base in (("tiny_cnn", 50.0), ("resnet18", 60.0)):
        for n_train in (100, 1000):
            for n_extra in (0, 500):
                bump = (4.0 if student == "tiny_cnn" else 8.0) * (n_train == 1000)
                bump += (2.0 if student == "tiny_cnn" else 10.0) * (n_extra == 500)
                rows.append(dict(teacher="image", student=student, n_train=n_train,
                                 n_extra=n_extra, knn_f1=base + bump))
    return pd.DataFrame(rows)


def test_the_two_change_sentences_tell_the_axes_apart_when_means_agree():
    df = _sweep()
    train = present.change_sentence(df, "n_train")
    extra = present.change_sentence(df, "n_extra")
    assert "From 100 to 1,000 training images" in train and "+6.0 points on average" in train
    assert "From 0 to 500 extra unlabelled images" in extra and "+6.0" in extra
    assert "tiny_cnn +4.0" in train and "resnet18 +8.0" in train
    assert "tiny_cnn +2.0" in extra and "resnet18 +10.0" in extra
    assert present.change_sentence(df[df["n_extra"] == 0], "n_extra") is None
    # Each sentence says it averaged over the other axis, which a figure may show one slice of.
    assert "averaged over the 2 extra-image sizes swept" in train
    assert "averaged over the 2 training-set sizes swept" in extra
    alone = present.change_sentence(df[df["n_extra"] == 0], "n_train")
    assert "averaged" not in alone


def test_the_questions_left_open_are_whole_sentences():
    cpu = SweepSpec.from_config(resolve("quick", accelerator=False,
                                        weights_reachable=(True, "")))
    left = cpu.unanswered()
    assert left and all(":" not in q and q[0].isupper() and q.endswith(".") for q in left)


def test_the_sweep_table_fits_the_column_without_the_cost_tables_parameters():
    rows = pd.DataFrame([dict(split="knn", n_train=200, n_extra=0, teacher="image",
                              student="mobilenet_v3_small", dim=512, params=2.04e6,
                              gflops=0.1, epochs_run=8, best_epoch=7, val_cosine=0.81234,
                              fidelity=0.80123, knn_accuracy=90.0, knn_f1=89.95,
                              teacher_f1=95.04, teacher_dim_f1=95.04, run_key="k")])
    view = present.sweep_table_view(rows)
    assert list(view.columns) == ["training images", "extra images", "student", "kNN F1 (%)",
                                  "teacher kNN F1 (%)", "fidelity", "validate cosine",
                                  "epochs"]
    assert view.index.name == "teacher" and view["validate cosine"].iloc[0] == 0.812
