"""Zero-shot classifier parity with open_clip, kNN parity with scikit-learn, metrics, plots."""

from __future__ import annotations

import matplotlib

matplotlib.use("Agg")

import numpy as np
import open_clip
import pytest
import torch
from sklearn.metrics import classification_report as sk_report
from sklearn.neighbors import KNeighborsClassifier

from clipdistill import models, plots, zeroshot
from tiny_clip import TINY, make_images, register

CLASSES = ["cat", "dog", "bird", "horse", "airplane", "truck", "ship", "frog", "deer", "car", "bus"]
TEMPLATES = ["a photo of a {}.", "a blurry photo of a {}.", "{}", "art of the {}."]


@pytest.fixture(scope="module")
def clip():
    register()
    return models.load_clip(TINY, "openai", random_weights=True, cpu_dtype="float32")  # parity: fp32


def _unit(rng, n, d):
    x = rng.standard_normal((n, d)).astype(np.float32)
    return x / np.linalg.norm(x, axis=1, keepdims=True)


# -- parity with open_clip -----------------------------------------------------------------
@pytest.mark.parametrize("templates", [TEMPLATES, [lambda c: f"itap of a {c}.", lambda c: f"a {c} in the wild"]])
def test_classifier_matches_open_clip(clip, templates, tmp_path):
    ours = zeroshot.build_zero_shot_classifier(clip, CLASSES, templates, cache_dir=tmp_path)
    with torch.inference_mode():
        ref = open_clip.build_zero_shot_classifier(clip.model, clip.tokenize, CLASSES, templates,
                                                   num_classes_per_batch=3).numpy()
    assert ours.shape == (32, len(CLASSES)) and ours.dtype == np.float32
    assert np.abs(ours - ref).max() <= 1e-5
    # and served from the cache the second time, still identical
    again = zeroshot.build_zero_shot_classifier(clip, CLASSES, templates, cache_dir=tmp_path)
    assert np.array_equal(ours, again)


def test_classifier_matches_open_clip_on_a_real_architecture():
    clip = models.load_clip("ViT-B-32", "openai", random_weights=True,
                            cpu_dtype="float32")  # QuickGELU, 77 tokens; parity in fp32
    classes, templates = ["cat", "dog", "truck"], ["a photo of a {}.", "a {} in the wild."]
    ours = zeroshot.build_zero_shot_classifier(clip, classes, templates)
    with torch.inference_mode():
        ref = open_clip.build_zero_shot_classifier(clip.model, clip.tokenize, classes, templates).numpy()
    assert np.abs(ours - ref).max() <= 1e-5


def test_logits_are_scaled_cosines(clip):
    rng = np.random.default_rng(0)
    img, W = _unit(rng, 6, 32), _unit(rng, 4, 32).T
    logits = zeroshot.zero_shot_logits(img, W, clip.logit_scale)
    ref = (clip.logit_scale * torch.from_numpy(img) @ torch.from_numpy(W)).numpy()
    assert np.allclose(logits, ref, atol=1e-5)
    assert np.allclose(zeroshot.softmax(logits).sum(axis=1), 1)


def test_evaluate_zero_shot_and_prompt_strategies(clip, tmp_path):
    paths = make_images(tmp_path / "img", 6)
    from clipdistill.embed import embed_images

    X = embed_images(clip, paths, num_workers=0, progress=False)
    y = np.array([0, 1, 2, 3, 4, 5]) % 3
    res = zeroshot.evaluate_zero_shot(clip, X, y, ["0", "1", "2"], ["the number {}."], cache_dir=tmp_path / "c")
    assert res["probs"].shape == (6, 3) and 0 <= res["accuracy"] <= 1
    strategies = {
        "digit": {"templates": ["{}"], "classnames": "digits"},
        "word": {"templates": ["a photo of the number {}."], "classnames": "words"},
    }
    table = zeroshot.prompt_strategies(clip, X, y, ["0", "1", "2"], strategies, cache_dir=tmp_path / "c")
    assert set(table.index) == {"digit", "word", "ensemble (all)"}
    assert table.loc["word", "example"] == "a photo of the number two."
    assert zeroshot.classnames_for(["3", "cat"], "words") == ["three", "cat"]


# -- kNN parity with scikit-learn ------------------------------------------------------------
@pytest.mark.parametrize("k", [1, 3, 5, 8])
def test_knn_matches_sklearn(k):
    rng = np.random.default_rng(k)
    train, test = _unit(rng, 120, 16), _unit(rng, 60, 16)
    labels = np.array([2, 5, 9])[rng.integers(0, 3, 120)]  # labels need not be 0..C-1
    ours = zeroshot.knn_predict(train, labels, test, k=k, chunk=17)
    ref = KNeighborsClassifier(n_neighbors=k).fit(train, labels).predict(test)
    assert np.array_equal(ours, ref)


def test_knn_bad_k_is_a_clear_error():
    with pytest.raises(ValueError, match="k=9"):
        zeroshot.knn_predict(np.eye(4, dtype=np.float32), np.arange(4), np.eye(4, dtype=np.float32), k=9)


# -- metrics --------------------------------------------------------------------------------
def test_classification_report_is_sklearns_plus_headline_numbers():
    y_true = np.array([0, 0, 1, 1, 1, 2])
    y_pred = np.array([0, 1, 1, 1, 0, 2])
    ours = zeroshot.classification_report(y_true, y_pred, ["cat", "dog", "bird"])
    ref = sk_report(y_true, y_pred, target_names=["cat", "dog", "bird"], output_dict=True)
    assert ours["dog"] == ref["dog"] and ours["macro avg"] == ref["macro avg"]
    assert ours["accuracy"] == pytest.approx(4 / 6) and ours["macro_f1"] == ref["macro avg"]["f1-score"]
    frame = zeroshot.report_frame(ours)
    assert list(frame.index[:3]) == ["cat", "dog", "bird"] and frame.loc["dog", "support"] == 3


def test_report_with_an_absent_class_still_has_accuracy():
    rep = zeroshot.classification_report(np.array([0, 0]), np.array([0, 1]), ["a", "b", "c"])
    assert rep["accuracy"] == 0.5 and rep["c"]["support"] == 0 and "micro avg" not in rep


def test_ece():
    y = np.array([0, 1, 0, 1])
    perfect = np.array([[1.0, 0.0], [0.0, 1.0], [1.0, 0.0], [0.0, 1.0]])
    assert zeroshot.expected_calibration_error(perfect, y) == pytest.approx(0.0)
    # always 0.8 confident, right half the time: gap 0.3
    half = np.array([[0.8, 0.2], [0.8, 0.2], [0.2, 0.8], [0.2, 0.8]])
    assert zeroshot.expected_calibration_error(half, y) == pytest.approx(0.3)


def test_temperature_moves_confidence_not_accuracy():
    rng = np.random.default_rng(0)
    img, W = _unit(rng, 50, 16), _unit(rng, 4, 16).T
    y = (img @ W).argmax(axis=1)
    y[:10] = (y[:10] + 1) % 4
    sweep = zeroshot.temperature_sweep(img, W, y, [0.01, 0.1, 1.0])
    assert sweep["accuracy"].nunique() == 1
    assert sweep["mean confidence"].is_monotonic_decreasing
    assert set(sweep.columns) >= {"temperature", "ECE", "NLL", "entropy"}


def test_random_floor_sits_at_chance():
    y_train = np.repeat([0, 1], 200)
    y_test = np.repeat([0, 1], 200)
    floor = zeroshot.random_embedding_floor(y_train, y_test, dim=64, k=5, repeats=3)
    assert 0.4 < floor["accuracy"] < 0.6 and 0.4 < floor["macro_f1"] < 0.6 and floor["repeats"] == 3


def test_similarity_stats():
    emb = np.array([[1, 0], [1, 0], [0, 1], [0, 1]], dtype=np.float32)
    matrix, summary = zeroshot.similarity_stats(emb, np.array([0, 0, 1, 1]), ["a", "b"])
    assert np.allclose(matrix.values, np.eye(2))
    assert summary == {"intra": 1.0, "inter": 0.0, "gap": 1.0}


def test_retrieval_and_projection():
    images = np.eye(4, dtype=np.float32)
    idx, scores = zeroshot.retrieve(np.array([[0, 0.6, 0.8, 0]], dtype=np.float32), images, k=2)
    assert idx.tolist() == [[2, 1]] and np.allclose(scores, [[0.8, 0.6]])
    pts = zeroshot.project_2d(_unit(np.random.default_rng(0), 12, 8), "pca")
    assert pts.shape == (12, 2)
    with pytest.raises(ValueError, match="pca, tsne"):
        zeroshot.project_2d(images, "umap")


# -- plots ----------------------------------------------------------------------------------
def test_plots_return_figures(tmp_path):
    import matplotlib.pyplot as plt

    rng = np.random.default_rng(0)
    y, pred = rng.integers(0, 3, 30), rng.integers(0, 3, 30)
    probs = zeroshot.softmax(rng.standard_normal((30, 3)))
    paths = make_images(tmp_path / "img", 4)
    sweep = zeroshot.temperature_sweep(_unit(rng, 30, 8), _unit(rng, 3, 8).T, y, [0.01, 0.1])
    matrix, _ = zeroshot.similarity_stats(_unit(rng, 30, 8), y, ["a", "b", "c"])
    figs = [
        plots.confusion_matrix(y, pred, ["a", "b", "c"], normalize=True),
        plots.image_grid(paths, titles=list("wxyz"), ncols=3),
        plots.retrieval_grid(["q1", "q2"], [paths[:2], paths[2:]], np.ones((2, 2))),
        plots.reliability_diagram(probs, y),
        plots.temperature_curves(sweep, learned=0.01),
        plots.projection_2d(rng.standard_normal((30, 2)), y, ["a", "b", "c"], method="pca"),
        plots.similarity_heatmap(matrix),
        plots.bar_chart({"x": 0.5, "y": 0.7}, reference={"chance": 0.1}),
    ]
    for fig in figs:
        assert isinstance(fig, matplotlib.figure.Figure)
        plt.close(fig)
