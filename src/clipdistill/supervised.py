"""The supervised baseline: a classifier trained on ImageNet's labels (chapter 04).

"Zero-shot CLIP is competitive" means something only beside a model that *did* see
ImageNet's 1.28 million labelled training images. The classic yardstick, the one the
CLIP paper measured itself against, is ResNet-50; the prompt-ensemble tutorial this book
reproduces benchmarks it first. Here it is torchvision's own model, loaded through
torchvision's weights API (``torchvision.models.get_model``: its download, its SHA-256
prefix check, its cache in ``torch.hub.get_dir()``), with the weights' own preprocessing
(``weights.transforms()``: resize 256, centre crop 224, ImageNet normalisation).

:class:`Supervised` offers the two methods the embedding engine calls
(:func:`clipdistill.embed.embed_images`), so a baseline's outputs are computed in the
same batches, on the same decoder, and cached by image content like every CLIP
embedding. Its "embedding" is the 1,000 class logits, L2-normalised by the engine, which
changes no argmax: the prediction is the largest entry. A smoke run builds the same
network with seeded random weights and downloads nothing.
"""

from __future__ import annotations

import contextlib
from dataclasses import dataclass, field
from typing import Any, Sequence

import numpy as np
import torch

from .io import stable_hash
from .suggest import did_you_mean

__all__ = ["Supervised", "SupervisedError", "parse_supervised", "load_supervised",
           "predict", "evaluate"]


class SupervisedError(ValueError):
    """A baseline that cannot be named or loaded: one sentence with the way out."""


@dataclass
class Supervised:
    """A torchvision classifier behind the part of ClipModel's interface the engine uses."""

    model: torch.nn.Module
    preprocess: Any  # the weights' own transforms (a torch module)
    name: str  # "resnet50/IMAGENET1K_V1"
    pretrained: str | None  # the weights' name; None for random weights
    random_weights: bool
    device: torch.device
    embed_dim: int  # classes: the engine caches one row of logits per image
    key: str
    precision: str = "fp32"
    backend: str = "torchvision"
    amp_dtype: torch.dtype | None = None
    cpu_kernels: str = "torch"  # the engine runs the model itself (no oneDNN copy)
    info: dict[str, Any] = field(default_factory=dict)
    _inference: Any = field(default=None, repr=False)

    def encode_image(self, pixels: torch.Tensor, normalize: bool = False, *,
                     module: torch.nn.Module | None = None) -> torch.Tensor:
        """Class logits of preprocessed pixels (N, classes)."""
        out = (self.model if module is None else module)(pixels.to(self.device, non_blocking=True))
        return torch.nn.functional.normalize(out, dim=-1) if normalize else out

    def autocast(self) -> contextlib.AbstractContextManager:
        if self.amp_dtype is None:
            return contextlib.nullcontext()
        return torch.autocast(device_type=self.device.type, dtype=self.amp_dtype)


def parse_supervised(spec: str) -> tuple[str, Any]:
    """``"resnet50/IMAGENET1K_V1"`` -> (architecture, torchvision weights enum member)."""
    import torchvision

    arch, _, weights = spec.partition("/")
    archs = torchvision.models.list_models(module=torchvision.models)
    if arch not in archs:
        raise SupervisedError(f"Unknown torchvision classifier {arch!r} in supervised_model="
                              f"{spec!r}.{did_you_mean(arch, archs)}")
    enum = torchvision.models.get_model_weights(arch)
    names = [w.name for w in enum]
    if weights not in names:
        raise SupervisedError(f"Unknown weights {weights!r} for {arch} in supervised_model="
                              f"{spec!r}.{did_you_mean(weights, names)}")
    return arch, enum[weights]


def load_supervised(cfg: Any, spec: str | None = None) -> Supervised:
    """``cfg.supervised_model`` (or ``spec``), on the chapter's device; random weights in
    smoke. The weights come through torchvision's downloader; a failure names the file
    to fetch by hand."""
    import torchvision

    from .device import torch_device
    from .models.loading import _amp_dtype

    spec = spec or cfg.supervised_model
    arch, weights = parse_supervised(spec)
    random_weights = bool(cfg.smoke)
    if random_weights:
        torch.manual_seed(cfg.seed)
        model = torchvision.models.get_model(arch, weights=None)
    else:
        try:
            model = torchvision.models.get_model(arch, weights=weights, progress=False)
        except Exception as exc:  # noqa: BLE001 - any failure is one sentence with the way out
            import os

            target = os.path.join(torch.hub.get_dir(), "checkpoints", weights.url.rsplit("/", 1)[-1])
            raise SupervisedError(
                f"Could not download torchvision's {spec} weights ({type(exc).__name__}: {exc}); "
                f"fetch them by hand with `curl -L -o {target} {weights.url}` and rerun, or set "
                "supervised_model to \"\" to skip the baseline.") from None
    device = torch_device(cfg)
    model = model.eval().to(device)
    preprocess = weights.transforms()
    amp = _amp_dtype(getattr(cfg, "clip_amp", "auto"), device, "fp32")
    seed = {"random_seed": cfg.seed} if random_weights else {"url": weights.url}
    key = f"{arch}-{weights.name if not random_weights else f'random-s{cfg.seed}'}-" + stable_hash(
        "torchvision", arch, weights.name, seed, repr(preprocess), str(amp), length=12)
    return Supervised(model, preprocess, spec, None if random_weights else weights.name,
                      random_weights, device, len(weights.meta["categories"]), key, amp_dtype=amp,
                      info={"preprocess": repr(preprocess), "seed": cfg.seed if random_weights else None,
                            "published_imagenet_top1": weights.meta.get("_metrics", {})})


def predict(sup: Supervised, paths: Sequence[str], *, cache_dir: Any = None, batch_size: int = 32,
            num_workers: int = 2, progress: bool = True) -> np.ndarray:
    """The predicted class index of each image (its largest logit), cached by content."""
    from .embed import embed_images

    logits = embed_images(sup, paths, cache_dir=cache_dir, batch_size=batch_size,
                          num_workers=num_workers, progress=progress, desc=f"{sup.name}")
    return logits.argmax(axis=1)


def evaluate(sup: Supervised, paths: Sequence[str], labels: np.ndarray, *,
             cache_dir: Any = None, batch_size: int = 32, num_workers: int = 2,
             progress: bool = True) -> dict[str, Any]:
    """Top-1 over ``paths``, whose ``labels`` are ImageNet class indices."""
    labels = np.asarray(labels)
    pred = predict(sup, paths, cache_dir=cache_dir, batch_size=batch_size,
                   num_workers=num_workers, progress=progress)
    correct = int((pred == labels).sum())
    return {"model": sup.name, "accuracy": correct / max(len(labels), 1), "correct": correct,
            "images": int(len(labels)), "pred": pred}
