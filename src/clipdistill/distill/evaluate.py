"""How good, how faithful, how small and how fast a student is.

- **kNN report**: the cats-vs-dogs test of the earlier experiment
  (:data:`clipdistill.published.REFERENCE_EXPERIMENT`). Embed ``knn/train`` with the
  student, fit kNN, classify ``knn/test`` (:func:`clipdistill.zeroshot.knn_predict`);
  the same for the teacher gives the score the student is chasing.
- **Fidelity**: mean cosine between student and teacher embeddings of held-out images.
- **Cost**: parameters, FLOPs per image (``torch.utils.flop_counter``; a multiply-add is 2
  FLOPs) and images per second of the network alone (pre-made tensors, no decoding), so
  student and teacher are measured the same way.
"""

from __future__ import annotations

import os
import time
from typing import Any, Sequence

import numpy as np
import torch
from torch import nn

from ..vectors import cosine_rows, l2_normalize
from .image_cache import image_store, store_dir
from .inputs import student_inputs

__all__ = [
    "embed_with_student",
    "for_inference",
    "fidelity",
    "knn_report",
    "count_params",
    "count_flops",
    "images_per_second",
    "model_cost",
    "clip_image_tower",
]


def for_inference(model: nn.Module, device: torch.device | str = "cpu", cpu_kernels: str = "auto",
                  dtype: torch.dtype = torch.float32) -> nn.Module:
    """A trained student as it is deployed: eval mode on ``device`` and, on a CPU, a copy
    with its linear layers packed for oneDNN (:mod:`clipdistill.embed.onednn`), the kernels the
    CLIP teacher runs on there (``cpu_kernels``: "auto" or "onednn" pack, "torch" does not;
    pass the teacher's ``clip.cpu_kernels`` to time the two alike), in bf16 when ``dtype``
    is torch.bfloat16 (then run it under CPU autocast, as the teacher's ``clip.amp_dtype``
    says). ``model`` itself stays as it is, trainable; a copy that fails the probe on its
    own input size is dropped.
    """
    import copy

    from ..embed import onednn

    device = torch.device(device)
    model = model.to(device).eval()
    size = getattr(model, "image_size", None)
    dtype = dtype if dtype == torch.bfloat16 else torch.float32
    if device.type != "cpu" or cpu_kernels == "torch" or not size or not onednn.available(dtype):
        return model
    packed = copy.deepcopy(model)
    x = torch.randn(2, 3, size, size, generator=torch.Generator().manual_seed(0))
    return packed if onednn.pack_linear_layers(packed, probe=lambda: packed(x), dtype=dtype) else model


@torch.no_grad()
def embed_with_student(model: nn.Module, paths: Sequence[str | os.PathLike], *,
                       image_size: int, work_dir: str | os.PathLike, batch_size: int = 64,
                       device: torch.device | str = "cpu", progress: bool = False,
                       autocast_dtype: torch.dtype | None = None) -> np.ndarray:
    """(N, out_dim) float32 unit vectors: the student's embeddings of ``paths``.

    ``model`` runs as given: pass :func:`for_inference`'s copy to embed with the
    deployed kernels (packed once, however many sets of paths it embeds), under
    ``autocast_dtype`` when given (a student trained in bf16 is evaluated in bf16).
    """
    device = torch.device(device)
    store = image_store(paths, image_size, store_dir(work_dir), progress=progress)
    model = model.to(device).eval()
    with _autocast(device, autocast_dtype):
        out = [model(x).float().cpu() for x in student_inputs(store, batch_size, device)]
    emb = torch.cat(out).numpy() if out else np.zeros((0, getattr(model, "out_dim", 0)), np.float32)
    return l2_normalize(emb)


def _autocast(device: torch.device, dtype: torch.dtype | None) -> Any:
    import contextlib

    return contextlib.nullcontext() if dtype is None else torch.autocast(device.type, dtype=dtype)


def fidelity(student_emb: np.ndarray, teacher_emb: np.ndarray) -> float:
    """Mean cosine between paired student and teacher embeddings (1.0 = a perfect copy)."""
    s, t = np.asarray(student_emb, np.float64), np.asarray(teacher_emb, np.float64)
    if s.shape != t.shape:
        raise ValueError(f"Fidelity compares paired embeddings: student {s.shape} vs "
                         f"teacher {t.shape}.")
    return float(cosine_rows(s, t).mean())


def knn_report(train_emb: np.ndarray, train_y: np.ndarray, test_emb: np.ndarray,
               test_y: np.ndarray, classes: Sequence[str], k: int) -> dict[str, Any]:
    """kNN on embeddings: ``accuracy`` and ``macro_f1`` in points (0-100), the report."""
    from .. import zeroshot

    pred = zeroshot.knn_predict(train_emb, train_y, test_emb, k=k)
    report = zeroshot.classification_report(test_y, pred, classes)
    return {"accuracy": 100.0 * report["accuracy"], "macro_f1": 100.0 * report["macro_f1"],
            "report": report, "pred": np.asarray(pred)}


def count_params(model: nn.Module) -> int:
    return int(sum(p.numel() for p in model.parameters()))


@torch.no_grad()
def count_flops(model: nn.Module, image_size: int | Sequence[int]) -> int:
    """Forward FLOPs for ONE image of ``image_size`` (int or (H, W)), counted on CPU.

    nn.MultiheadAttention's fused inference path is one opaque op that the counter does
    not see (a stock ViT-B-32 would lose a third of its FLOPs), so it is off while counting.
    Packed linear layers (a deployed student) are counted as the layers they replace. A
    model with an ``arithmetic()`` method (the CLIP teacher's engine copy, whose packed
    attention the counter misreads) is counted on the stock layers it returns.
    """
    from torch.utils.flop_counter import FlopCounterMode

    from ..embed import onednn  # noqa: F401 - registers the FLOPs of packed linear layers

    model = model.arithmetic() if hasattr(model, "arithmetic") else model
    h, w = (image_size, image_size) if isinstance(image_size, int) else image_size
    dev = next(model.parameters()).device
    dtype = next(model.parameters()).dtype
    was_training = model.training
    model.eval()
    counter = FlopCounterMode(display=False)
    fastpath = torch.backends.mha.get_fastpath_enabled()
    torch.backends.mha.set_fastpath_enabled(False)
    try:
        with counter:
            model(torch.zeros(1, 3, h, w, device=dev, dtype=dtype))
    finally:
        torch.backends.mha.set_fastpath_enabled(fastpath)
        model.train(was_training)
    return int(counter.get_total_flops())


@torch.no_grad()
def images_per_second(model: nn.Module, image_size: int | Sequence[int], *,
                      batch_size: int = 32, device: torch.device | str = "cpu",
                      n_batches: int = 10, warmup: int = 2,
                      autocast_dtype: torch.dtype | None = None) -> float:
    """Throughput of ``model`` on random ``image_size`` batches (the network alone).

    Decoding and resizing are left out on purpose: they cost the same for student and
    teacher. ``autocast_dtype`` (e.g. ``torch.bfloat16`` on a GPU) runs the forward
    under autocast; give student and teacher the same one for a fair ratio. CUDA work is
    synchronised before the clock stops. For notebooks and benchmarks, never tests.
    """
    h, w = (image_size, image_size) if isinstance(image_size, int) else image_size
    device = torch.device(device)
    model = model.to(device).eval()
    x = torch.randn(batch_size, 3, h, w, device=device)
    amp = _autocast(device, autocast_dtype)

    def sync() -> None:
        if device.type == "cuda":
            torch.cuda.synchronize(device)

    with amp:
        for _ in range(warmup):
            model(x)
        sync()
        t0 = time.perf_counter()
        for _ in range(n_batches):
            model(x)
        sync()
    return batch_size * n_batches / (time.perf_counter() - t0)


class _ClipImageTower(nn.Module):
    def __init__(self, clip: Any) -> None:
        super().__init__()
        self.clip_model = clip.model  # registered, so .to() and .parameters() see it
        self._clip = clip

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        from ..embed.onednn import inference_model

        with self._clip.autocast():  # the engine's copy and precision (bf16 on some CPUs)
            return self._clip.encode_image(x, module=inference_model(self._clip))

    def arithmetic(self) -> nn.Module:
        """The same computation on the stock layers, for :func:`count_flops`: the packed
        copy does the same multiplications, inside fused oneDNN ops the counter cannot
        see into (it counted ViT-B-32's 8.7 GFLOPs as 37.8)."""
        return _StockImageTower(self._clip)


class _StockImageTower(nn.Module):
    def __init__(self, clip: Any) -> None:
        super().__init__()
        self.clip_model = clip.model
        self._clip = clip

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self._clip.encode_image(x.float(), module=self._clip.model)


def clip_image_tower(clip: Any) -> nn.Module:
    """A loaded :class:`clipdistill.models.ClipModel`'s image encoder as a plain module,
    run as the embedding engine runs it (its inference copy, under its autocast), so
    :func:`images_per_second` and :func:`count_flops` measure the teacher the same way
    as a deployed student (parameters of the image tower: ``clip.info["params"]["image"]``)."""
    return _ClipImageTower(clip)


def model_cost(model: nn.Module, image_size: int | Sequence[int], *, measure_speed: bool = True,
               batch_size: int = 32, device: torch.device | str = "cpu",
               n_batches: int = 10, autocast_dtype: torch.dtype | None = None) -> dict[str, float]:
    """``params``, ``gflops`` (per image) and, if asked, ``images_per_s`` of one network."""
    out: dict[str, float] = {"params": count_params(model),
                             "gflops": count_flops(model, image_size) / 1e9}
    if measure_speed:
        out["images_per_s"] = images_per_second(model, image_size, batch_size=batch_size,
                                                device=device, n_batches=n_batches,
                                                autocast_dtype=autocast_dtype)
    return out
