"""Prompt ensembles: the averaging against a hand computation, the cache, the sweep."""

from __future__ import annotations

import math

import numpy as np
import pytest

from clipdistill import ensembles as E
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
    assert len(E.PUBLISHED_IMAGENET) == 8
    rn50 = E.PUBLISHED_IMAGENET["RN50/openai"]
    assert (rn50["reported_clip"], rn50["openai80"], rn50["standard"], rn50["raw"]) == (59.6, 59.8, 57.9, 55.3)
    assert E.PUBLISHED_IMAGENET["ViT-L-16-SigLIP-256/webli"]["reported_siglip"] == 80.6


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


def test_comparison_table_reference_layout_with_published_numbers():
    table = E.comparison_table(_fake_results(), "imagenet")
    assert list(table.columns) == ["Reported ~ CLIP", "Reported ~ SigLIP", "Results ~ CLIP 80",
                                   "Results ~ Standard", "Results ~ Raw"]
    assert list(table.index) == ["CLIP ResNet-50 (224px)", "my-model/x"]
    assert table.loc["CLIP ResNet-50 (224px)", "Reported ~ CLIP"] == 59.6
    assert table.loc["CLIP ResNet-50 (224px)", "Results ~ CLIP 80"] == 59.0
    assert np.isnan(table.loc["my-model/x", "Reported ~ CLIP"])
    # Not ImageNet: nothing published to set beside ours.
    other = E.comparison_table(_fake_results(), "cifar10", order=["raw", "openai80"])
    assert list(other.columns) == ["Results ~ Raw", "Results ~ CLIP 80"]
    with pytest.raises(ValueError, match="No results for dataset 'mnist'"):
        E.comparison_table(_fake_results(), "mnist")


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
