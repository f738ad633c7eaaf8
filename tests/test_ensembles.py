"""Prompt ensembles: the averaging against a hand computation, the cache, the sweep."""

from __future__ import annotations

import math

import numpy as np
import pytest

from clipdistill import ensembles as E
from clipdistill import published
from clipdistill.ensembles import experiment
from clipdistill.ensembles.tables import model_label
from clipdistill.templates import TemplateSet


def test_ensemble_matches_a_hand_computation():
    # Class 0 has prompts (3, 4) and (1, 0): unit vectors (0.6, 0.8) and (1, 0), mean
    # (0.8, 0.4), renormalised (2, 1) / sqrt(5). Class 1 has one prompt (0, 2) -> (0, 1).
    ragged = [np.array([[3.0, 4.0], [1.0, 0.0]]), np.array([[0.0, 2.0]])]
    expected = np.array([[2 / math.sqrt(5), 1 / math.sqrt(5)], [0.0, 1.0]], dtype=np.float32)
    np.testing.assert_allclose(E.ensemble(ragged), expected, atol=1e-6)
    # The same through the dense (C, T, D) path: (3, 4) and (1, 0) vs (0, 2) and (0, 5).
    dense = np.array([[[3.0, 4.0], [1.0, 0.0]], [[0.0, 2.0], [0.0, 5.0]]])
    np.testing.assert_allclose(E.ensemble(dense), expected, atol=1e-6)


def test_ensemble_of_one_prompt_is_that_prompt_and_rows_are_unit():
    rng = np.random.default_rng(0)
    x = rng.normal(size=(5, 1, 8))
    out = E.ensemble(x)
    np.testing.assert_allclose(out, x[:, 0] / np.linalg.norm(x[:, 0], axis=1, keepdims=True), atol=1e-6)
    y = E.ensemble(rng.normal(size=(4, 7, 8)))
    np.testing.assert_allclose(np.linalg.norm(y, axis=1), 1.0, atol=1e-6)
    with pytest.raises(ValueError, match="classes, prompts, dim"):
        E.ensemble(np.zeros((3, 4)))


def test_encode_prompts_embeds_once_and_splits_per_class():
    calls = []

    def encode(texts):
        calls.append(list(texts))
        return np.array([[len(t), 1.0] for t in texts])

    parts = E.encode_prompts(encode, [["a", "bb"], ["ccc"], ["d", "ee", "fff"]])
    assert len(calls) == 1 and len(calls[0]) == 6
    assert [p.shape for p in parts] == [(2, 2), (1, 2), (3, 2)]
    assert parts[2][:, 0].tolist() == [1, 2, 3]


def test_template_ranking_single_and_leave_one_out():
    # Two classes on the x / y axes; template 0 is right, template 1 swaps the classes
    # a little less strongly, so alone it is wrong and leaving it out helps.
    good = np.array([[1.0, 0.0], [0.0, 1.0]])
    bad = np.array([[0.2, 1.0], [1.0, 0.2]])
    prompts = np.stack([good, bad], axis=1)  # (C=2, T=2, D=2)
    images = np.array([[1.0, 0.1], [0.1, 1.0], [0.9, 0.0], [0.0, 0.9]])
    labels = np.array([0, 1, 0, 1])
    rows = E.template_ranking(prompts, ["good {}", "bad {}"], images, labels)
    by = {r["template"]: r for r in rows}
    assert by["good {}"]["single"] == 1.0 and by["bad {}"]["single"] == 0.0
    assert by["good {}"]["ensemble"] == E.top1(images, E.ensemble(prompts), labels)
    # Without "good" only "bad" is left (accuracy 0): good's leave-one-out delta is the whole ensemble.
    assert by["good {}"]["loo_delta"] == pytest.approx(by["good {}"]["ensemble"])
    assert by["bad {}"]["loo_delta"] == pytest.approx(by["bad {}"]["ensemble"] - 1.0)


def test_resolve_template_set_cuts_only_when_asked():
    assert len(E.resolve_template_set("openai80", "cifar10")) == 80
    assert E.resolve_template_set("openai80", "cifar10", 3).templates == E.resolve_template_set(
        "openai80", "cifar10").templates[:3]
    assert E.resolve_template_set("dataset", "mnist", 3).name == "mnist"


def test_published_table_is_the_reference_layout():
    assert len(published.IMAGENET_TEMPLATE_SETS) == 8
    rn50 = published.IMAGENET_TEMPLATE_SETS["RN50/openai"]
    assert (rn50["reported_clip"], rn50["openai80"], rn50["standard"], rn50["raw"]) == (59.6, 59.8, 57.9, 55.3)
    assert published.IMAGENET_TEMPLATE_SETS["ViT-L-16-SigLIP-256/webli"]["reported_siglip"] == 80.6
    table = E.published_table()
    assert list(table.columns) == ["CLIP paper", "SigLIP paper", "tutorial: CLIP 80",
                                   "tutorial: Standard", "tutorial: Raw"]
    assert table.loc["CLIP ResNet-50 (224px)", "tutorial: CLIP 80"] == 59.8
    assert np.isnan(table.loc["CLIP ResNet-50 (224px)", "SigLIP paper"])


def test_template_set_key_is_content():
    a = TemplateSet("a", ("a photo of a {}.",))
    b = TemplateSet("b", ("a photo of a {}.",))
    assert a.fingerprint() == b.fingerprint()


def _fake_results():
    import pandas as pd

    rows = []
    for m, base in (("RN50/openai", 0.55), ("my-model/x", 0.40)):
        for ds in ("imagenet", "cifar10"):
            for k, s in enumerate(("openai80", "standard", "raw")):
                rows.append({"model": m, "dataset": ds, "template_set": s, "accuracy": base + 0.02 * (2 - k)})
    return pd.DataFrame(rows)


def test_accuracy_table_reference_layout_with_published_numbers():
    table = E.accuracy_table(_fake_results(), "imagenet")
    assert list(table.columns) == ["CLIP paper", "SigLIP paper", "this run: CLIP 80",
                                   "this run: Standard", "this run: Raw"]
    assert list(table.index) == ["CLIP ResNet-50 (224px)", "my-model/x"]
    assert table.loc["CLIP ResNet-50 (224px)", "CLIP paper"] == 59.6
    assert table.loc["CLIP ResNet-50 (224px)", "this run: CLIP 80"] == 59.0
    assert np.isnan(table.loc["my-model/x", "CLIP paper"])
    # Not ImageNet: nothing published to set beside ours.
    other = E.accuracy_table(_fake_results(), "cifar10", order=["raw", "openai80"])
    assert list(other.columns) == ["this run: Raw", "this run: CLIP 80"]
    with pytest.raises(ValueError, match="No results for dataset 'mnist'"):
        E.accuracy_table(_fake_results(), "mnist")


def test_ranking_summary_sorts_helpful_first():
    import pandas as pd

    ranking = pd.DataFrame([
        {"model": "a", "dataset": "d", "template": "t1", "single": 0.5, "loo_delta": -0.01},
        {"model": "a", "dataset": "d", "template": "t2", "single": 0.6, "loo_delta": 0.03},
        {"model": "b", "dataset": "d", "template": "t1", "single": 0.7, "loo_delta": 0.01},
        {"model": "b", "dataset": "d", "template": "t2", "single": 0.4, "loo_delta": 0.01},
    ])
    s = E.ranking_summary(ranking)
    assert list(s.index) == ["t2", "t1"]
    assert s.loc["t1", "single"] == pytest.approx(60.0)
    assert s.loc["t2", "loo_delta"] == pytest.approx(2.0)


# -- with a tiny model ------------------------------------------------------------------
@pytest.fixture(scope="module")
def tiny():
    from tiny_clip import TINY, register

    from clipdistill import models

    register()
    return models.load_clip(TINY, "openai", random_weights=True)


def test_class_embeddings_agree_with_the_pure_ensemble_and_are_cached(tiny, tmp_path, monkeypatch):
    from clipdistill import embed
    from clipdistill.templates import get_template_set

    tset = get_template_set("simple7")
    classes = ["cat", "dog", "bird"]
    got = E.class_embeddings(tiny, tset, classes, cache_dir=tmp_path / "ens",
                             text_cache_dir=tmp_path / "emb", progress=False)
    by_hand = E.ensemble(E.encode_prompts(lambda t: embed.embed_texts(tiny, t, progress=False),
                                          tset.prompts(classes)))
    assert got.shape == (3, tiny.embed_dim)
    np.testing.assert_allclose(got, by_hand, atol=1e-5)
    files = sorted((tmp_path / "ens" / "class_embeddings").iterdir())
    assert [f.suffix for f in files] == [".json", ".npy"]

    def boom(*a, **k):
        raise AssertionError("the class-embedding cache should have answered")

    monkeypatch.setattr(embed, "embed_texts", boom)
    np.testing.assert_array_equal(
        E.class_embeddings(tiny, tset, classes, cache_dir=tmp_path / "ens", progress=False), got)
    monkeypatch.undo()
    # Another class list (or order) is another entry.
    E.class_embeddings(tiny, tset, ["dog", "cat", "bird"], cache_dir=tmp_path / "ens", progress=False)
    assert len(list((tmp_path / "ens" / "class_embeddings").glob("*.npy"))) == 2


def test_class_embeddings_of_per_class_sentences(tiny, tmp_path):
    from clipdistill import embed

    tset = TemplateSet("cupl", per_class={"cat": ("A cat.", "A small feline."), "dog": ("A dog.",)})
    got = E.class_embeddings(tiny, tset, ["dog", "cat"], cache_dir=None, progress=False)
    emb = embed.embed_texts(tiny, ["A dog.", "A cat.", "A small feline."], progress=False)
    np.testing.assert_allclose(got[0], emb[0], atol=1e-6)
    np.testing.assert_allclose(got[1], E.ensemble([emb[1:]])[0], atol=1e-6)


def _smoke_cfg(tmp_path, **over):
    from clipdistill.config import resolve

    base = {"work_dir": str(tmp_path / "work"), "results_dir": str(tmp_path / "results"),
            "num_workers": 0, "ensemble_max_templates": 0, "ensemble_max_classes": 0}
    return resolve("smoke", {**base, **over}, accelerator=False, weights_reachable=(False, "test"))


def _fake_split(tmp_path):
    from tiny_clip import make_images

    paths = [str(p) for p in make_images(tmp_path / "imgs", 6, size=32)]
    return paths, np.array([0, 0, 1, 1, 2, 2]), ["airplane", "cat", "ship"]


def test_sweep_writes_accuracy_and_ranking_and_reuses_its_caches(tiny, tmp_path, monkeypatch):
    from tiny_clip import TINY

    from clipdistill import embed

    split = _fake_split(tmp_path)
    monkeypatch.setattr(experiment, "load_dataset", lambda cfg, ds: split)
    cfg = _smoke_cfg(tmp_path, ensemble_rank_set="simple7")
    df = E.sweep(cfg, [f"{TINY}/openai"], ["raw", "standard", "simple7", "dataset"], ["cifar10"],
                 progress=False)
    assert list(df["template_set"]) == ["raw", "standard", "simple7", "dataset"]
    assert list(df["n_templates"]) == [1, 1, 7, 18]
    assert df["accuracy"].between(0, 1).all() and (df["images"] == 6).all()
    ranking = df.attrs["ranking"]
    assert len(ranking) == 7 and set(ranking["template"]) == set(E.resolve_template_set("simple7", "x").templates)
    out = cfg.profile_dir()
    assert (out / "04_prompt_ensembles_sweep.csv").is_file()
    assert (out / "04_prompt_ensembles_ranking.csv").is_file()
    table = E.accuracy_table(df, "cifar10")
    assert list(table.columns) == ["this run: Raw", "this run: Standard", "this run: Simple 7",
                                   "this run: Dataset-specific"]
    assert set(E.metrics(df)[f"{TINY}/openai"]["cifar10"]) == {"raw", "standard", "simple7", "dataset"}

    # A second sweep encodes no text at all: class embeddings and ranking come from the cache.
    monkeypatch.setattr(embed.texts, "encode_texts", lambda *a, **k: (_ for _ in ()).throw(AssertionError))
    again = E.sweep(cfg, [f"{TINY}/openai"], ["raw", "standard", "simple7", "dataset"], ["cifar10"],
                    progress=False)
    assert again["accuracy"].tolist() == df["accuracy"].tolist()
    assert again.attrs["ranking"]["loo_delta"].tolist() == ranking["loo_delta"].tolist()


def test_sweep_caps_classes_and_templates_for_smoke(tiny, tmp_path, monkeypatch):
    from types import SimpleNamespace

    from tiny_clip import TINY

    from clipdistill import data

    paths, labels, classes = _fake_split(tmp_path)
    monkeypatch.setattr(data, "load_labelled",
                        lambda cfg, name, n: SimpleNamespace(paths=paths, labels=labels, classes=classes))
    cfg = _smoke_cfg(tmp_path, ensemble_max_classes=2, ensemble_max_templates=3)
    df = E.sweep(cfg, [f"{TINY}/openai"], ["openai80"], ["cifar10"], progress=False, write=False)
    assert df.loc[0, "classes"] == 2 and df.loc[0, "images"] == 4 and df.loc[0, "n_templates"] == 3
    assert not (cfg.profile_dir() / "04_prompt_ensembles_sweep.csv").exists()


def test_bad_set_fails_before_any_model_loads(tmp_path, monkeypatch):
    from clipdistill.templates import TemplateError

    monkeypatch.setattr(experiment, "load_dataset", lambda *a, **k: pytest.fail("should not get this far"))
    with pytest.raises(TemplateError, match="Unknown template set 'opeani80'"):
        E.sweep(_smoke_cfg(tmp_path), ["RN50/openai"], ["raw", "opeani80"], ["cifar10"])


def test_imagenet_val_folder_maps_sorted_wnids_to_open_clip_names(tmp_path):
    from clipdistill.classnames import prompt_names
    from clipdistill.data import DataError
    from clipdistill.templates import IMAGENET_CLASSNAMES

    root = tmp_path / "val"
    for i in range(1000):
        d = root / f"n{i:08d}"
        d.mkdir(parents=True)
        for j in range(3):
            (d / f"ILSVRC2012_val_{i * 3 + j:08d}.JPEG").write_bytes(b"x")
    cfg = _smoke_cfg(tmp_path, imagenet_root=str(root))
    assert E.sweep_datasets(cfg)[-1] == "imagenet"
    paths, labels, keys = experiment._imagenet_val(cfg, 2)
    assert len(paths) == 2000 and keys == sorted(keys) and len(keys) == 1000
    assert prompt_names("imagenet", keys) == list(IMAGENET_CLASSNAMES)
    assert labels[0] == 0 and "n00000000" in paths[0] and "n00000999" in paths[-1]
    (root / "n00000999" / "ILSVRC2012_val_00002997.JPEG").unlink()
    for f in (root / "n00000999").iterdir():
        f.unlink()
    (root / "n00000999").rmdir()
    with pytest.raises(DataError, match="holds 999 class folders"):
        experiment._imagenet_val(cfg, 2)


def test_sweep_from_the_command_line(tiny, tmp_path, monkeypatch, capsys):
    from tiny_clip import TINY

    from clipdistill.cli import main

    split = _fake_split(tmp_path)
    monkeypatch.setattr(experiment, "load_dataset", lambda cfg, ds: split)
    sets = [f"work_dir={tmp_path / 'work'}", f"results_dir={tmp_path / 'results'}", "num_workers=0"]
    common = ["--profile", "smoke", *[a for s in sets for a in ("--set", s)]]
    assert main(["sweep", "--models", f"{TINY}/openai", "--template-sets", "raw,standard",
                 "--datasets", "mnist", *common]) == 0
    out = capsys.readouterr().out
    assert "SMOKE RUN" in out and "this run: Standard" in out
    assert main(["sweep", "--template-sets", "raw,nope", "--datasets", "mnist", *common]) == 2
    assert "Unknown template set 'nope'" in capsys.readouterr().err


def test_the_published_pattern_is_computed_from_the_table():
    said = E.published_pattern()
    assert "For the 5 OpenAI CLIP models, the 80-template ensemble is 1.4 to 2.6 points" in said[0]
    assert "standard template 1.3 to 2.9 points above" in said[0]
    # the SigLIP standard-vs-raw gap reaches 1.1 points (ViT-B/16 at 256 px): not "under a point"
    assert "0.2 to 0.8 points above the standard template" in said[1]
    assert "standard template 0.8 to 1.1 points above" in said[1]
    assert "within 0.3 points" in said[2]


def test_template_gaps_follow_the_predictions_either_way():
    import pandas as pd

    rng = np.random.default_rng(0)
    labels = rng.integers(0, 4, 300)
    right = lambda p: np.where(rng.random(300) < p, labels, (labels + 1) % 4)  # noqa: E731
    df = pd.DataFrame([{"model": m, "dataset": "d", "template_set": s, "accuracy": 0.0}
                       for m in ("good", "same") for s in ("raw", "standard")])
    preds = {("good", "d", "raw"): right(0.5), ("good", "d", "standard"): right(0.95)}
    same = right(0.7)
    preds[("same", "d", "raw")] = preds[("same", "d", "standard")] = same
    df.attrs.update(predictions=preds, labels={"d": labels})
    gaps = E.template_gaps(df, pairs=[("standard", "raw")]).set_index("model")
    assert gaps.loc["good", "verdict"] == "above" and gaps.loc["good", "low"] > 0
    assert gaps.loc["same", "verdict"] == "not told apart" and gaps.loc["same", "points"] == 0
    said = E.gap_summary(gaps.reset_index())
    assert said == ["Standard against Raw, over 2 model-dataset pairs: above in 1, below in 0, "
                    f"and not told apart in 1 (95% paired intervals); the mean gap was "
                    f"{gaps['points'].mean():+.1f} points."]


def _paper_sized_sweep():
    """Eight models x six datasets x five template sets: the `paper` profile's shape."""
    import itertools

    import pandas as pd

    from clipdistill.config import TUTORIAL_MODELS

    datasets = ["cats_dogs", "oxford_pets_37", "cifar10", "mnist", "caltech101", "imagenetv2"]
    sets = ["raw", "standard", "openai80", "simple7", "dataset"]
    rng = np.random.default_rng(0)
    return pd.DataFrame([{"model": m, "dataset": d, "template_set": s, "accuracy": rng.random()}
                         for m, d, s in itertools.product(TUTORIAL_MODELS, datasets, sets)])


@pytest.mark.parametrize("n_datasets, shape", [(1, (1, 1)), (2, (1, 2)), (4, (2, 2)),
                                               (5, (2, 3)), (6, (2, 3))])
def test_accuracy_panels_wrap_into_a_grid(n_datasets, shape):
    import matplotlib

    matplotlib.use("Agg")
    df = _paper_sized_sweep()
    df = df[df["dataset"].isin(list(dict.fromkeys(df["dataset"]))[:n_datasets])]
    fig = E.figures.plot_accuracy(df, title="t")
    assert E.figures.grid_shape(n_datasets) == shape
    panels = [ax for ax in fig.axes if ax.get_title()]
    assert [ax.get_title() for ax in panels] == list(dict.fromkeys(df["dataset"]))
    assert fig.get_figwidth() == pytest.approx(7.0)
    fig.canvas.draw()
    labels = [t for ax in panels for t in ax.get_yticklabels() + ax.get_xticklabels()
              if t.get_visible() and t.get_text()]
    assert labels and min(t.get_fontsize() for t in labels) >= 9
    # Model names are written once per grid row, by the left-hand panel.
    named = [ax for ax in panels
             if any(t.get_visible() and t.get_text() for t in ax.get_yticklabels())]
    assert len(named) == shape[0]
    assert {t.get_text() for t in named[0].get_yticklabels()} == {
        model_label(m) for m in dict.fromkeys(df["model"])}


def test_readable_writes_a_dash_where_a_paper_reports_nothing():
    table = E.readable(E.published_table())
    assert table.loc["CLIP ResNet-50 (224px)", "SigLIP paper"] == "–"
    assert table.loc["CLIP ResNet-50 (224px)", "tutorial: CLIP 80"] == "59.8"
    assert "source" in table.attrs


def test_imagenetv2_table_sets_each_number_beside_its_published_figures():
    import pandas as pd

    rows = [{"model": m, "dataset": "imagenetv2", "template_set": s, "accuracy": a,
             "images": 2000, "classes": 1000, "n_templates": 80, "published_names": True}
            for m in ("RN50/openai", "ViT-B-32/openai")
            for s, a in (("raw", 0.2), ("standard", 0.3), ("openai80", 0.4), ("dataset", 0.4))]
    df = pd.DataFrame(rows)
    df.attrs["supervised"] = pd.DataFrame([{
        "model": "resnet50/IMAGENET1K_V1", "dataset": "imagenetv2", "classes": 1000,
        "images": 2000, "correct": 1200, "accuracy": 0.6}])
    table = E.imagenetv2_table(df)
    assert list(table.index) == ["ResNet-50 (supervised)", "CLIP ResNet-50 (224px)",
                                 "CLIP ViT-B/32 (224px)"]
    assert len(table.columns) <= 4  # narrow enough for the book's column
    first = table.loc["ResNet-50 (supervised)"]
    assert first[("this run", "top-1 (95% interval)")].startswith("60.0 (")
    assert first[("published", "open_clip")] == "–"  # no figure: a dash
    rn50 = table.loc["CLIP ResNet-50 (224px)"]
    assert rn50[("this run", "top-1 (95% interval)")].startswith("40.0 (")  # 80 templates
    assert rn50[("published", "open_clip")] == "52.8"
    assert "below" in table.attrs["verdicts"]["CLIP ResNet-50 (224px)"]


@pytest.mark.parametrize("entry, says", [
    ({"synthetic": True}, "generated stand-in"),
    ({"archives": [{"file": "x.tar.gz", "sha256": "0"}]}, "downloaded"),
    ({}, "data_root"),
])
def test_imagenetv2_origin_says_where_the_images_came_from(entry, says):
    used = [{"split": "knn/train", "source": "petimages", "images": 10},
            {"split": "imagenetv2 (2 a class)", "source": "imagenetv2", "images": 2000,
             **entry}]
    sentence = E.imagenetv2_origin(used)
    assert says in sentence
    assert ("not ImageNetV2" in sentence) == bool(entry.get("synthetic"))
    assert E.imagenetv2_origin(used[:1]) is None
