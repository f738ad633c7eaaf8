"""Chapter 02's additions: concept relations in text space, and models compared on the
same images with speeds as ratios (never timed here: only the table's shape is checked)."""

from __future__ import annotations

from types import SimpleNamespace

import numpy as np
import pandas as pd
import pytest
from scipy.stats import spearmanr
from tiny_clip import TINY, register

from clipdistill import concepts, models, resolve

register()


@pytest.fixture(scope="module")
def clip():
    return models.load_clip(TINY, "openai", random_weights=True, cpu_kernels="torch")


def test_word_similarity_is_the_cosine_of_the_ensembled_prompts(clip):
    from clipdistill import zeroshot

    words = ["cat", "dog", "truck"]
    templates = ["a photo of a {}.", "a {}."]
    sim = concepts.word_similarity(clip, words, ["kitten", "cat"], templates)
    w = zeroshot.build_zero_shot_classifier(clip, ["cat", "dog", "truck", "kitten"], templates).T
    assert sim.shape == (3, 2) and list(sim.columns) == ["kitten", "cat"]
    assert np.allclose(sim.to_numpy(), w[:3] @ w[[3, 0]].T, atol=1e-6)
    assert sim.loc["cat", "cat"] == pytest.approx(1.0, abs=1e-5)


def test_agreement_is_spearmans_rho_over_class_pairs():
    rng = np.random.default_rng(0)
    names = [f"c{i}" for i in range(8)]
    a = rng.random((8, 8))
    a = (a + a.T) / 2
    b = a + rng.normal(0, 0.2, (8, 8))
    b = (b + b.T) / 2
    image, text = pd.DataFrame(a, names, names), pd.DataFrame(b, names, names)
    got = concepts.agreement(image, text, resamples=500)
    i, j = np.triu_indices(8, k=1)
    assert got["rho"] == pytest.approx(spearmanr(a[i, j], b[i, j]).statistic)
    assert got["pairs"] == 28 and got["low"] <= got["rho"] <= got["high"]
    assert concepts.agreement(image, text, resamples=500) == got  # seeded
    assert concepts.agreement(image, image, resamples=50)["rho"] == pytest.approx(1.0)


def test_agreement_resamples_classes_not_pairs():
    # Each class sits in 9 of the 45 pairs of 10 classes: the pairs share their luck, and
    # an interval that resampled them as independent draws would be too narrow.
    rng = np.random.default_rng(1)
    names = [f"c{i}" for i in range(10)]
    emb = rng.normal(size=(10, 4))
    a = emb @ emb.T
    b = a + rng.normal(0, 1.5, (10, 10))
    b = (b + b.T) / 2
    got = concepts.agreement(pd.DataFrame(a, names, names), pd.DataFrame(b, names, names),
                             resamples=1000)
    i, j = np.triu_indices(10, k=1)
    x, y = a[i, j], b[i, j]
    draws = [spearmanr(x[s], y[s]).statistic
             for s in (rng.integers(0, 45, 45) for _ in range(1000))]
    naive_low, naive_high = np.percentile(draws, [2.5, 97.5])
    assert got["low"] <= got["rho"] <= got["high"]
    assert got["high"] - got["low"] > naive_high - naive_low


def _split(paths, labels, classes):
    return SimpleNamespace(paths=list(paths), labels=np.asarray(labels), classes=classes)


def test_compare_models_measures_every_model_on_the_same_images(tmp_path):
    from tiny_clip import make_images

    cfg = resolve("smoke", {"work_dir": str(tmp_path / "work"), "device": "cpu",
                            "clip_cpu_kernels": "torch", "knn_k": 3}, accelerator=False)
    paths = [str(p) for p in make_images(tmp_path / "img", 8)]
    labels = [0, 1] * 4
    train, test = _split(paths[:4], labels[:4], ["cat", "dog"]), _split(paths[4:], labels[4:],
                                                                          ["cat", "dog"])
    specs = [f"{TINY}/openai", f"{TINY}/laion"]
    table = models.compare_models(cfg, train, test, {"other": test}, specs=specs,
                                  bench_paths=paths[:3], rounds=2, progress=False)
    assert list(table.index) == specs
    assert {"kNN (knn/test)", "zero-shot (knn/test)", "zero-shot (other)", "images/s",
            f"speed vs {specs[0]}"} <= set(table.columns)
    assert table.loc[specs[0], f"speed vs {specs[0]}"] == 1.0
    assert (table["images/s"] > 0).all() and table.attrs["rounds"] == 2
    assert table["zero-shot (knn/test)"].between(0, 1).all()
    assert table.loc[specs[0], "zero-shot (knn/test)"] == table.loc[specs[0], "zero-shot (other)"]


def test_every_profile_compares_mobileclip_with_vit_b32():
    for profile in ("smoke", "quick", "paper"):
        for gpu in (True, False):
            specs = resolve(profile, accelerator=gpu).compare_models
            assert specs[0] == "ViT-B-32/openai" and any("MobileCLIP" in s for s in specs)


def test_relations_figure_is_readable_at_the_column_width():
    import matplotlib

    matplotlib.use("Agg")
    rng = np.random.default_rng(0)
    classes = ["airplane", "automobile", "bird", "cat", "deer", "dog", "frog", "horse",
               "ship", "truck"]
    words = ["kitten", "puppy", "lion", "wolf", "jet", "sports car", "sparrow", "antelope",
             "toad", "stallion", "sailboat", "lorry"]
    image = pd.DataFrame(rng.random((10, 10)), classes, classes)
    text = pd.DataFrame(rng.random((10, 10)), classes, classes)
    related = pd.DataFrame(rng.random((10, 12)), classes, words)
    fig = concepts.plot_relations(image, text, related, title="t")
    maps = [ax for ax in fig.axes if ax.get_images()]
    assert len(maps) == 3 and fig.get_figwidth() == pytest.approx(7.0)
    fig.canvas.draw()
    top, bottom = [ax.get_position() for ax in maps[:2]], maps[2].get_position()
    assert top[0].y0 == pytest.approx(top[1].y0)  # the class maps side by side ...
    assert bottom.y1 < min(p.y0 for p in top)  # ... the words map under them
    ticks = [t for ax in maps for t in ax.get_xticklabels() + ax.get_yticklabels()]
    assert {t.get_text() for t in maps[2].get_xticklabels()} == set(words)
    assert min(t.get_fontsize() for t in ticks) >= 9
