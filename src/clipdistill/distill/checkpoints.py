"""A training run on disk: its key, a checkpoint every epoch, resume, the finished record.

A run lives in ``work_dir/distill/runs/<key>/``, where ``<key>`` hashes the run's settings
*and* its data (paths and teacher targets): a changed teacher, image list or learning
rate is a new run, never a stale resume. The folder holds

- ``settings.json``: what the run is (written once);
- ``last.pt``: everything needed to continue after an epoch (weights, optimiser,
  schedule, the global random states that dropout draws from, the early-stopping state);
- ``best.pt``: the weights of the best epoch on validate, the run's result;
- ``done.json``: the history once the run has finished; ``last.pt`` is then deleted.

Every file is written atomically, so an interruption leaves the previous epoch intact and
a resumed run ends bit-for-bit where an uninterrupted one would have (on CPU). A checkpoint
starts with a one-line header (the run's key, :data:`CHECKPOINT_VERSION`, the SHA-256 and
length of what follows): one that is damaged, cut short, another run's or another
version's is set aside with one line of warning and never loaded; the run then starts
that part again (:func:`clipdistill.io.set_aside`).
"""

from __future__ import annotations

import dataclasses
import hashlib
import io
import json
import math
import random
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Sequence

import numpy as np
import torch
from torch import nn

from ..io import array_digest, atomic_write_bytes, atomic_write_json, set_aside, stable_hash

__all__ = ["CHECKPOINT_VERSION", "run_key", "RunState", "RunFiles", "read_checkpoint"]

CHECKPOINT_VERSION = 1  # bump when students, augmentation or the loop change meaning


def run_key(settings: Any, train_paths: Sequence, train_targets: np.ndarray,
            val_paths: Sequence, val_targets: np.ndarray) -> str:
    """A run's identity: its settings plus exactly which images and targets it learns.
    A float32 run leaves ``precision`` out, so runs trained before it existed keep their key."""
    named = {k: v for k, v in dataclasses.asdict(settings).items()
             if not (k == "precision" and v == "float32")}
    return stable_hash("distill-run", CHECKPOINT_VERSION, named,
                       [str(p) for p in train_paths], array_digest(train_targets),
                       [str(p) for p in val_paths], array_digest(val_targets), length=20)


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


_MAGIC = b"clipdistill checkpoint\n"


def _save(path: Path, obj: Any, key: str) -> None:
    buf = io.BytesIO()
    torch.save(obj, buf)
    payload = buf.getvalue()
    head = {"key": key, "version": CHECKPOINT_VERSION, "bytes": len(payload),
            "sha256": hashlib.sha256(payload).hexdigest()}
    atomic_write_bytes(path, _MAGIC + json.dumps(head).encode() + b"\n" + payload)


def _load(path: Path, key: str, device: Any, *, weights_only: bool = True) -> Any | None:
    """What :func:`_save` wrote at ``path`` for run ``key``; None when there is nothing, or
    nothing sound (then the file is set aside, with the reason in one line)."""
    try:
        raw = path.read_bytes()
    except FileNotFoundError:
        return None
    line, _, payload = raw[len(_MAGIC):].partition(b"\n")
    try:
        head = json.loads(line) if raw.startswith(_MAGIC) else None
    except ValueError:
        head = None
    if not isinstance(head, dict):
        why = "no checkpoint header (written by an older version, or damaged)"
    elif head.get("version") != CHECKPOINT_VERSION:
        why = f"checkpoint version {head.get('version')}, this code reads {CHECKPOINT_VERSION}"
    elif head.get("key") != key:
        why = "it belongs to another run"
    elif len(payload) != head.get("bytes") or hashlib.sha256(payload).hexdigest() != head.get("sha256"):
        why = "checksum mismatch (damaged or cut short)"
    else:
        return torch.load(io.BytesIO(payload), map_location=device, weights_only=weights_only)
    set_aside(path, why)
    return None


def read_checkpoint(path: str | Path, key: str, device: Any = "cpu") -> Any | None:
    """A checkpoint of run ``key`` as saved (``last.pt``: a dict; ``best.pt``: weights),
    or None when there is none sound: to inspect a run."""
    return _load(Path(path), key, device, weights_only=False)


@dataclass
class RunState:
    """Where a run stands after an epoch: its history and the early-stopping counters."""

    history: list[dict[str, float]] = field(default_factory=list)
    best: float = -math.inf
    best_epoch: int = -1
    bad_epochs: int = 0
    next_epoch: int = 0

    def record(self, row: dict[str, float]) -> bool:
        """Add an epoch's row; True when its ``val_cosine`` is the best so far."""
        self.history.append(row)
        self.next_epoch = int(row["epoch"]) + 1
        if row["val_cosine"] > self.best:
            self.best, self.best_epoch, self.bad_epochs = row["val_cosine"], int(row["epoch"]), 0
            return True
        self.bad_epochs += 1
        return False


@dataclass(frozen=True)
class RunFiles:
    """The files of one run, named once."""

    key: str
    dir: Path

    @classmethod
    def create(cls, work_dir: str | Path, key: str, settings: dict[str, Any]) -> "RunFiles":
        """The run's folder, with ``settings.json`` written the first time."""
        run = cls(key, Path(work_dir) / "distill" / "runs" / key)
        run.dir.mkdir(parents=True, exist_ok=True)
        if not (run.dir / "settings.json").is_file():
            atomic_write_json(run.dir / "settings.json", settings)
        return run

    @property
    def last(self) -> Path:
        return self.dir / "last.pt"

    @property
    def best(self) -> Path:
        return self.dir / "best.pt"

    @property
    def done(self) -> Path:
        return self.dir / "done.json"

    def save_best(self, model: nn.Module) -> None:
        _save(self.best, model.state_dict(), self.key)

    def load_best(self, model: nn.Module, device: torch.device) -> bool:
        """Put the best epoch's weights into ``model`` and switch it to eval mode; False
        (``model`` untouched) when there are no sound best weights to load."""
        state = _load(self.best, self.key, device)
        if state is None:
            return False
        model.load_state_dict(state)
        model.eval()
        return True

    def save_last(self, model: nn.Module, optimiser: torch.optim.Optimizer, schedule: Any,
                  state: RunState) -> None:
        """Everything a resume needs, after epoch ``state.next_epoch - 1``."""
        _save(self.last, {
            "epoch": state.next_epoch - 1,
            "model": model.state_dict(), "optimizer": optimiser.state_dict(),
            "scheduler": schedule.state_dict(), "rng": _rng_state(), "history": state.history,
            "best": state.best, "best_epoch": state.best_epoch, "bad_epochs": state.bad_epochs,
        }, self.key)

    def resume(self, model: nn.Module, optimiser: torch.optim.Optimizer, schedule: Any,
               device: torch.device) -> RunState:
        """Restore the last checkpoint into the given objects (a fresh state if none, or
        none sound)."""
        ckpt = _load(self.last, self.key, device, weights_only=False)  # our own pickles: RNG states
        if ckpt is None:
            return RunState()
        model.load_state_dict(ckpt["model"])
        optimiser.load_state_dict(ckpt["optimizer"])
        schedule.load_state_dict(ckpt["scheduler"])
        _set_rng_state(ckpt["rng"])
        return RunState(history=ckpt["history"], best=ckpt["best"], best_epoch=ckpt["best_epoch"],
                        bad_epochs=ckpt["bad_epochs"], next_epoch=ckpt["epoch"] + 1)

    def finish(self, state: RunState, stopped_early: bool, settings: dict[str, Any]) -> None:
        """Write ``done.json``, then drop ``last.pt``: it only serves a resume, a finished
        run is never resumed, and optimiser state is twice the weights (a ResNet-18 run's
        ``last.pt`` is ~130 MB)."""
        atomic_write_json(self.done, {"history": state.history, "best_epoch": state.best_epoch,
                                      "best_val_cosine": state.best,
                                      "stopped_early": stopped_early, **settings})
        self.last.unlink(missing_ok=True)

    def read_done(self) -> dict[str, Any] | None:
        """The finished run's record, or None while it is unfinished (or its record is
        unreadable: set aside, and the run is done again)."""
        try:
            done = json.loads(self.done.read_text())
        except FileNotFoundError:
            return None
        except ValueError:
            set_aside(self.done, "not readable as JSON (damaged or cut short)")
            return None
        return done
