"""Training a student to reproduce a teacher's embeddings.

A training example is just ``(image, teacher embedding)``. Extra "unlabelled" images are
more such pairs: no class label is used anywhere in training, the teacher embeds the extra
images like any other.

The heart is two short functions chapter 05 prints: :func:`train_one_epoch` (the loss and
the optimiser step over one epoch) and :func:`mean_cosine` (the validation score).
:func:`train_student` wraps them in what a long run needs: the decoded-image cache
(:mod:`.image_cache`), seeded batches and augmentation (:mod:`.inputs`), a checkpoint
every epoch with bit-for-bit resume (:mod:`.checkpoints`), and **early stopping** on the
mean cosine between student and teacher on ``validate``, whose best epoch's weights are
the result.
"""

from __future__ import annotations

import dataclasses
import math
import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable, Iterable, Sequence

import numpy as np
import torch
from torch import nn

from ..progress import progress_bar
from .checkpoints import CHECKPOINT_VERSION, RunFiles, run_key
from .image_cache import image_store, store_dir
from .inputs import Batch, eval_batches, steps_per_epoch, training_batches
from .students import DimensionMismatchError, Student, build_student

__all__ = [
    "TrainSettings",
    "TrainResult",
    "train_student",
    "train_one_epoch",
    "mean_cosine",
    "cosine_loss",
    "cosines",
    "make_optimiser",
    "student_precision",
    "autocast_dtype",
    "BF16_STUDENTS",
    "run_key",
    "CHECKPOINT_VERSION",
]


@dataclass(frozen=True)
class TrainSettings:
    """Everything that changes a trained student besides its data (part of the run key)."""

    student: str
    out_dim: int
    image_size: int
    epochs: int
    lr: float
    batch_size: int
    patience: int
    seed: int = 0
    weight_decay: float = 0.05
    augment: bool = True
    warmup_frac: float = 0.05  # of all steps: linear warm-up, then cosine decay to zero
    precision: str = "float32"  # "bfloat16": forward passes under CPU autocast (weights stay fp32)

    @classmethod
    def from_config(cls, cfg: Any, student: str, out_dim: int) -> "TrainSettings":
        return cls(student=student, out_dim=out_dim, image_size=cfg.student_image_size,
                   epochs=cfg.epochs, lr=cfg.lr, batch_size=cfg.distill_batch_size,
                   patience=cfg.patience, seed=cfg.seed,
                   weight_decay=cfg.distill_weight_decay, augment=cfg.distill_augment,
                   precision=student_precision(cfg, student))


# Students whose training measured faster under bf16 autocast on a CPU with bf16 matrix
# instructions (2-core Zen 5, AVX512-BF16, batch 64 at 160 px, forward + backward + AdamW):
# tiny_cnn 2.3x. mobilenet_v3_small ran 0.7-0.8x (depthwise convolutions and its small
# layers lose more to conversions than they gain) and stays fp32, as do the students
# a CPU profile does not train (resnet18, vit_tiny: not measured).
BF16_STUDENTS = frozenset({"tiny_cnn"})


def student_precision(cfg: Any, student: str) -> str:
    """``cfg.distill_cpu_dtype``, with "auto" bfloat16 for :data:`BF16_STUDENTS` on a CPU
    with bf16 matrix units (:func:`clipdistill.device.cpu_bf16_units`), else float32.
    Training on a GPU is left as it is (float32)."""
    from ..device import cpu_bf16_units, torch_device

    choice = getattr(cfg, "distill_cpu_dtype", "auto")
    if torch_device(cfg).type != "cpu":
        return "float32"
    if choice != "auto":
        return choice
    return "bfloat16" if student in BF16_STUDENTS and cpu_bf16_units() else "float32"


def autocast_dtype(settings: TrainSettings) -> torch.dtype | None:
    """The autocast dtype a run's forward passes use (None: plain fp32)."""
    return torch.bfloat16 if settings.precision == "bfloat16" else None


class _Autocast(nn.Module):
    """``model``'s forward under CPU autocast with fp32 output, so the loss, the cosines
    and the backward pass outside it stay as the chapter shows them."""

    def __init__(self, model: nn.Module, dtype: torch.dtype) -> None:
        super().__init__()
        self.model, self.dtype = model, dtype

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        with torch.autocast(x.device.type, dtype=self.dtype):
            return self.model(x).float()


@dataclass
class TrainResult:
    model: Student
    run_dir: Path
    key: str
    history: list[dict[str, float]] = field(default_factory=list)
    best_epoch: int = -1
    best_val_cosine: float = float("nan")
    stopped_early: bool = False
    resumed_from_epoch: int = 0  # 0 = started fresh; -1 = loaded a finished run

    @property
    def epochs_run(self) -> int:
        return len(self.history)


# -- the loop itself (shown in chapter 05: keep each line within 80 characters) ---------
def cosines(a: torch.Tensor, b: torch.Tensor) -> torch.Tensor:
    """cos(a_i, b_i) for each row i of two (N, D) tensors (numpy's is
    :func:`clipdistill.vectors.cosine_rows`)."""
    a = nn.functional.normalize(a, dim=-1)
    return (a * nn.functional.normalize(b, dim=-1)).sum(-1)


def cosine_loss(pred: torch.Tensor, target: torch.Tensor) -> torch.Tensor:
    """1 - cos(student, teacher), averaged: kNN and CLIP only use directions."""
    return (1.0 - cosines(pred, target)).mean()


def train_one_epoch(model: nn.Module, batches: Iterable[Batch],
                    optimiser: torch.optim.Optimizer,
                    schedule: torch.optim.lr_scheduler.LRScheduler) -> float:
    """One pass over (images, teacher embeddings) batches; the mean loss."""
    model.train()
    total, n = 0.0, 0
    for x, target in batches:
        loss = cosine_loss(model(x), target)
        optimiser.zero_grad(set_to_none=True)
        loss.backward()
        optimiser.step()
        schedule.step()  # the learning rate moves every step
        total += loss.item() * len(x)
        n += len(x)
    return total / max(n, 1)


@torch.no_grad()
def mean_cosine(model: nn.Module, batches: Iterable[Batch]) -> float:
    """Mean cosine between the student's and the teacher's embeddings."""
    model.eval()
    total, n = 0.0, 0
    for x, target in batches:
        total += float(cosines(model(x), target).sum())
        n += len(x)
    return total / max(n, 1)


# -- what a long run needs around it ----------------------------------------------------
def _lr_factor(total_steps: int, warmup_frac: float) -> Callable[[int], float]:
    warmup = max(1, int(round(total_steps * warmup_frac)))

    def factor(step: int) -> float:
        if step < warmup:
            return (step + 1) / warmup
        progress = (step - warmup) / max(1, total_steps - warmup)
        return 0.5 * (1.0 + math.cos(math.pi * min(1.0, progress)))

    return factor


def make_optimiser(model: nn.Module, settings: TrainSettings, n_train: int
                   ) -> tuple[torch.optim.AdamW, torch.optim.lr_scheduler.LambdaLR]:
    """AdamW (no weight decay on norms and biases) and its per-step schedule: a linear
    warm-up over ``settings.warmup_frac`` of all steps, then a cosine decay to zero."""
    decay, no_decay = [], []
    for p in model.parameters():
        (no_decay if p.ndim <= 1 else decay).append(p)
    opt = torch.optim.AdamW([{"params": decay, "weight_decay": settings.weight_decay},
                             {"params": no_decay, "weight_decay": 0.0}], lr=settings.lr)
    total_steps = max(1, steps_per_epoch(n_train, settings.batch_size) * settings.epochs)
    return opt, torch.optim.lr_scheduler.LambdaLR(opt, _lr_factor(total_steps,
                                                                  settings.warmup_frac))


def _checked_targets(settings: TrainSettings, train_paths: Sequence, train_targets: Any,
                     val_paths: Sequence, val_targets: Any) -> tuple[np.ndarray, np.ndarray]:
    """The targets as float32 arrays, or one clear sentence on what does not fit."""
    train_targets = np.asarray(train_targets, dtype=np.float32)
    val_targets = np.asarray(val_targets, dtype=np.float32)
    for name, t in (("train", train_targets), ("validate", val_targets)):
        if t.ndim != 2 or t.shape[1] != settings.out_dim:
            raise DimensionMismatchError(
                f"Student {settings.student!r} outputs {settings.out_dim}-d embeddings but the "
                f"{name} teacher targets have shape {tuple(t.shape)}: set student_dim to 0 "
                f"(the teacher's size) or project the targets to {settings.out_dim}-d first."
            )
    if len(train_paths) != len(train_targets) or len(val_paths) != len(val_targets):
        raise ValueError("Each image needs exactly one teacher embedding: got "
                         f"{len(train_paths)} train images / {len(train_targets)} targets and "
                         f"{len(val_paths)} validate images / {len(val_targets)} targets.")
    if len(train_paths) == 0 or len(val_paths) == 0:
        raise ValueError("Distillation needs at least one train and one validate image.")
    return train_targets, val_targets


def train_student(
    train_paths: Sequence[str | os.PathLike],
    train_targets: np.ndarray,
    val_paths: Sequence[str | os.PathLike],
    val_targets: np.ndarray,
    settings: TrainSettings,
    work_dir: str | os.PathLike,
    *,
    device: torch.device | str = "cpu",
    progress: bool = True,
    on_epoch_end: Callable[[int, dict[str, float]], None] | None = None,
) -> TrainResult:
    """Train (or resume, or just load) the student ``settings`` describes.

    ``train_targets`` are the teacher's embeddings of ``train_paths`` (already projected for
    a compact student). The run's files live in ``work_dir/distill/runs/<key>/``
    (:class:`.checkpoints.RunFiles`); once ``done.json`` is there, calling again loads the
    result. ``on_epoch_end(epoch, row)`` runs after each epoch's checkpoint is on disk.
    """
    train_targets, val_targets = _checked_targets(settings, train_paths, train_targets,
                                                  val_paths, val_targets)
    device = torch.device(device)
    key = run_key(settings, train_paths, train_targets, val_paths, val_targets)
    about = {"settings": dataclasses.asdict(settings), "n_train": len(train_paths),
             "n_validate": len(val_paths), "target_dim": int(train_targets.shape[1])}
    run = RunFiles.create(work_dir, key, about)

    torch.manual_seed(settings.seed)  # the initial weights
    model = build_student(settings.student, settings.out_dim, settings.image_size).to(device)
    done = run.read_done()
    if done is not None and run.load_best(model, device):  # else: trained again
        return TrainResult(model=model, run_dir=run.dir, key=key, history=done["history"],
                           best_epoch=done["best_epoch"], best_val_cosine=done["best_val_cosine"],
                           stopped_early=done["stopped_early"], resumed_from_epoch=-1)

    train_store = image_store(train_paths, settings.image_size, store_dir(work_dir),
                              progress=progress)
    val_store = image_store(val_paths, settings.image_size, store_dir(work_dir), progress=progress)
    optimiser, schedule = make_optimiser(model, settings, train_store.count)
    state = run.resume(model, optimiser, schedule, device)
    resumed_from = state.next_epoch
    # A run interrupted between its last checkpoint and done.json may have stopped already.
    stopped_early = state.bad_epochs >= settings.patience and state.next_epoch > 0
    bar = progress_bar(settings.epochs, f"distil {settings.student}", enabled=progress,
                       unit="epoch", initial=state.next_epoch, leave=False)
    amp = autocast_dtype(settings)
    net = model if amp is None else _Autocast(model, amp)  # the same parameters
    for epoch in ([] if stopped_early else range(state.next_epoch, settings.epochs)):
        batches = training_batches(train_store, train_targets, epoch,
                                   batch_size=settings.batch_size, seed=settings.seed,
                                   augment=settings.augment, device=device)
        loss = train_one_epoch(net, batches, optimiser, schedule)
        val_cos = mean_cosine(net, eval_batches(val_store, val_targets,
                                                settings.batch_size, device))
        row = {"epoch": epoch, "train_loss": loss, "val_cosine": val_cos,
               "lr": optimiser.param_groups[0]["lr"]}
        if state.record(row):
            run.save_best(model)
        run.save_last(model, optimiser, schedule, state)
        bar.set_postfix(loss=f"{loss:.4f}", val_cos=f"{val_cos:.4f}", refresh=False)
        bar.update(1)
        if on_epoch_end is not None:
            on_epoch_end(epoch, row)
        if state.bad_epochs >= settings.patience:
            stopped_early = True
            break
    bar.close()

    run.finish(state, stopped_early, about)
    run.load_best(model, device)
    return TrainResult(model=model, run_dir=run.dir, key=key, history=state.history,
                       best_epoch=state.best_epoch, best_val_cosine=state.best,
                       stopped_early=stopped_early, resumed_from_epoch=resumed_from)
