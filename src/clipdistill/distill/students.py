"""The students: small image encoders, from a few-layer CNN to a ViT-Tiny, all from scratch.

Every student is a *backbone* (image -> pooled feature vector) plus a *head* (one linear
layer, feature -> ``out_dim``), and returns an L2-normalised embedding, so it drops into the
same kNN and cosine code as the CLIP teacher it imitates.

``out_dim`` is either the teacher's dimension (512 for ViT-B-32) or a compact size such as
64. A compact student cannot reproduce a 512-d vector, so it is trained against a fixed
64-d *view* of the teacher: see :class:`TargetProjection`.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Callable

import numpy as np
import torch
from torch import nn
from torch.nn import functional as F

from ..vectors import l2_normalize

__all__ = [
    "STUDENTS",
    "Student",
    "build_student",
    "student_names",
    "TargetProjection",
    "DimensionMismatchError",
]


class DimensionMismatchError(ValueError):
    """A student's output size does not match the targets it is asked to reproduce."""


# -- backbones ------------------------------------------------------------------------
def _conv_block(c_in: int, c_out: int) -> nn.Sequential:
    return nn.Sequential(
        nn.Conv2d(c_in, c_out, 3, stride=2, padding=1, bias=False),
        nn.BatchNorm2d(c_out),
        nn.ReLU(inplace=True),
    )


def _tiny_cnn(image_size: int) -> tuple[nn.Module, int]:
    """Four strided conv blocks (16-32-64-128 channels) and global average pooling (~0.1M)."""
    widths = [3, 16, 32, 64, 128]
    layers = [_conv_block(a, b) for a, b in zip(widths, widths[1:])]
    return nn.Sequential(*layers, nn.AdaptiveAvgPool2d(1), nn.Flatten()), widths[-1]


def _mobilenet_v3_small(image_size: int) -> tuple[nn.Module, int]:
    """torchvision's MobileNetV3-small, random weights, up to its 1024-d penultimate layer."""
    from torchvision.models import mobilenet_v3_small

    net = mobilenet_v3_small(weights=None)
    last = net.classifier[-1]
    net.classifier[-1] = nn.Identity()  # keep Linear(576,1024)+Hardswish+Dropout
    return net, last.in_features


def _resnet18(image_size: int) -> tuple[nn.Module, int]:
    """torchvision's ResNet-18, random weights, up to its 512-d pooled features (~11M)."""
    from torchvision.models import resnet18

    net = resnet18(weights=None)
    dim = net.fc.in_features
    net.fc = nn.Identity()
    return net, dim


VIT_PATCH = 16


def _vit_tiny(image_size: int) -> tuple[nn.Module, int]:
    """ViT-Tiny/16 (DeiT-Tiny shape: 12 blocks, width 192, 3 heads) at the student's size."""
    import timm  # a dependency of open_clip

    if image_size % VIT_PATCH:
        raise ValueError(
            f"vit_tiny needs an image size divisible by its patch size {VIT_PATCH}; "
            f"got student_image_size={image_size} (try {max(VIT_PATCH, image_size // VIT_PATCH * VIT_PATCH)})."
        )
    net = timm.create_model("vit_tiny_patch16_224", pretrained=False, img_size=image_size,
                            num_classes=0)
    return net, net.num_features


# name -> builder(image_size) -> (backbone, feature_dim). Ordered from tiny to small.
STUDENTS: dict[str, Callable[[int], tuple[nn.Module, int]]] = {
    "tiny_cnn": _tiny_cnn,
    "mobilenet_v3_small": _mobilenet_v3_small,
    "resnet18": _resnet18,
    "vit_tiny": _vit_tiny,
}


def student_names() -> list[str]:
    return list(STUDENTS)


class Student(nn.Module):
    """backbone -> linear head -> L2 normalisation: an embedding model of size ``out_dim``."""

    def __init__(self, name: str, backbone: nn.Module, feature_dim: int, out_dim: int,
                 image_size: int) -> None:
        super().__init__()
        self.name = name
        self.out_dim = out_dim
        self.image_size = image_size
        self.backbone = backbone
        self.head = nn.Linear(feature_dim, out_dim)

    def forward(self, images: torch.Tensor) -> torch.Tensor:
        return F.normalize(self.head(self.backbone(images)), dim=-1)


def build_student(name: str, out_dim: int, image_size: int) -> Student:
    """Build the student ``name`` (random weights) producing ``out_dim``-d unit vectors."""
    if name not in STUDENTS:
        raise ValueError(f"Unknown student {name!r}. Valid: {', '.join(STUDENTS)}.")
    if out_dim < 1:
        raise ValueError(f"A student needs out_dim >= 1, got {out_dim}.")
    if image_size < 32:
        raise ValueError(f"Student images must be at least 32 px, got {image_size}.")
    backbone, feature_dim = STUDENTS[name](image_size)
    return Student(name, backbone, feature_dim, out_dim, image_size)


# -- compact targets --------------------------------------------------------------------
@dataclass
class TargetProjection:
    """A fixed linear view of the teacher's embeddings that a ``dim``-d student can match.

    The choice: the top ``dim`` right singular vectors of the (uncentred) training targets,
    then re-normalisation. Why: cosine kNN only looks at inner products between unit
    vectors, and by Eckart-Young this projection gives the best rank-``dim``
    approximation of the teacher's Gram matrix, i.e. it keeps the teacher's cosines as
    well as any ``dim``-d linear map can; :meth:`length_kept` measures how much of each
    vector's length survives, which is how far re-normalising moves it. (Centring first, as plain PCA does,
    would drop CLIP's large shared direction and measure angles around the mean instead:
    a different geometry from the teacher's, which is what we want to copy.)

    It is fitted once on the *training* targets (no labels, no test images) and frozen,
    so the compact student has a fixed, well-defined target, and the teacher's own kNN
    score in the same ``dim``-d space is the fair ceiling to compare the student with.
    A learned 64-d bottleneck trained through a frozen map back to the full size would
    chase the same reconstruction objective indirectly and end in a basis that changes
    from run to run; the SVD gives that optimum in closed form.
    """

    components: np.ndarray  # (dim, D), orthonormal rows

    @property
    def dim(self) -> int:
        return int(self.components.shape[0])

    @property
    def in_dim(self) -> int:
        return int(self.components.shape[1])

    @classmethod
    def fit(cls, targets: np.ndarray, dim: int) -> "TargetProjection":
        """The projection for ``targets`` (N, D); needs at least ``dim`` rows."""
        targets = np.asarray(targets, dtype=np.float64)
        n, d = targets.shape
        if not 1 <= dim <= d:
            raise DimensionMismatchError(
                f"A {dim}-d projection of {d}-d teacher embeddings is impossible: choose "
                f"student_dim between 1 and {d} (or 0 for the teacher's size)."
            )
        if n < dim:
            raise ValueError(f"Fitting a {dim}-d projection needs at least {dim} training "
                             f"embeddings, got {n}.")
        _, _, vt = np.linalg.svd(targets, full_matrices=False)
        comps = vt[:dim]
        # Fix each direction's sign so the same data always gives the same basis.
        signs = np.sign(comps[np.arange(dim), np.abs(comps).argmax(axis=1)])
        return cls(components=(comps * signs[:, None]).astype(np.float32))

    def length_kept(self, embeddings: np.ndarray) -> np.ndarray:
        """Each unit row's length after projection, before re-normalising (1 = all kept):
        how far re-normalising moves it."""
        z = np.asarray(embeddings, dtype=np.float32) @ self.components.T
        return np.linalg.norm(z, axis=1) / np.linalg.norm(embeddings, axis=1)

    def __call__(self, embeddings: np.ndarray) -> np.ndarray:
        """Project and re-normalise (N, D) -> (N, dim) unit vectors."""
        embeddings = np.asarray(embeddings, dtype=np.float32)
        if embeddings.ndim != 2 or embeddings.shape[1] != self.in_dim:
            raise DimensionMismatchError(
                f"This projection maps {self.in_dim}-d teacher embeddings; got shape "
                f"{tuple(embeddings.shape)}."
            )
        z = embeddings @ self.components.T
        return l2_normalize(z)
