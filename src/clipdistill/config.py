"""Profiles and parameters: the one place every chapter's knobs live.

A *profile* is a named set of overrides over the defaults below (the profiles themselves
are data, in :mod:`clipdistill.profiles`); a run may override any field again (``--set key=value`` on the command line, ``overrides={...}`` in a notebook).
Everything is validated up front so a typo fails in a second, not after an hour of
embedding.
"""

from __future__ import annotations

import dataclasses
import json
import typing
from dataclasses import dataclass, field, fields
from pathlib import Path
from typing import Any, Mapping

from .profiles import (  # noqa: F401 - re-exported: the one place to import them from
    CPU_VLM,
    HARDWARE_ADJUSTMENTS,
    PROFILE_NAMES,
    PROFILES,
    REFERENCE_SPLITS,
    TINY_SMOLVLM,
    TINY_VLM,
    TUTORIAL_MODELS,
)
from . import hub  # below config: it needs only the profiles
from .device import CPU_DTYPES
from .suggest import did_you_mean

__all__ = [
    "Config",
    "ConfigError",
    "PROFILES",
    "PROFILE_NAMES",
    "HARDWARE_ADJUSTMENTS",
    "REFERENCE_SPLITS",
    "TINY_VLM",
    "TINY_SMOLVLM",
    "resolve",
    "parse_overrides",
    "project_root",
    "field_notes",
]


class ConfigError(ValueError):
    """A bad profile, key or value: always a one-line message naming the culprit."""


# The two prompts the VLM describes every image under (chapters 03 and 05).
VLM_PROMPTS: dict[str, str] = {
    "generic": "describe this image in a sentence.",
    "specific": (
        "describe the features of this image in the context of deciding if it is a cat, "
        "or a dog, or something else."
    ),
}

# Chapter 02's MNIST prompt strategies: templates take the class name through "{}";
# "classnames" says whether that name is the digit ("7") or the word ("seven").
MNIST_PROMPTS: dict[str, dict[str, Any]] = {
    "bare digit": {"templates": ["{}"], "classnames": "digits"},
    "photo of the number": {"templates": ['a photo of the number: "{}".'], "classnames": "digits"},
    "handwritten digit": {"templates": ["a handwritten digit {}.", "a black and white image of the digit {}."],
                          "classnames": "digits"},
    "spelled out": {"templates": ["a photo of the number {}.", "the handwritten number {}."],
                    "classnames": "words"},
}

@dataclass
class Config:
    """Every parameter of every chapter. Field defaults are the ``quick`` profile."""

    # -- run ------------------------------------------------------------------------
    profile: str = "quick"
    smoke: bool = False  # random weights: numbers are NOT results
    profile_note: str = ""  # why "auto" chose what it chose
    seed: int = 0
    device: str = "auto"  # auto | cpu | cuda | mps
    data_root: str = ""  # folder with PetImages/, cifar10/, ... ("" = download or synthesise)
    work_dir: str = "work"  # prepared images and caches (content-keyed, shared by profiles)
    results_dir: str = "results"  # results/<profile>/<chapter>.json and figures
    num_workers: int = 2  # processes resizing (01) and decoding on a GPU; on a CPU, decoding threads (at least this many)
    batch_size: int = 32
    pin_weights: bool = True  # hub downloads at the commits in pins.json; false: each repository's newest main
    hub_revisions: dict = field(default_factory=dict)  # repo id -> revision over pins.json, e.g. {"org/name": "main"}

    # -- 01 data prep -----------------------------------------------------------------
    pets_source: str = "oxford_pets"  # auto | petimages | oxford_pets | folder | synthetic
    pets_dir: str = ""  # class-per-folder tree when pets_source is "folder"
    image_size: int = 640  # resized copies are image_size x image_size
    resize_mode: str = "pad"  # pad (keep the whole animal) | crop (fill the frame)
    splits: dict = field(default_factory=lambda: {
        "knn": dict(REFERENCE_SPLITS["knn"]),
        "cat_dog_1k": dict(REFERENCE_SPLITS["cat_dog_1k"]),
    })
    allow_fewer: bool = False  # take fewer images than a split asks for, with a warning
    other_source: str = "caltech101"  # caltech101 | openimages | folder | synthetic
    other_dir: str = ""
    cifar10_per_class: int = 100
    mnist_per_class: int = 100
    image_width: int = 0  # 0 = square copies; else they are image_size (height) x image_width
    pad_color: list = field(default_factory=lambda: [123, 117, 104])  # letterbox fill: CLIP's mean colour (~0 once normalised)
    jpeg_quality: int = 95  # resized copies are JPEGs at this quality (4:4:4 from 90 up)
    max_image_pixels: int = 89_478_485  # bigger images are skipped as decompression bombs (Pillow's limit)
    pets_per_class_limit: int = 0  # 0 = every file; N = a seeded sample of N files per class (smoke: seconds)

    # -- 02 zero-shot CLIP ------------------------------------------------------------
    clip_model: str = "ViT-B-32"
    clip_pretrained: str = "openai"
    explore_models: list = field(default_factory=lambda: [
        "RN50/openai", "ViT-B-32/openai", "ViT-B-16/openai",
        "MobileCLIP-S1/datacompdr", "ViT-B-16-SigLIP/webli",
    ])
    compare_models: list = field(default_factory=lambda: [  # accuracy and speed side by side; speeds as a ratio to the first
        "ViT-B-32/openai", "MobileCLIP-S1/datacompdr", "MobileCLIP2-S0/dfndr2b",
    ])
    compare_rounds: int = 3  # alternating timing rounds of compare_models (0 = no timing)
    knn_k: int = 5
    knn_k_values: list = field(default_factory=lambda: [1, 3, 5, 9, 15, 25])  # chapter 02's k sweep
    temperatures: list = field(default_factory=lambda: [0.003, 0.01, 0.03, 0.07, 0.1, 0.3, 1.0])
    retrieval_queries: list = field(default_factory=lambda: [
        "a photo of a sleeping cat", "a dog playing outside", "a black and white pet",
    ])
    retrieval_top_k: int = 5
    clip_amp: str = "auto"  # GPU autocast while embedding: auto (bf16 where supported, else fp16) | fp16 | bf16 | off
    clip_cpu_kernels: str = "auto"  # fp32 CPU matmuls: auto (oneDNN where available) | onednn | torch (stock)
    clip_cpu_dtype: str = "auto"  # CPU embedding precision: auto (bfloat16 on AMX/AVX512-BF16, else float32) | float32 | bfloat16
    embed_text_batch_size: int = 256  # prompts per text-encoder batch
    zero_shot_templates: list = field(default_factory=lambda: ["a photo of a {}."])  # cats/dogs, CIFAR-10
    mnist_prompts: dict = field(default_factory=lambda: {k: dict(v) for k, v in MNIST_PROMPTS.items()})
    projection: str = "pca"  # 2-D map of the embedding space: pca | tsne
    concept_words: list = field(default_factory=lambda: [  # set beside the class names in text space
        "kitten", "puppy", "lion", "wolf", "jet", "sports car", "sparrow", "antelope", "toad",
        "stallion", "sailboat", "lorry",
    ])
    random_floor_repeats: int = 5  # seeds averaged for the random-embedding kNN floor
    benchmark_images: int = 256  # images timed for throughput, cold then warm cache

    # -- 03 VLM descriptions ----------------------------------------------------------
    vlm_backend: str = "transformers"  # transformers | openai (any compatible server)
    vlm_model: str = "Qwen/Qwen2.5-VL-3B-Instruct"
    vlm_api_base: list = field(default_factory=list)  # openai backend: one server or several, e.g. http://localhost:8000/v1 (a string is one); the key comes from the env only
    vlm_max_new_tokens: int = 64
    vlm_batch_size: int = 8
    vlm_max_images: int = 0  # per class per split; 0 = all (a CPU reader gets fewer)
    vlm_prompts: dict = field(default_factory=lambda: dict(VLM_PROMPTS))
    vlm_temperature: float = 0.0  # 0 = greedy decoding (the default: reproducible, cacheable)
    vlm_repetition_penalty: float = 1.0  # 1 = off; sent to HTTP servers only when not 1
    vlm_dtype: str = "auto"  # auto (bfloat16 on CUDA, float16 on MPS; on a CPU as clip_cpu_dtype's auto) | ...
    vlm_attn: str = "auto"  # auto (flash_attention_2 when installed on CUDA, else sdpa) | ...
    vlm_max_pixels: int = 0  # cap on pixels per image fed to the VLM (Qwen's rule; the openai backend resizes before sending); 0 = the processor's own
    vlm_cpu_kernels: str = "auto"  # fp32 CPU matmuls while describing: auto (oneDNN where available) | onednn | torch
    vlm_image_processor: dict = field(default_factory=dict)  # image-processor settings to override, e.g. {"do_image_splitting": false}
    vlm_concurrency: int = 64  # openai backend: requests in flight per server (a sliding window); a vLLM server with data parallel 8 wants ~8x this
    vlm_timeout_s: float = 120.0  # openai backend: per request
    vlm_max_retries: int = 4  # openai backend: retries after a 5xx/429, timeout or bad reply
    vlm_backoff_s: float = 1.0  # openai backend: first retry wait, doubled each time

    # -- 04 prompt ensembles ----------------------------------------------------------
    ensemble_models: list = field(default_factory=lambda: list(TUTORIAL_MODELS))
    template_sets: list = field(default_factory=lambda: [
        "raw", "standard", "openai80", "simple7", "dataset",
    ])
    ensemble_datasets: list = field(default_factory=lambda: [
        "cats_dogs", "oxford_pets_37", "cifar10", "mnist", "caltech101", "imagenetv2",
    ])
    ensemble_per_class: int = 50
    imagenet_root: str = ""  # ImageNet-1k val folder, when you have it
    imagenetv2_per_class: int = 10  # ImageNetV2 images per class, seeded (10 = all 10,000)
    supervised_model: str = "resnet50/IMAGENET1K_V1"  # torchvision classifier on the 1,000-class sets ("" = none)
    ensemble_rank_set: str = "openai80"  # whose single templates are ranked (help or hurt)
    ensemble_max_templates: int = 0  # 0 = every template of a set; smoke keeps the first few
    ensemble_max_classes: int = 0  # 0 = every class; smoke keeps the first few of each dataset

    # -- 05 distillation --------------------------------------------------------------
    students: list = field(default_factory=lambda: [
        "tiny_cnn", "mobilenet_v3_small", "resnet18", "vit_tiny",
    ])
    student_dim: int = 0  # 0 = the teacher's dimension; 64 = the compact head
    teachers: list = field(default_factory=lambda: ["image", "generic", "specific"])
    distill_splits: list = field(default_factory=lambda: ["cat_dog_1k"])
    extra_images: list = field(default_factory=lambda: [0, 1000])
    student_image_size: int = 160
    epochs: int = 30
    lr: float = 1e-3
    patience: int = 5
    distill_batch_size: int = 64
    distill_weight_decay: float = 0.05  # AdamW; not applied to norms and biases
    distill_augment: bool = True  # random resized crop, flip, mild colour jitter
    distill_speed_batches: int = 10  # timed batches per images/s figure (after 2 warm-up)
    distill_cpu_dtype: str = "auto"  # students' CPU precision: auto (bfloat16 where measured faster) | float32 | bfloat16

    # -- 07 colour (models as in chapter 02: open_clip "name/tag" or Hugging Face ids) -------
    colour_models: list = field(default_factory=lambda: [
        "openai/clip-vit-base-patch32", "openai/clip-vit-base-patch16"])
    colour_prompt_styles: list = field(default_factory=lambda: [1, 2, 3, 4])  # see colour.prompts
    colour_tasks: list = field(default_factory=lambda: ["naming", "associations", "discriminability", "human"])
    colour_max_colours: int = 0  # survey colours named; 0 = all 518 that map to one basic term
    colour_concepts: list = field(default_factory=list)  # [] = every concept in colour.associations
    colour_palettes: list = field(default_factory=list)  # concept lists; [] = colour.associations.PALETTES
    colour_patch_size: int = 224  # side of the rendered colour patches, in pixels
    colour_trust_remote_code: bool = False  # run a model's own hub code (LLM2CLIP): a security decision, never a profile's

    # ---------------------------------------------------------------------------------
    def profile_dir(self) -> Path:
        """Where this profile's results and figures go."""
        return Path(self.results_dir) / self.profile

    def to_dict(self) -> dict[str, Any]:
        return dataclasses.asdict(self)


# Which string fields accept only some values.
CHOICES: dict[str, tuple[str, ...]] = {
    "device": ("auto", "cpu", "cuda", "mps"),
    "pets_source": ("auto", "petimages", "oxford_pets", "folder", "synthetic"),
    "other_source": ("auto", "caltech101", "openimages", "folder", "synthetic"),
    "resize_mode": ("pad", "crop"),
    "vlm_backend": ("transformers", "openai"),
    "clip_amp": ("auto", "fp16", "bf16", "off"),
    "clip_cpu_kernels": ("auto", "onednn", "torch"),
    "clip_cpu_dtype": CPU_DTYPES,
    "distill_cpu_dtype": CPU_DTYPES,
    "projection": ("pca", "tsne"),
    "vlm_dtype": ("auto", "bfloat16", "float16", "float32"),
    "vlm_attn": ("auto", "sdpa", "flash_attention_2", "eager"),
    "vlm_cpu_kernels": ("auto", "onednn", "torch"),
}

_FIELDS = {f.name: f for f in fields(Config)}
_FIXED = ("profile", "smoke", "profile_note")  # set by the profile alone: a smoke run can't be relabelled
_HINTS = typing.get_type_hints(Config)


def project_root(start: Path | None = None) -> Path:
    """The folder holding ``_config.yml`` (so notebooks run from notebooks/ find results/)."""
    here = (start or Path.cwd()).resolve()
    for candidate in (here, *here.parents):
        if (candidate / "_config.yml").is_file() and (candidate / "notebooks").is_dir():
            return candidate
    return here


def _one_line(msg: str) -> str:
    return " ".join(msg.split())


def _coerce(key: str, value: Any) -> Any:
    """Check (and, for strings from the command line, convert) one override value."""
    hint = _HINTS[key]
    origin = typing.get_origin(hint) or hint
    if isinstance(value, str) and origin is not str:
        text = value.strip()
        try:
            if origin is bool:
                low = text.lower()
                if low in ("1", "true", "yes", "on"):
                    return True
                if low in ("0", "false", "no", "off"):
                    return False
                raise ValueError
            if origin is int:
                return int(text)
            if origin is float:
                return float(text)
            if origin is list:
                if text.startswith("["):
                    value = json.loads(text)
                else:
                    value = [_scalar(v) for v in text.split(",") if v.strip()]
            elif origin is dict:
                value = json.loads(text)
        except (ValueError, json.JSONDecodeError):
            raise ConfigError(_one_line(
                f"Bad value for {key!r}: {value!r} is not of type {origin.__name__}."
            )) from None
    ok = isinstance(value, origin) and not (origin in (int, float) and isinstance(value, bool))
    if origin is float and isinstance(value, int) and not isinstance(value, bool):
        value, ok = float(value), True
    if not ok:
        raise ConfigError(_one_line(
            f"Bad value for {key!r}: expected {origin.__name__}, got "
            f"{type(value).__name__} {value!r}."
        ))
    if key in CHOICES and value not in CHOICES[key]:
        raise ConfigError(_one_line(
            f"Bad value for {key!r}: {value!r}.{did_you_mean(str(value), CHOICES[key])}"
        ))
    return value


def _scalar(text: str) -> Any:
    text = text.strip()
    for cast in (int, float):
        try:
            return cast(text)
        except ValueError:
            pass
    return text


def field_notes() -> dict[str, str]:
    """Each Config field's comment in this file (``0 = every file; ...``), so the profiles
    page explains a value where it shows it; the source stays the one place they live."""
    import inspect
    import re

    notes = {}
    for line in inspect.getsource(Config).splitlines():
        match = re.match(r"^    (\w+): [^#]*?#\s*(.+)$", line)
        if match:
            notes[match[1]] = match[2].strip()
    return notes


def parse_overrides(pairs: typing.Iterable[str]) -> dict[str, Any]:
    """``["knn_k=7", "epochs=3"]`` -> ``{"knn_k": 7, "epochs": 3}``, validated."""
    out: dict[str, Any] = {}
    for pair in pairs:
        if "=" not in pair:
            raise ConfigError(f"Bad override {pair!r}: expected key=value.")
        key, value = pair.split("=", 1)
        key = key.strip()
        _check_key(key)
        out[key] = _coerce(key, value)
    return out


def _check_key(key: str) -> None:
    if key in _FIXED:
        raise ConfigError(f"{key!r} cannot be overridden: choose it with --profile.")
    if key not in _FIELDS:
        raise ConfigError(_one_line(
            f"Unknown parameter {key!r}.{did_you_mean(key, [k for k in _FIELDS if k not in _FIXED])}"
        ))


def pretrained_weights_reachable(cfg: Config | None = None) -> tuple[bool, str]:
    """Can ``cfg``'s weights (default: the ``quick`` profile's) be had? See :mod:`clipdistill.hub`."""
    return hub.weights_available(cfg if cfg is not None else resolve("quick"))


def resolve(
    profile: str = "auto",
    overrides: Mapping[str, Any] | None = None,
    *,
    accelerator: bool | None = None,
    weights_reachable: tuple[bool, str] | None = None,
) -> Config:
    """Build the Config for ``profile`` plus ``overrides``; raise ConfigError on any slip.

    ``accelerator`` and ``weights_reachable`` are detected when not given (tests pass them).
    """
    if profile not in PROFILE_NAMES:
        raise ConfigError(_one_line(f"Unknown profile {profile!r}.{did_you_mean(profile, PROFILE_NAMES)}"))
    overrides = dict(overrides or {})
    checked = {}
    for key, value in overrides.items():
        _check_key(key)
        checked[key] = _coerce(key, value)

    note = ""
    if profile == "auto":
        if weights_reachable is None:  # the weights of the quick run this would become
            weights_reachable = pretrained_weights_reachable(
                resolve("quick", checked, accelerator=accelerator))
        ok, why = weights_reachable
        profile = "quick" if ok else "smoke"
        note = f"auto -> {profile}: {why}"
        if not ok:
            import warnings

            warnings.warn(
                f"Profile 'auto' fell back to 'smoke' because {why}. Smoke uses RANDOM "
                "weights: its numbers are not results.",
                stacklevel=2,
            )

    values: dict[str, Any] = {"profile": profile}
    values.update(PROFILES[profile])
    if accelerator is None:
        from .device import accelerator_available

        accelerator = accelerator_available()
    if not accelerator:
        values.update(HARDWARE_ADJUSTMENTS.get(profile, {}))
    values.update(checked)
    values["profile_note"] = note
    return Config(**{k: _deepcopy(v) for k, v in values.items()})


def _deepcopy(value: Any) -> Any:
    return json.loads(json.dumps(value)) if isinstance(value, (list, dict)) else value
