"""Training a student to reproduce a teacher's embeddings, with checkpoints and resume.

A training example is just ``(image path, teacher embedding)``. Extra "unlabelled" images
are more such pairs: no class label is used anywhere in training, the teacher embeds the
extra images like any other.

Design choices, and why:

- **Images are decoded once.** Every run of a sweep reads the same images from
  ``work_dir/distill/images/``: memory-mapped ``uint8`` arrays of ``image_size`` squares,
  in content-defined chunks that overlapping image lists share, so an epoch costs the
  network, not JPEG decoding, and the 100K extra pool is stored once, not once per cell.
  Batches are gathered from those maps; augmentation runs vectorised on the training device (no loader
  processes to start every epoch, nothing to pickle).
- **Randomness is a function of (seed, epoch, index).** The epoch's order and each
  image's augmentation come from their own seeded generators, not from a global stream,
  so a run resumed at an epoch boundary continues exactly where it stopped (the global
  RNG, which dropout uses, is saved and restored too).
- **A checkpoint every epoch**, written atomically under ``work_dir/distill/runs/<key>/``
  where ``<key>`` hashes the run's settings *and* its data (paths and teacher targets): a
  changed teacher, image list or learning rate is a new run, never a stale resume.
- **Early stopping** on the mean cosine between student and teacher on ``validate``; the
  best epoch's weights are the result.
"""

from __future__ import annotations

import dataclasses
import json
import math
import os
import random
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable, Sequence

import numpy as np
import torch
from torch import nn

from ..io import array_digest, atomic_path, atomic_write_bytes, atomic_write_json, stable_hash
from ..progress import progress_bar
from .students import DimensionMismatchError, Student, build_student

__all__ = [
    "TrainSettings",
    "ImageStore",
    "image_store",
    "augment_params",
    "augment_batch",
    "iter_batches",
    "to_input",
    "normalise",
    "TrainResult",
    "train_student",
    "run_key",
    "cosine_loss",
    "IMAGE_MEAN",
    "IMAGE_STD",
]

# Students see ImageNet-normalised pixels (they are trained from scratch; any fixed
# normalisation works, this one is what torchvision's architectures were tuned with).
IMAGE_MEAN = (0.485, 0.456, 0.406)
IMAGE_STD = (0.229, 0.224, 0.225)
STORE_VERSION = 1
CHECKPOINT_VERSION = 1  # bump when students, augmentation or the loop change meaning


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

    @classmethod
    def from_config(cls, cfg: Any, student: str, out_dim: int) -> "TrainSettings":
        return cls(student=student, out_dim=out_dim, image_size=cfg.student_image_size,
                   epochs=cfg.epochs, lr=cfg.lr, batch_size=cfg.distill_batch_size,
                   patience=cfg.patience, seed=cfg.seed,
                   weight_decay=cfg.distill_weight_decay, augment=cfg.distill_augment)


# -- images -----------------------------------------------------------------------------
def _load_square(path: str | os.PathLike, size: int) -> np.ndarray:
    """An RGB image as a ``size`` x ``size`` uint8 array (chapter 01's safe loader; the
    shorter side is fitted and the centre kept, like CLIP's own preprocessing)."""
    from ..data.images import fit, open_rgb

    im, _ = open_rgb(path, draft=(size, size))
    return np.asarray(fit(im, size, mode="crop"), dtype=np.uint8)


def _files_key(paths: Sequence[str | os.PathLike]) -> list[Any]:
    """Identify files by path, size and modification time (data prep writes atomically,
    so a changed image has a new mtime); cheaper than hashing 100k images' bytes."""
    out = []
    for p in paths:
        st = os.stat(p)
        out.append([str(Path(p).resolve()), st.st_size, st.st_mtime_ns])
    return out


# Content-defined chunking: a list of images is stored as chunks that end after every path
# whose hash is 0 modulo CHUNK_AVG (or at CHUNK_MAX images). A chunk is named by its own
# files, so lists that share a run of paths (the 1K extra pool inside the 10K one, the same
# train split in every cell of the sweep) share those chunks on disk instead of storing
# and decoding the images again per list.
CHUNK_AVG = 512
CHUNK_MAX = 4 * CHUNK_AVG


def _chunks(keys: list[Any]) -> list[tuple[int, int]]:
    spans, start = [], 0
    for i, key in enumerate(keys):
        cut = int(stable_hash("cut", key[0], length=8), 16) % CHUNK_AVG == 0
        if cut or i + 1 - start >= CHUNK_MAX or i + 1 == len(keys):
            spans.append((start, i + 1))
            start = i + 1
    return spans


@dataclass
class ImageStore:
    """A list of images as uint8 (S, S, 3) squares in memory-mapped chunk files."""

    chunks: list[Path]
    sizes: list[int]
    size: int
    _maps: list[np.ndarray] | None = field(default=None, repr=False)

    @property
    def count(self) -> int:
        return int(sum(self.sizes))

    def take(self, indices: Sequence[int] | np.ndarray) -> np.ndarray:
        """Images at ``indices`` (any order) as one (B, S, S, 3) uint8 array (a copy)."""
        if self._maps is None:  # mapped lazily, once
            self._maps = [np.load(c, mmap_mode="r") for c in self.chunks]
        idx = np.asarray(indices, dtype=np.int64)
        offsets = np.cumsum([0, *self.sizes])
        which = np.searchsorted(offsets, idx, side="right") - 1
        out = np.empty((len(idx), self.size, self.size, 3), dtype=np.uint8)
        for c in np.unique(which):
            sel = which == c
            out[sel] = self._maps[c][idx[sel] - offsets[c]]
        return out


def _build_chunk(paths: Sequence[str | os.PathLike], size: int, target: Path, bar: Any) -> None:
    with atomic_path(target, suffix=".npy.tmp") as tmp:
        arr = np.lib.format.open_memmap(tmp, mode="w+", dtype=np.uint8,
                                        shape=(len(paths), size, size, 3))
        for i, p in enumerate(paths):
            arr[i] = _load_square(p, size)
            bar.update(1)
        arr.flush()
        del arr


def image_store(paths: Sequence[str | os.PathLike], size: int, cache_dir: str | os.PathLike,
                *, progress: bool = True) -> ImageStore:
    """Decode ``paths`` once into cached memory-mapped chunks (each built atomically)."""
    cache_dir = Path(cache_dir)
    cache_dir.mkdir(parents=True, exist_ok=True)
    keys = _files_key(paths)
    spans = _chunks(keys)
    targets = [cache_dir / f"{stable_hash('distill-images', STORE_VERSION, size, keys[a:b])}.npy"
               for a, b in spans]
    todo = [(span, t) for span, t in zip(spans, targets) if not t.is_file()]
    if todo:
        with progress_bar(sum(b - a for (a, b), _ in todo), f"decode images ({size}px)",
                          enabled=progress, unit="img", leave=False) as bar:
            for (a, b), t in todo:
                _build_chunk(paths[a:b], size, t, bar)
    return ImageStore(chunks=targets, sizes=[b - a for a, b in spans], size=size)


# -- batches and augmentation ----------------------------------------------------------------
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


def iter_batches(store: ImageStore, batch_size: int):
    """Consecutive uint8 (B, S, S, 3) batches of a store, in order (for evaluation)."""
    for start in range(0, store.count, batch_size):
        yield store.take(np.arange(start, min(start + batch_size, store.count)))


# -- training ----------------------------------------------------------------------------
def cosine_loss(pred: torch.Tensor, target: torch.Tensor) -> torch.Tensor:
    """1 - cos(student, teacher), averaged: the direction is what kNN and CLIP use."""
    pred = nn.functional.normalize(pred, dim=-1)
    target = nn.functional.normalize(target, dim=-1)
    return (1.0 - (pred * target).sum(-1)).mean()


def run_key(settings: TrainSettings, train_paths: Sequence, train_targets: np.ndarray,
            val_paths: Sequence, val_targets: np.ndarray) -> str:
    """A run's identity: its settings plus exactly which images and targets it learns."""
    return stable_hash("distill-run", CHECKPOINT_VERSION, dataclasses.asdict(settings),
                       [str(p) for p in train_paths], array_digest(train_targets),
                       [str(p) for p in val_paths], array_digest(val_targets), length=20)


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


def _rng_state() -> dict[str, Any]:
    state = {"torch": torch.get_rng_state(), "numpy": np.random.get_state(),
             "python": random.getstate()}
    if torch.cuda.is_available():
        state["cuda"] = torch.cuda.get_rng_state_all()
    return state


def _set_rng_state(state: dict[str, Any]) -> None:
    torch.set_rng_state(state["torch"])
    np.random.set_state(state["numpy"])
    random.setstate(state["python"])
    if "cuda" in state and torch.cuda.is_available():
        torch.cuda.set_rng_state_all(state["cuda"])


def _save(path: Path, obj: Any) -> None:
    import io

    buf = io.BytesIO()
    torch.save(obj, buf)
    atomic_write_bytes(path, buf.getvalue())


def _schedule(total_steps: int, warmup_frac: float) -> Callable[[int], float]:
    warmup = max(1, int(round(total_steps * warmup_frac)))

    def factor(step: int) -> float:
        if step < warmup:
            return (step + 1) / warmup
        progress = (step - warmup) / max(1, total_steps - warmup)
        return 0.5 * (1.0 + math.cos(math.pi * min(1.0, progress)))

    return factor


@torch.no_grad()
def mean_cosine(model: nn.Module, store: ImageStore, targets: np.ndarray, batch_size: int,
                device: torch.device) -> float:
    """Mean cosine between the model's embeddings of ``store`` and ``targets``."""
    model.eval()
    total, start = 0.0, 0
    for images in iter_batches(store, batch_size):
        s = model(normalise(to_input(images, device)))
        t = torch.as_tensor(targets[start:start + len(images)], device=device)
        total += float((nn.functional.normalize(s, dim=-1)
                        * nn.functional.normalize(t, dim=-1)).sum())
        start += len(images)
    return total / max(start, 1)


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
    a compact student). Checkpoints live in ``work_dir/distill/runs/<key>/``: ``last.pt``
    (everything needed to continue), ``best.pt`` (the best weights on validate) and
    ``done.json`` once the run has finished, after which calling again loads the result
    (and ``last.pt`` is deleted). ``on_epoch_end(epoch, row)`` runs after each epoch's
    checkpoint is on disk.
    """
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

    device = torch.device(device)
    base = Path(work_dir) / "distill"
    key = run_key(settings, train_paths, train_targets, val_paths, val_targets)
    run_dir = base / "runs" / key
    run_dir.mkdir(parents=True, exist_ok=True)
    settings_json = {"settings": dataclasses.asdict(settings), "n_train": len(train_paths),
                     "n_validate": len(val_paths), "target_dim": int(train_targets.shape[1])}
    if not (run_dir / "settings.json").is_file():
        atomic_write_json(run_dir / "settings.json", settings_json)

    torch.manual_seed(settings.seed)  # the initial weights
    model = build_student(settings.student, settings.out_dim, settings.image_size).to(device)

    done_path = run_dir / "done.json"
    if done_path.is_file():
        done = json.loads(done_path.read_text())
        model.load_state_dict(torch.load(run_dir / "best.pt", map_location=device))
        model.eval()
        return TrainResult(model=model, run_dir=run_dir, key=key, history=done["history"],
                           best_epoch=done["best_epoch"], best_val_cosine=done["best_val_cosine"],
                           stopped_early=done["stopped_early"], resumed_from_epoch=-1)

    images = base / "images"
    train_store = image_store(train_paths, settings.image_size, images, progress=progress)
    val_store = image_store(val_paths, settings.image_size, images, progress=progress)
    n_train = len(train_paths)
    bs = min(settings.batch_size, n_train)
    steps_per_epoch = n_train // bs  # no ragged last batch (BatchNorm dislikes a batch of 1)
    total_steps = max(1, steps_per_epoch * settings.epochs)

    decay, no_decay = [], []
    for n_, p in model.named_parameters():
        (no_decay if p.ndim <= 1 else decay).append(p)  # no decay on norms and biases
    opt = torch.optim.AdamW([{"params": decay, "weight_decay": settings.weight_decay},
                             {"params": no_decay, "weight_decay": 0.0}], lr=settings.lr)
    sched = torch.optim.lr_scheduler.LambdaLR(opt, _schedule(total_steps, settings.warmup_frac))

    history: list[dict[str, float]] = []
    best, best_epoch, bad_epochs, start = -math.inf, -1, 0, 0
    last_path = run_dir / "last.pt"
    if last_path.is_file():
        ckpt = torch.load(last_path, map_location=device, weights_only=False)
        if ckpt.get("key") != key:
            raise RuntimeError(f"Checkpoint {last_path} belongs to another run; delete it.")
        model.load_state_dict(ckpt["model"])
        opt.load_state_dict(ckpt["optimizer"])
        sched.load_state_dict(ckpt["scheduler"])
        _set_rng_state(ckpt["rng"])
        history, best, best_epoch, bad_epochs = (ckpt["history"], ckpt["best"],
                                                 ckpt["best_epoch"], ckpt["bad_epochs"])
        start = ckpt["epoch"] + 1
    resumed_from = start

    targets_t = torch.as_tensor(train_targets)
    stopped_early = bad_epochs >= settings.patience and start > 0
    bar = progress_bar(settings.epochs, f"distil {settings.student}", enabled=progress,
                       unit="epoch", initial=start, leave=False)
    for epoch in ([] if stopped_early else range(start, settings.epochs)):
        order = np.random.default_rng(_sample_seed(settings.seed, epoch, 7919)).permutation(n_train)
        model.train()
        total, n = 0.0, 0
        for step in range(steps_per_epoch):
            idx = np.sort(order[step * bs:(step + 1) * bs])  # sorted: forward map reads
            x = to_input(train_store.take(idx), device)
            if settings.augment:
                x = augment_batch(x, augment_params(settings.seed, epoch, idx))
            t = targets_t[idx].to(device)
            loss = cosine_loss(model(normalise(x)), t)
            opt.zero_grad(set_to_none=True)
            loss.backward()
            opt.step()
            sched.step()
            total += loss.item() * len(x)
            n += len(x)
        val_cos = mean_cosine(model, val_store, val_targets, settings.batch_size, device)
        row = {"epoch": epoch, "train_loss": total / max(n, 1), "val_cosine": val_cos,
               "lr": opt.param_groups[0]["lr"]}
        history.append(row)
        if val_cos > best:
            best, best_epoch, bad_epochs = val_cos, epoch, 0
            _save(run_dir / "best.pt", model.state_dict())
        else:
            bad_epochs += 1
        _save(last_path, {
            "version": CHECKPOINT_VERSION, "key": key, "epoch": epoch,
            "model": model.state_dict(), "optimizer": opt.state_dict(),
            "scheduler": sched.state_dict(), "rng": _rng_state(), "history": history,
            "best": best, "best_epoch": best_epoch, "bad_epochs": bad_epochs,
        })
        bar.set_postfix(loss=f"{row['train_loss']:.4f}", val_cos=f"{val_cos:.4f}", refresh=False)
        bar.update(1)
        if on_epoch_end is not None:
            on_epoch_end(epoch, row)
        if bad_epochs >= settings.patience:
            stopped_early = True
            break
    bar.close()

    atomic_write_json(done_path, {"history": history, "best_epoch": best_epoch,
                                  "best_val_cosine": best, "stopped_early": stopped_early,
                                  **settings_json})
    # last.pt only serves a resume, and a finished run is never resumed: free the disk
    # (optimiser state is twice the weights; a ResNet-18 run's last.pt is ~130 MB).
    last_path.unlink(missing_ok=True)
    model.load_state_dict(torch.load(run_dir / "best.pt", map_location=device))
    model.eval()
    return TrainResult(model=model, run_dir=run_dir, key=key, history=history,
                       best_epoch=best_epoch, best_val_cosine=best,
                       stopped_early=stopped_early, resumed_from_epoch=resumed_from)
