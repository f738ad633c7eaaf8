"""The named profiles, as data: what ``smoke``, ``quick`` and ``paper`` change.

Each profile is a dict of overrides over :class:`clipdistill.config.Config`'s defaults (the
defaults *are* ``quick``); ``HARDWARE_ADJUSTMENTS`` is applied on top when no GPU is found.
``config.resolve`` validates every key and value, so a typo here fails the first run.
"""

from __future__ import annotations

from typing import Any

__all__ = ["REFERENCE_SPLITS", "TUTORIAL_MODELS", "TINY_VLM", "TINY_SMOLVLM", "CPU_VLM", "PROFILES",
           "PROFILE_NAMES", "CPU_RUN", "HARDWARE_ADJUSTMENTS"]

# The split sizes of the cats-vs-dogs experiment this book reproduces (images *per class*).
REFERENCE_SPLITS: dict[str, dict[str, int]] = {
    "knn": {"train": 100, "test": 100},
    "cat_dog_1k": {"train": 1000, "validate": 100, "test": 100},
    "cat_dog_10k": {"train": 10000, "validate": 100, "test": 100},
}

# The models of the prompt-ensemble tutorial's ImageNet table (chapter 04), which the
# GPU profiles run on ImageNetV2.
TUTORIAL_MODELS: tuple[str, ...] = (
    "RN50/openai", "ViT-B-32/openai", "ViT-B-16/openai", "ViT-L-14/openai",
    "ViT-L-14-336/openai", "ViT-B-16-SigLIP/webli", "ViT-B-16-SigLIP-256/webli",
    "ViT-L-16-SigLIP-256/webli",
)

# Smoke-profile stand-ins for hub VLMs, built offline with random weights: a tiny
# Qwen2.5-VL (the GPU profiles' family) and a tiny SmolVLM (the CPU profiles'), both
# built by clipdistill.offline.
TINY_VLM = "tiny-random-qwen2.5-vl"
TINY_SMOLVLM = "tiny-random-smolvlm"
# Without a GPU the VLM is SmolVLM-256M, one 512-px tile per image (splitting a 640-px
# image into 17 tiles would cost 17x the vision work): see book/profiles.md for the budget.
CPU_VLM = {"vlm_model": "HuggingFaceTB/SmolVLM-256M-Instruct",
           "vlm_image_processor": {"do_image_splitting": False}}

# Profiles: overrides over Config's defaults. "auto" is resolved by `config.resolve`.
PROFILES: dict[str, dict[str, Any]] = {
    "smoke": {
        # Offline: the real architectures with seeded random weights, on real images
        # from --data-root (or a generated set). Minutes on 2 CPU cores.
        "smoke": True,
        "pets_source": "auto",
        "other_source": "auto",
        "image_size": 224,
        "splits": {
            "knn": {"train": 16, "test": 16},
            "cat_dog_1k": {"train": 48, "validate": 8, "test": 8},
            "cat_dog_10k": {"train": 96, "validate": 8, "test": 8},
        },
        "cifar10_per_class": 8,
        "mnist_per_class": 8,
        "pets_per_class_limit": 400,
        "clip_model": "ViT-B-32",
        "explore_models": ["RN50/openai", "ViT-B-32/openai", "MobileCLIP-S1/datacompdr"],
        "compare_models": ["ViT-B-32/openai", "MobileCLIP2-S0/dfndr2b"],
        "compare_rounds": 1,
        "benchmark_images": 32,
        "random_floor_repeats": 3,
        "num_workers": 2,
        "batch_size": 16,
        "vlm_model": TINY_VLM,
        "vlm_max_new_tokens": 12,
        "vlm_batch_size": 4,
        "vlm_max_images": 4,
        "ensemble_models": ["RN50/openai", "ViT-B-32/openai"],
        "ensemble_datasets": ["cats_dogs", "cifar10", "mnist", "caltech101", "imagenetv2"],
        "imagenetv2_per_class": 2,  # of a generated stand-in archive (20 classes of shapes)
        "template_sets": ["raw", "standard", "openai80", "dataset"],
        "ensemble_per_class": 4,
        "ensemble_max_templates": 3,  # a smoke run checks the code path, in seconds
        "ensemble_max_classes": 5,
        "students": ["tiny_cnn", "mobilenet_v3_small"],
        "distill_splits": ["cat_dog_1k", "cat_dog_10k"],
        "extra_images": [0, 48],
        "student_image_size": 64,
        "epochs": 2,
        "patience": 2,
        "distill_batch_size": 16,
        "distill_speed_batches": 2,
        # Describing every distillation image with the tiny VLM costs ~0.1 s each on a CPU:
        # smoke runs one description teacher (the specific prompt is the same code path).
        "teachers": ["image", "generic"],
        "colour_models": ["openai/clip-vit-base-patch32"],  # its text tower costs most: ~70 prompts
        "colour_max_colours": 11,  # one per basic term
        "colour_concepts": ["banana", "strawberry", "sky", "grass", "danger", "calm"],
        "colour_palettes": [["banana", "strawberry", "sky", "grass"], ["danger", "calm"]],
    },
    "quick": {
        # The default with internet: ViT-B-32 (OpenAI weights), Oxford-IIIT Pet
        # (binary cat/dog), Qwen2.5-VL-3B, and the tutorial's eight models (chapter 04)
        # on all of ImageNetV2. About an hour on one modern GPU, most of it the VLM
        # describing every distillation image under both prompts.
    },
    "paper": {
        # The earlier experiment at full size: ViT-B-16, Kaggle PetImages, cat_dog_10k,
        # Qwen2.5-VL-7B.
        "clip_model": "ViT-B-16",
        "pets_source": "petimages",
        "other_source": "openimages",
        "splits": {k: dict(v) for k, v in REFERENCE_SPLITS.items()},
        "vlm_model": "Qwen/Qwen2.5-VL-7B-Instruct",
        "distill_splits": ["cat_dog_1k", "cat_dog_10k"],
        "extra_images": [0, 1000, 10000, 100000],
        "colour_models": ["openai/clip-vit-base-patch32", "openai/clip-vit-base-patch16",
                          "openai/clip-vit-large-patch14"],
    },
}
PROFILE_NAMES: tuple[str, ...] = ("auto", *PROFILES)

# A reader without a GPU still gets a run that ends within the hour, and answers every
# chapter's question: SmolVLM-256M (CPU_VLM) describes the whole knn split under both
# prompts (the second prompt reuses each image's features: vlm.image_features), and
# chapter 05 distils from the image and the generic-description teacher on knn/train
# itself, whose descriptions chapter 03 already wrote (labels unused; knn/test stays
# unseen), with a small knn/validate for early stopping: 20 new descriptions, not 250.
# Applied by `resolve` when no accelerator is found; book/profiles.md has the measured
# cost of each chapter.
CPU_RUN: dict[str, Any] = {
    **CPU_VLM, "vlm_max_images": 0, "vlm_max_new_tokens": 40, "vlm_batch_size": 16,
    "splits": {"knn": {**REFERENCE_SPLITS["knn"], "validate": 10}},
    "distill_splits": ["knn"], "extra_images": [0], "teachers": ["image", "generic"],
    "epochs": 8, "students": ["tiny_cnn", "mobilenet_v3_small"], "ensemble_per_class": 20,
    # ImageNetV2 on a CPU: all 1,000 classes, a seeded 2 of each class's 10 images.
    "imagenetv2_per_class": 2,
    # Chapter 02 compares one MobileCLIP with ViT-B-32 (two took 5.7 min with 3 rounds).
    "compare_models": ["ViT-B-32/openai", "MobileCLIP2-S0/dfndr2b"], "compare_rounds": 2,
}
HARDWARE_ADJUSTMENTS: dict[str, dict[str, Any]] = {
    "smoke": {**CPU_VLM, "vlm_model": TINY_SMOLVLM},  # mirrors the CPU quick run's VLM
    "quick": {**CPU_RUN, "ensemble_models": ["ViT-B-32/openai"],
              "explore_models": ["ViT-B-32/openai", "RN50/openai"],
              "colour_models": ["openai/clip-vit-base-patch32"]},
    # ImageNetV2 would add ~22 min (82,000 prompts a model: benchmarks/bench_imagenetv2_cpu),
    # to ~58 of the hour; the CPU quick run measures it with ViT-B-32 already.
    "paper": {**CPU_RUN, "ensemble_models": ["ViT-B-32/openai", "ViT-B-16/openai"],
              "ensemble_datasets": ["cats_dogs", "oxford_pets_37", "cifar10", "mnist", "caltech101"],
              "colour_models": ["openai/clip-vit-base-patch32", "openai/clip-vit-base-patch16"]},
}
