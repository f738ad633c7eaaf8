"""What a student sees: pixels as normalised tensors, label-free augmentation, batches.

Batches are gathered from an :class:`~clipdistill.distill.image_cache.ImageStore` and
augmented vectorised on the training device: no loader processes to start every epoch,
nothing to pickle. Randomness is a function of (seed, epoch, image index): the epoch's
order and each image's augmentation come from their own seeded generators, not from a
global stream, so an epoch is the same whether or not the run was resumed before it.
"""

from __future__ import annotations

import math
from typing import Iterator, Sequence

import numpy as np
import torch
from torch import nn

from .image_cache import ImageStore, iter_batches

__all__ = ["IMAGE_MEAN", "IMAGE_STD", "Batch", "to_input", "normalise", "augment_params",
           "augment_batch", "steps_per_epoch", "training_batches", "student_inputs",
           "eval_batches"]

# Students see ImageNet-normalised pixels (they are trained from scratch; any fixed
# normalisation works, this one is what torchvision's architectures were tuned with).
IMAGE_MEAN = (0.485, 0.456, 0.406)
IMAGE_STD = (0.229, 0.224, 0.225)

Batch = tuple[torch.Tensor, torch.Tensor]  # (normalised images, teacher embeddings)


def _sample_seed(*parts: int) -> int:
    return int(np.random.SeedSequence([int(p) for p in parts]).generate_state(1)[0])


def to_input(images: np.ndarray | torch.Tensor, device: torch.device | str) -> torch.Tensor:
    """uint8 (B, H, W, 3) -> float (B, 3, H, W) in [0, 1] on ``device``."""
    x = torch.as_tensor(np.asarray(images)) if not isinstance(images, torch.Tensor) else images
    return x.to(device).permute(0, 3, 1, 2).float().div_(255.0)


def normalise(x: torch.Tensor) -> torch.Tensor:
    """[0, 1] pixels -> ImageNet-normalised (what the students see, train and test)."""
    mean = torch.tensor(IMAGE_MEAN, device=x.device).view(1, 3, 1, 1)
    std = torch.tensor(IMAGE_STD, device=x.device).view(1, 3, 1, 1)
    return (x - mean) / std


def augment_params(seed: int, epoch: int, indices: Sequence[int]) -> torch.Tensor:
    """(B, 8) augmentation parameters, each row a function of (seed, epoch, image index).

    Columns: crop width/height as fractions of the image, crop centre (x, y) in [-1, 1],
    flip (+1/-1), brightness, contrast, saturation factors. Random resized crop keeps
    0.5-1 of the area at aspect 3/4-4/3: the teacher embedded the whole image, so crops
    stay large and colours plausible; nothing here looks at a label.
    """
    rows = []
    for i in indices:
        rng = np.random.default_rng(_sample_seed(seed, epoch, int(i)))
        w, h = 1.0, 1.0
        for _ in range(10):
            area = rng.uniform(0.5, 1.0)
            ratio = math.exp(rng.uniform(math.log(3 / 4), math.log(4 / 3)))
            w_, h_ = math.sqrt(area * ratio), math.sqrt(area / ratio)
            if w_ <= 1.0 and h_ <= 1.0:
                w, h = w_, h_
                break
        cx, cy = rng.uniform(-1 + w, 1 - w), rng.uniform(-1 + h, 1 - h)
        flip = -1.0 if rng.random() < 0.5 else 1.0
        b, c, s = rng.uniform(0.8, 1.2, size=3)
        rows.append([w, h, cx, cy, flip, b, c, s])
    return torch.tensor(rows, dtype=torch.float32)


def augment_batch(x: torch.Tensor, params: torch.Tensor) -> torch.Tensor:
    """Apply :func:`augment_params` rows to a [0, 1] batch, all at once on its device.

    Crop + flip is one affine resampling per image (``grid_sample``); the colour jitter is
    three per-image blends. Vectorised, so it costs next to nothing on a GPU.
    """
    p = params.to(x.device)
    n = len(x)
    theta = torch.zeros(n, 2, 3, device=x.device)
    theta[:, 0, 0] = p[:, 0] * p[:, 4]
    theta[:, 0, 2] = p[:, 2]
    theta[:, 1, 1] = p[:, 1]
    theta[:, 1, 2] = p[:, 3]
    grid = nn.functional.affine_grid(theta, list(x.shape), align_corners=False)
    x = nn.functional.grid_sample(x, grid, mode="bilinear", padding_mode="reflection",
                                  align_corners=False)
    gray_w = torch.tensor([0.299, 0.587, 0.114], device=x.device).view(1, 3, 1, 1)
    x = (x * p[:, 5].view(n, 1, 1, 1)).clamp(0, 1)  # brightness
    mean = (x * gray_w).sum(1, keepdim=True).mean((2, 3), keepdim=True)
    x = ((x - mean) * p[:, 6].view(n, 1, 1, 1) + mean).clamp(0, 1)  # contrast
    gray = (x * gray_w).sum(1, keepdim=True)
    return ((x - gray) * p[:, 7].view(n, 1, 1, 1) + gray).clamp(0, 1)  # saturation


def steps_per_epoch(n_images: int, batch_size: int) -> int:
    """Full batches only: a ragged last batch of 1 would upset BatchNorm."""
    return n_images // min(batch_size, n_images)


def training_batches(store: ImageStore, targets: np.ndarray | torch.Tensor, epoch: int, *,
                     batch_size: int, seed: int, augment: bool,
                     device: torch.device | str) -> Iterator[Batch]:
    """One epoch of (augmented, normalised images, teacher embeddings), in seeded order."""
    n = store.count
    bs = min(batch_size, n)
    order = np.random.default_rng(_sample_seed(seed, epoch, 7919)).permutation(n)
    targets = torch.as_tensor(targets)
    for step in range(steps_per_epoch(n, bs)):
        idx = np.sort(order[step * bs:(step + 1) * bs])  # sorted: forward map reads
        x = to_input(store.take(idx), device)
        if augment:
            x = augment_batch(x, augment_params(seed, epoch, idx))
        yield normalise(x), targets[idx].to(device)


def student_inputs(store: ImageStore, batch_size: int,
                   device: torch.device | str) -> Iterator[torch.Tensor]:
    """A store's images in order, as normalised batches (no augmentation): what a student
    embeds at test time."""
    for images in iter_batches(store, batch_size):
        yield normalise(to_input(images, device))


def eval_batches(store: ImageStore, targets: np.ndarray, batch_size: int,
                 device: torch.device | str) -> Iterator[Batch]:
    """:func:`student_inputs` paired with the teacher's embeddings of the same images."""
    start = 0
    for x in student_inputs(store, batch_size, device):
        yield x, torch.as_tensor(targets[start:start + len(x)], device=device)
        start += len(x)
