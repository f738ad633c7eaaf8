"""Published figures our numbers are compared with, kept as data beside their sources.

Chapter 06 sets each of our results beside every entry here for the same model, dataset
and metric (:mod:`clipdistill.comparison` decides what is comparable,
:mod:`clipdistill.verdicts` how sure each of our numbers is). The rules:

- numbers are copied exactly as their source prints them (fractions, not percent), from
  the file and commit named in :data:`SOURCES`;
- every entry says which metric it is: ``top1`` (top-1 accuracy over all test images) or
  ``mean_per_class_recall`` (the mean over classes of each class's recall, what
  scikit-learn calls balanced accuracy). On an unbalanced test set the two differ (MNIST,
  Oxford-IIIT Pet, Caltech-101), so they are never compared with each other;
- a source that publishes both gets both; none is chosen after looking at our numbers.

Chapter 04's ImageNet table by template set is the last block
(:data:`IMAGENET_TEMPLATE_SETS`).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

__all__ = [
    "METRICS", "SOURCES", "TEST_SETS", "Reference", "REFERENCES", "references_for",
    "REFERENCE_EXPERIMENT", "REFERENCE_SPEEDS", "REFERENCE_SPEED_MODELS", "CLIP_BENCHMARK", "CLIP_PAPER",
    "SUPERVISED_MODEL",
]

METRICS: dict[str, str] = {
    "top1": "top-1 accuracy: the fraction of all test images classified correctly",
    "mean_per_class_recall": "mean per-class recall: each class's recall, averaged over "
                             "classes (balanced accuracy)",
    "macro_f1": "macro F1: each class's F1 score, averaged over classes",
}

# Where each number comes from. `commit` is the commit the file was read at.
SOURCES: dict[str, dict[str, str]] = {
    "clip_benchmark": {
        "short": "CLIP_benchmark",
        "repo": "LAION-AI/CLIP_benchmark",
        "path": "benchmark/benchmark.csv",
        "commit": "48de38c1689fa6d8b4dd53e3370c669c3bb18117",
        "what": "LAION's zero-shot benchmark: columns acc1 (top-1) and "
                "mean_per_class_recall, full test sets; CIFAR-10, Pets and Caltech-101 "
                "are the VTAB versions (vtab/cifar10, vtab/pets, vtab/caltech101)",
    },
    "open_clip": {
        "short": "open_clip",
        "repo": "mlfoundations/open_clip",
        "path": "docs/openclip_results.csv",
        "commit": "89fb801f1e6087880e951fc8354b8a2077b79c6d",
        "what": "OpenCLIP's zero-shot results table, from the DataComp evaluation "
                "(Gadre et al., 2023): one number per dataset, the dataset's main metric, "
                "which is mean per-class recall for Pets and Caltech-101 and top-1 "
                "elsewhere (mlfoundations/datacomp, tasklist.yml at "
                "4a8df1992566ef8334773f7152e1855b1f716162)",
    },
    "mobileclip": {
        "short": "MobileCLIP",
        "repo": "apple/ml-mobileclip",
        "path": "results/mobileclip_s1.jsonl",
        "commit": "4144bb1f081a6bcb9bc9e6552dee3b29a9ef9855",
        "what": "Apple's per-dataset results for MobileCLIP-S1, from the same DataComp "
                "evaluation, with both acc1 and mean_per_class_recall (open_clip's "
                "table has no MobileCLIP row)",
    },
    "timm": {
        "short": "timm",
        "repo": "huggingface/pytorch-image-models",
        "path": "results/results-imagenetv2-matched-frequency.csv",
        "commit": "4e5207c7bb6592474ca56e28b2cf85be8f1a550f",
        "what": "timm's evaluation of supervised ImageNet classifiers, among them "
                "torchvision's own ResNet-50 weights (resnet50.tv_in1k, torchvision's "
                "IMAGENET1K_V1: 224 px, crop 0.875, bilinear), column top1; ImageNet-1k from "
                "results/results-imagenet.csv at the same commit",
    },
    "torchvision": {
        "short": "torchvision",
        "repo": "",
        "path": "ResNet50_Weights.IMAGENET1K_V1.meta",
        "commit": "",
        "what": "the ImageNet-1k top-1 torchvision publishes with its ResNet-50 weights "
                "(acc@1 76.13)",
    },
    "clip_paper": {
        "short": "CLIP paper",
        "repo": "",
        "path": "Radford et al. 2021, Table 11",
        "commit": "",
        "what": "the CLIP paper's zero-shot table: top-1 with the 80-template ensemble "
                "on ImageNet, dataset-specific prompts on CIFAR-10",
    },
    "reference_experiment": {
        "short": "earlier experiment",
        "repo": "",
        "path": "",
        "commit": "",
        "what": "the earlier cats-vs-dogs experiment this book reproduces: k-nearest "
                "neighbours on ViT-B/16 (OpenAI) image embeddings, and on CLIP text "
                "embeddings of one-sentence Qwen2.5-VL-7B descriptions; Kaggle "
                "PetImages, 100 training and 100 test images per class; scikit-learn "
                "reports to two decimals; speeds on unstated hardware",
    },
}

# The test sets behind the published numbers. `images` may differ by source (Caltech-101
# has no official split; see CALTECH_TEST_IMAGES). `balanced`: every class has the same
# number of test images, so top-1 accuracy and mean per-class recall are the same number.
TEST_SETS: dict[str, dict[str, Any]] = {
    "cifar10": {"name": "CIFAR-10", "classes": 10, "images": 10_000, "balanced": True},
    "mnist": {"name": "MNIST", "classes": 10, "images": 10_000, "balanced": False},
    "oxford_pets_37": {"name": "Oxford-IIIT Pet", "classes": 37, "images": 3_669,
                       "balanced": False},
    "caltech101": {"name": "Caltech-101", "classes": 102, "images": 6_084,
                   "balanced": False},
    "imagenet": {"name": "ImageNet-1k val", "classes": 1000, "images": 50_000,
                 "balanced": True},
    "imagenetv2": {"name": "ImageNetV2 matched-frequency", "classes": 1000, "images": 10_000,
                   "balanced": True},
    "cats_dogs": {"name": "cats vs dogs (Kaggle PetImages)", "classes": 2, "images": 200,
                  "balanced": True},
}
# Caltech-101 test images: VTAB's test split (102 classes with "background"). Every acc1
# in CLIP_benchmark's file is a multiple of 1/6084; DataComp's tasklist.yml says 6085, and
# MobileCLIP-S1's acc1 there is 5109/6085.
CALTECH_TEST_IMAGES: dict[str, int] = {"clip_benchmark": 6_084, "open_clip": 6_085,
                                       "mobileclip": 6_085}

# -- the numbers, as each source prints them ----------------------------------------------

# CLIP_benchmark, benchmark/benchmark.csv: (acc1, mean_per_class_recall). No row there for
# RN50, SigLIP or MobileCLIP; ImageNetV2 is its "imagenetv2" dataset.
_CLIP_BENCHMARK: dict[str, dict[str, tuple[float, float]]] = {
    "ViT-B-32/openai": {
        "cifar10": (0.8982, 0.8995000000000001),
        "mnist": (0.4855, 0.4575381785680641),
        "oxford_pets_37": (0.8732624693376942, 0.8695864391489154),
        "caltech101": (0.819197896120973, 0.8786521640800292),
        "imagenet": (0.63334, 0.63284),
        "imagenetv2": (0.5596, 0.5602),
    },
    "ViT-B-16/openai": {
        "cifar10": (0.9083, 0.9082),
        "mnist": (0.4955, 0.5259367109048434),
        "oxford_pets_37": (0.8893431452711911, 0.884512216368383),
        "caltech101": (0.8254437869822485, 0.908884143116176),
        "imagenet": (0.68352, 0.68396),
        "imagenetv2": (0.6188, 0.6202000000000001),
    },
    "ViT-L-14/openai": {
        "cifar10": (0.9569, 0.9572),
        "mnist": (0.7679, 0.7581398074696393),
        "oxford_pets_37": (0.9307713273371492, 0.9330900923082088),
        "caltech101": (0.8385930309007232, 0.9334530557615972),
        "imagenet": (0.7549, 0.7545),
        "imagenetv2": (0.6968, 0.6974),
    },
    "ViT-L-14-336/openai": {
        "cifar10": (0.9497, 0.9497),
        "mnist": (0.7871, 0.7775130720394369),
        "oxford_pets_37": (0.9381302807304442, 0.9372081115891412),
        "caltech101": (0.8379355687047995, 0.9328934325841473),
        "imagenet": (0.76548, 0.7656000000000001),
        "imagenetv2": (0.7074, 0.7075),
    },
}

# open_clip, docs/openclip_results.csv: columns CIFAR-10, MNIST, Oxford-IIIT Pet,
# Caltech-101, ImageNet 1k, ImageNet v2. No MobileCLIP-S1 row.
_OPEN_CLIP: dict[str, dict[str, float]] = {
    "RN50/openai": {"cifar10": 0.7157, "mnist": 0.5755, "oxford_pets_37": 0.8529,
                    "caltech101": 0.8329, "imagenet": 0.5982, "imagenetv2": 0.5284},
    "ViT-B-32/openai": {"cifar10": 0.8983, "mnist": 0.4839, "oxford_pets_37": 0.8700,
                        "caltech101": 0.8758, "imagenet": 0.6332, "imagenetv2": 0.5592},
    "ViT-B-16/openai": {"cifar10": 0.9077, "mnist": 0.5135, "oxford_pets_37": 0.8886,
                        "caltech101": 0.8901, "imagenet": 0.6834, "imagenetv2": 0.6188},
    "ViT-L-14/openai": {"cifar10": 0.9559, "mnist": 0.7634, "oxford_pets_37": 0.9323,
                        "caltech101": 0.9249, "imagenet": 0.7554, "imagenetv2": 0.6983},
    "ViT-L-14-336/openai": {"cifar10": 0.9493, "mnist": 0.7916, "oxford_pets_37": 0.9369,
                            "caltech101": 0.9225, "imagenet": 0.7656, "imagenetv2": 0.7089},
    "ViT-B-16-SigLIP/webli": {"cifar10": 0.9234, "mnist": 0.8354, "oxford_pets_37": 0.9420,
                              "caltech101": 0.9518, "imagenet": 0.7604, "imagenetv2": 0.6893},
    "ViT-B-16-SigLIP-256/webli": {"cifar10": 0.9334, "mnist": 0.8457,
                                  "oxford_pets_37": 0.9424, "caltech101": 0.9496,
                                  "imagenet": 0.7653, "imagenetv2": 0.6920},
    "ViT-L-16-SigLIP-256/webli": {"cifar10": 0.9619, "mnist": 0.8499,
                                  "oxford_pets_37": 0.9604, "caltech101": 0.9593,
                                  "imagenet": 0.8045, "imagenetv2": 0.7376},
}
# DataComp's main metric per dataset (tasklist.yml; acc1 where none is named).
_OPEN_CLIP_METRIC: dict[str, str] = {
    "cifar10": "top1", "mnist": "top1", "imagenet": "top1", "imagenetv2": "top1",
    "oxford_pets_37": "mean_per_class_recall", "caltech101": "mean_per_class_recall",
}

# apple/ml-mobileclip, results/mobileclip_s1.jsonl: (acc1, mean_per_class_recall).
_MOBILECLIP: dict[str, dict[str, tuple[float, float]]] = {
    "MobileCLIP-S1/datacompdr": {
        "cifar10": (0.95, 0.95),
        "mnist": (0.8316, 0.8292419103386705),
        "oxford_pets_37": (0.9302262196783865, 0.9296134465226487),
        "caltech101": (0.8396055875102711, 0.93468432127583),
        "imagenet": (0.72616, 0.7259800000000001),
        "imagenetv2": (0.6485, 0.6485),
    },
}

# The supervised baseline (chapter 04): torchvision's ResNet-50, IMAGENET1K_V1 weights.
# timm's results files print percent (top1 63.190 on ImageNetV2, 76.156 on ImageNet-1k);
# torchvision's weights meta says acc@1 76.13 on ImageNet-1k.
SUPERVISED_MODEL = "resnet50/IMAGENET1K_V1"
_TIMM: dict[str, dict[str, float]] = {SUPERVISED_MODEL: {"imagenetv2": 0.6319,
                                                          "imagenet": 0.76156}}
_TORCHVISION: dict[str, dict[str, float]] = {SUPERVISED_MODEL: {"imagenet": 0.7613}}

# The CLIP paper, Table 11 (top-1, as printed there in percent, here as fractions).
CLIP_PAPER: dict[str, dict[str, float]] = {
    "RN50/openai": {"imagenet": 0.596},
    "ViT-B-32/openai": {"imagenet": 0.632},
    "ViT-B-16/openai": {"imagenet": 0.686, "cifar10": 0.916},
    "ViT-L-14/openai": {"imagenet": 0.753},
    "ViT-L-14-336/openai": {"imagenet": 0.762},
}

# The earlier experiment: per-class precision / recall / F1 on its kNN test split (100
# images per class, Kaggle PetImages), and the macro F1 (the mean of the two F1 scores).
REFERENCE_EXPERIMENT: dict[str, dict[str, Any]] = {
    "clip_image_knn": {
        "model": "ViT-B-16/openai",
        "what": "kNN on CLIP image embeddings",
        "models": {"clip": "ViT-B-16/openai"},
        "dataset": "cats_dogs", "data": "petimages", "test_images": 200,
        "per_class": {"cat": {"precision": 0.99, "recall": 1.00, "f1": 1.00},
                      "dog": {"precision": 1.00, "recall": 0.99, "f1": 0.99}},
        "macro_f1": 0.995,
    },
    "vlm_generic_description_knn": {
        "model": "Qwen2.5-VL-7B-Instruct + ViT-B-16/openai text tower",
        "what": "kNN on CLIP text embeddings of generic-prompt VLM descriptions",
        "models": {"vlm": "Qwen/Qwen2.5-VL-7B-Instruct", "clip": "ViT-B-16/openai"},
        "dataset": "cats_dogs", "data": "petimages", "test_images": 200,
        "per_class": {"cat": {"precision": 0.96, "recall": 0.99, "f1": 0.98},
                      "dog": {"precision": 0.99, "recall": 0.96, "f1": 0.97}},
        "macro_f1": 0.975,
    },
}

# Throughput the earlier experiment observed (images per second; hardware unstated), and
# the model each was measured with.
REFERENCE_SPEEDS: dict[str, float] = {
    "clip_vit_b16_images_per_s": 85.0,
    "qwen25_vl_7b_images_per_s": 1.5,
}
REFERENCE_SPEED_MODELS: dict[str, str] = {
    "clip_vit_b16_images_per_s": "ViT-B-16",
    "qwen25_vl_7b_images_per_s": "Qwen2.5-VL-7B",
}

# Top-1 from CLIP_benchmark per model and dataset (what chapter 02's prose quotes).
CLIP_BENCHMARK: dict[str, dict[str, float]] = {
    model: {ds: pair[0] for ds, pair in by_ds.items()}
    for model, by_ds in _CLIP_BENCHMARK.items()
}


# -- one flat list of every published number ----------------------------------------------
@dataclass(frozen=True)
class Reference:
    """One published number: who published it, for what, measured how."""

    source: str  # a key of SOURCES
    model: str  # "<architecture>/<pretrained tag>" as open_clip names it
    dataset: str  # a key of TEST_SETS
    metric: str  # a key of METRICS
    value: float  # a fraction in [0, 1]
    n: int  # test images behind the number
    classes: int  # classes in the test set


def _n(source: str, dataset: str) -> int:
    if dataset == "caltech101":
        return CALTECH_TEST_IMAGES[source]
    return TEST_SETS[dataset]["images"]


def _both(source: str, table: dict[str, dict[str, tuple[float, float]]]) -> list[Reference]:
    return [Reference(source, model, ds, metric, value, _n(source, ds), TEST_SETS[ds]["classes"])
            for model, by_ds in table.items() for ds, pair in by_ds.items()
            for metric, value in zip(("top1", "mean_per_class_recall"), pair)]


def _build() -> tuple[Reference, ...]:
    refs = _both("clip_benchmark", _CLIP_BENCHMARK)
    refs += [Reference("open_clip", model, ds, _OPEN_CLIP_METRIC[ds], value,
                       _n("open_clip", ds), TEST_SETS[ds]["classes"])
             for model, by_ds in _OPEN_CLIP.items() for ds, value in by_ds.items()]
    refs += _both("mobileclip", _MOBILECLIP)
    refs += [Reference(source, model, ds, "top1", value, TEST_SETS[ds]["images"],
                       TEST_SETS[ds]["classes"])
             for source, table in (("timm", _TIMM), ("torchvision", _TORCHVISION))
             for model, by_ds in table.items() for ds, value in by_ds.items()]
    refs += [Reference("clip_paper", model, ds, "top1", value, TEST_SETS[ds]["images"],
                       TEST_SETS[ds]["classes"])
             for model, by_ds in CLIP_PAPER.items() for ds, value in by_ds.items()]
    refs += [Reference("reference_experiment", r["model"], r["dataset"], "macro_f1",
                       r["macro_f1"], r["test_images"], TEST_SETS[r["dataset"]]["classes"])
             for r in REFERENCE_EXPERIMENT.values()]
    return tuple(refs)


REFERENCES: tuple[Reference, ...] = _build()


def references_for(model: str | None, dataset: str) -> list[Reference]:
    """Every published number for ``model`` on ``dataset``, in the order of SOURCES."""
    order = list(SOURCES)
    found = [r for r in REFERENCES if r.model == model and r.dataset == dataset]
    return sorted(found, key=lambda r: (order.index(r.source), r.metric))


# -- ImageNet-1k zero-shot top-1 by prompt template set (chapter 04) --------------------
__all__ += ["IMAGENET_TEMPLATE_SETS", "IMAGENET_TEMPLATE_SETS_SOURCE"]

# Top-1 accuracy (%) on ImageNet-1k val, from the results table of the tutorial "From
# Pixels to Prompts" (book/references.bib: zeroshottutorial). reported_clip: Table 11 of
# the CLIP paper (Radford et al., 2021); reported_siglip: Table 3 of the SigLIP paper
# (Zhai et al., 2023); openai80 / standard / raw: the tutorial's own runs with the 80
# OpenAI templates, "a photo of a {}." and the bare class name. ``label`` is how the
# table names the model.
IMAGENET_TEMPLATE_SETS: dict[str, dict[str, Any]] = {
    "RN50/openai": {"label": "CLIP ResNet-50 (224px)", "reported_clip": 59.6,
                    "reported_siglip": None, "openai80": 59.8, "standard": 57.9, "raw": 55.3},
    "ViT-B-32/openai": {"label": "CLIP ViT-B/32 (224px)", "reported_clip": 63.2,
                        "reported_siglip": None, "openai80": 63.3, "standard": 61.9, "raw": 59.0},
    "ViT-B-16/openai": {"label": "CLIP ViT-B/16 (224px)", "reported_clip": 68.6,
                        "reported_siglip": 68.3, "openai80": 68.3, "standard": 66.6, "raw": 64.1},
    "ViT-L-14/openai": {"label": "CLIP ViT-L/14 (224px)", "reported_clip": 75.3,
                        "reported_siglip": 75.5, "openai80": 75.5, "standard": 72.9, "raw": 71.6},
    "ViT-L-14-336/openai": {"label": "CLIP ViT-L/14 (336px)", "reported_clip": 76.2,
                            "reported_siglip": 76.6, "openai80": 76.5, "standard": 74.3,
                            "raw": 73.0},
    "ViT-B-16-SigLIP/webli": {"label": "SigLIP ViT-B/16 (224px)", "reported_clip": None,
                              "reported_siglip": 76.3, "openai80": 76.1, "standard": 75.7,
                              "raw": 74.8},
    "ViT-B-16-SigLIP-256/webli": {"label": "SigLIP ViT-B/16 (256px)", "reported_clip": None,
                                  "reported_siglip": 76.6, "openai80": 76.5, "standard": 76.3,
                                  "raw": 75.2},
    "ViT-L-16-SigLIP-256/webli": {"label": "SigLIP ViT-L/16 (256px)", "reported_clip": None,
                                  "reported_siglip": 80.6, "openai80": 80.5, "standard": 79.7,
                                  "raw": 78.9},
}
IMAGENET_TEMPLATE_SETS_SOURCE = (
    "CLIP paper: Table 11 of the CLIP paper; SigLIP paper: Table 3 of the SigLIP paper; "
    "both as collected in the tutorial From Pixels to Prompts, beside its own runs "
    "(the tutorial: columns)."
)
