"""The published figures: copied exactly, each with its source, metric and test-set size."""

from __future__ import annotations

import re

import pytest

from clipdistill import published as P
from clipdistill.config import HARDWARE_ADJUSTMENTS, PROFILES, Config


def _one(source: str, model: str, dataset: str, metric: str) -> P.Reference:
    found = [r for r in P.REFERENCES if (r.source, r.model, r.dataset, r.metric)
             == (source, model, dataset, metric)]
    assert len(found) == 1, (source, model, dataset, metric, found)
    return found[0]


# Typed by hand from the source files (see SOURCES for repo, path and commit), so an edit
# that slips a digit in the data is caught here.
@pytest.mark.parametrize("source, model, dataset, metric, value, n", [
    ("clip_benchmark", "ViT-B-32/openai", "cifar10", "top1", 0.8982, 10_000),
    ("clip_benchmark", "ViT-B-32/openai", "cifar10", "mean_per_class_recall",
     0.8995000000000001, 10_000),
    ("clip_benchmark", "ViT-B-16/openai", "mnist", "mean_per_class_recall",
     0.5259367109048434, 10_000),
    ("clip_benchmark", "ViT-B-16/openai", "caltech101", "top1", 0.8254437869822485, 6_084),
    ("clip_benchmark", "ViT-L-14-336/openai", "oxford_pets_37", "top1",
     0.9381302807304442, 3_669),
    ("open_clip", "RN50/openai", "cifar10", "top1", 0.7157, 10_000),
    ("open_clip", "ViT-B-16-SigLIP/webli", "oxford_pets_37", "mean_per_class_recall",
     0.9420, 3_669),
    ("open_clip", "ViT-B-32/openai", "caltech101", "mean_per_class_recall", 0.8758, 6_085),
    ("open_clip", "ViT-L-16-SigLIP-256/webli", "imagenet", "top1", 0.8045, 50_000),
    ("mobileclip", "MobileCLIP-S1/datacompdr", "caltech101", "mean_per_class_recall",
     0.93468432127583, 6_085),
    ("mobileclip", "MobileCLIP-S1/datacompdr", "mnist", "top1", 0.8316, 10_000),
    ("clip_paper", "ViT-B-16/openai", "imagenet", "top1", 0.686, 50_000),
    ("clip_benchmark", "ViT-B-32/openai", "imagenetv2", "top1", 0.5596, 10_000),
    ("clip_benchmark", "ViT-L-14-336/openai", "imagenetv2", "mean_per_class_recall",
     0.7075, 10_000),
    ("open_clip", "RN50/openai", "imagenetv2", "top1", 0.5284, 10_000),
    ("open_clip", "ViT-B-16-SigLIP-256/webli", "imagenetv2", "top1", 0.6920, 10_000),
    ("mobileclip", "MobileCLIP-S1/datacompdr", "imagenetv2", "top1", 0.6485, 10_000),
    ("timm", "resnet50/IMAGENET1K_V1", "imagenetv2", "top1", 0.6319, 10_000),
    ("timm", "resnet50/IMAGENET1K_V1", "imagenet", "top1", 0.76156, 50_000),
    ("torchvision", "resnet50/IMAGENET1K_V1", "imagenet", "top1", 0.7613, 50_000),
])
def test_values_match_their_sources(source, model, dataset, metric, value, n):
    ref = _one(source, model, dataset, metric)
    assert ref.value == value and ref.n == n


def test_reference_experiment_macro_f1_is_the_mean_of_its_class_f1s():
    for entry in P.REFERENCE_EXPERIMENT.values():
        f1s = [c["f1"] for c in entry["per_class"].values()]
        assert entry["macro_f1"] == pytest.approx(sum(f1s) / len(f1s))
        assert entry["test_images"] == 200
    ref = _one("reference_experiment", "ViT-B-16/openai", "cats_dogs", "macro_f1")
    assert ref.value == 0.995


def test_every_entry_names_its_source_metric_and_size():
    assert len(P.REFERENCES) == 119
    for ref in P.REFERENCES:
        assert ref.source in P.SOURCES and ref.metric in P.METRICS, ref
        assert ref.dataset in P.TEST_SETS, ref
        assert 0.0 <= ref.value <= 1.0 and ref.n > 0 and ref.classes >= 2, ref
    for key, src in P.SOURCES.items():
        assert src["short"] and src["what"], key
        if src["repo"]:
            assert src["path"] and re.fullmatch(r"[0-9a-f]{40}", src["commit"]), key


def test_no_metric_is_dropped_where_a_source_publishes_both():
    """CLIP_benchmark and MobileCLIP print acc1 and mean per-class recall: both are kept."""
    for source in ("clip_benchmark", "mobileclip"):
        keys = {(r.model, r.dataset) for r in P.REFERENCES if r.source == source}
        for model, dataset in keys:
            metrics = {r.metric for r in P.REFERENCES
                       if (r.source, r.model, r.dataset) == (source, model, dataset)}
            assert metrics == {"top1", "mean_per_class_recall"}, (source, model, dataset)


def test_top1_counts_are_whole_images():
    """A full-precision top-1 times its test-set size is a whole number of images: this is
    how the Caltech-101 sizes (6,084 and 6,085) were checked."""
    for ref in P.REFERENCES:
        if ref.metric == "top1" and ref.source in ("clip_benchmark", "mobileclip"):
            assert ref.value * ref.n == pytest.approx(round(ref.value * ref.n), abs=1e-6), ref


def test_open_clip_uses_each_datasets_main_metric():
    by_ds = {r.dataset: r.metric for r in P.REFERENCES if r.source == "open_clip"}
    assert by_ds == {"cifar10": "top1", "mnist": "top1", "imagenet": "top1",
                     "imagenetv2": "top1", "oxford_pets_37": "mean_per_class_recall",
                     "caltech101": "mean_per_class_recall"}


def test_every_model_a_profile_runs_has_a_reference():
    models = set(Config().explore_models) | set(Config().ensemble_models)
    for overrides in [*PROFILES.values(), *HARDWARE_ADJUSTMENTS.values()]:
        models |= set(overrides.get("explore_models", [])) | set(overrides.get("ensemble_models", []))
    for model in models:
        assert P.references_for(model, "cifar10"), model


def test_every_tutorial_model_has_a_published_imagenetv2_figure():
    from clipdistill.profiles import TUTORIAL_MODELS

    for model in (*TUTORIAL_MODELS, P.SUPERVISED_MODEL):
        assert P.references_for(model, "imagenetv2"), model


def test_the_supervised_figure_is_torchvisions_own():
    from torchvision.models import ResNet50_Weights

    meta = ResNet50_Weights.IMAGENET1K_V1.meta["_metrics"]["ImageNet-1K"]["acc@1"]
    assert _one("torchvision", P.SUPERVISED_MODEL, "imagenet", "top1").value == meta / 100


def test_references_for_keeps_source_order():
    refs = P.references_for("ViT-B-32/openai", "oxford_pets_37")
    assert [r.source for r in refs] == ["clip_benchmark", "clip_benchmark", "open_clip"]
    assert P.references_for("no-such-model/x", "cifar10") == []
    assert P.CLIP_BENCHMARK["ViT-B-16/openai"]["cifar10"] == 0.9083  # chapter 02 quotes top-1
