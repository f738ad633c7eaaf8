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
a resumed run ends bit-for-bit where an uninterrupted one would have (on CPU).
"""

from __future__ import annotations

import dataclasses
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

from ..io import array_digest, atomic_write_bytes, atomic_write_json, stable_hash

__all__ = ["CHECKPOINT_VERSION", "run_key", "RunState", "RunFiles"]

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


def _save(path: Path, obj: Any) -> None:
    buf = io.BytesIO()
    torch.save(obj, buf)
    atomic_write_bytes(path, buf.getvalue())


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
        _save(self.best, model.state_dict())

    def load_best(self, model: nn.Module, device: torch.device) -> None:
        """Put the best epoch's weights into ``model`` and switch it to eval mode."""
        model.load_state_dict(torch.load(self.best, map_location=device))
        model.eval()

    def save_last(self, model: nn.Module, optimiser: torch.optim.Optimizer, schedule: Any,
                  state: RunState) -> None:
        """Everything a resume needs, after epoch ``state.next_epoch - 1``."""
        _save(self.last, {
            "version": CHECKPOINT_VERSION, "key": self.key, "epoch": state.next_epoch - 1,
            "model": model.state_dict(), "optimizer": optimiser.state_dict(),
            "scheduler": schedule.state_dict(), "rng": _rng_state(), "history": state.history,
            "best": state.best, "best_epoch": state.best_epoch, "bad_epochs": state.bad_epochs,
        })

    def resume(self, model: nn.Module, optimiser: torch.optim.Optimizer, schedule: Any,
               device: torch.device) -> RunState:
        """Restore the last checkpoint into the given objects (a fresh state if none)."""
        if not self.last.is_file():
            return RunState()
        ckpt = torch.load(self.last, map_location=device, weights_only=False)
        if ckpt.get("key") != self.key:
            raise RuntimeError(f"Checkpoint {self.last} belongs to another run; delete it.")
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
        """The finished run's record, or None while it is unfinished."""
        return json.loads(self.done.read_text()) if self.done.is_file() else None
