"""Speed and memory benchmarks: ``.venv/bin/python -m benchmarks`` runs them all.

Every figure is a *ratio* of two things measured side by side in the same run (these
machines are shared and noisy: an absolute images/s says more about the neighbours than
about the code). Each benchmark module has ``NAME`` and ``bench(ctx) -> dict`` returning
``{"rows": [Row, ...], "details": {...}}``; ``__main__`` prints the rows as one table and
writes everything to JSON. Nothing here is a test: tests never time anything.
"""

from __future__ import annotations

import datetime as _dt
import os
import platform
import statistics
import subprocess
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any, Callable, Sequence

REPO = Path(__file__).resolve().parents[1]
DEFAULT_DATA = Path(os.environ.get("CLIPDISTILL_SHARED_DATA", REPO.parent / "shared" / "data"))

__all__ = ["REPO", "DEFAULT_DATA", "Context", "Row", "side_by_side", "median", "machine_info",
           "load_average", "dogs_vs_cats", "pet_images"]


@dataclass
class Context:
    """What every benchmark is told: where the data is, which device, how thorough."""

    device: str = "cpu"
    data_root: Path = DEFAULT_DATA
    quick: bool = False

    @property
    def cuda(self) -> bool:
        return self.device == "cuda"


@dataclass
class Row:
    """One line of the table. ``ratio`` is what the target is about; ``passed`` is None
    where there is no target (a code-path check, a figure shown for context)."""

    benchmark: str
    figures: str
    ratio: float | None
    target: str
    passed: bool | None
    note: str = ""

    @property
    def verdict(self) -> str:
        return {True: "PASS", False: "FAIL", None: "-"}[self.passed]

    def to_dict(self) -> dict[str, Any]:
        return {**asdict(self), "verdict": self.verdict}


def median(values: Sequence[float]) -> float:
    return float(statistics.median(values)) if values else float("nan")


def side_by_side(contenders: dict[str, Callable[[], float]], rounds: int) -> dict[str, list[float]]:
    """Run each contender once per round, alternating the order (ABC, CBA, ABC, ...).

    Each callable returns a rate (higher is faster). Rates of the same round were taken
    seconds apart, under the same load, so ratios are formed *within* a round and the
    median over rounds is reported; the alternating order cancels a load that drifts
    steadily during a round.
    """
    names = list(contenders)
    out: dict[str, list[float]] = {n: [] for n in names}
    for r in range(rounds):
        for name in (names if r % 2 == 0 else names[::-1]):
            out[name].append(float(contenders[name]()))
    return out


def paired_ratios(num: Sequence[float], den: Sequence[float]) -> list[float]:
    return [a / b for a, b in zip(num, den) if b > 0]


def load_average() -> list[float] | None:
    try:
        return [round(x, 2) for x in os.getloadavg()]
    except OSError:  # pragma: no cover - not on Linux/macOS
        return None


def _cpu_model() -> str:
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or platform.machine()


def _git_commit() -> str:
    try:
        return subprocess.run(["git", "rev-parse", "--short", "HEAD"], cwd=REPO, capture_output=True,
                              text=True, timeout=10).stdout.strip()
    except Exception:  # noqa: BLE001
        return ""


def machine_info(device: str) -> dict[str, Any]:
    """Where and when the figures were taken (the README's table quotes this)."""
    import torch

    info: dict[str, Any] = {
        "date": _dt.datetime.now().astimezone().isoformat(timespec="seconds"),
        "host_cpu": _cpu_model(),
        "cpu_count": os.cpu_count(),
        "memory_gib": _memory_gib(),
        "python": platform.python_version(),
        "torch": torch.__version__,
        "torch_threads": torch.get_num_threads(),
        "device": device,
        "git_commit": _git_commit(),
        "load_average_start": load_average(),
    }
    if device == "cuda" and torch.cuda.is_available():
        info["gpu"] = torch.cuda.get_device_name(0)
    return info


def _memory_gib() -> float | None:
    try:
        pages, size = os.sysconf("SC_PHYS_PAGES"), os.sysconf("SC_PAGE_SIZE")
        return round(pages * size / 2**30, 1)
    except (ValueError, OSError, AttributeError):  # pragma: no cover
        return None


def dogs_vs_cats(data_root: Path, n: int | None = None) -> list[Path]:
    """The full-size Kaggle originals (60 to 500 px a side), in a fixed shuffled order."""
    from clipdistill.data.splits import seeded_order

    folder = Path(data_root) / "dogs-vs-cats" / "train"
    files = {p.name: p for p in folder.glob("*.jpg")}
    if not files:
        raise FileNotFoundError(f"No dogs-vs-cats originals in {folder}: pass --data-root "
                                "(the folder holding dogs-vs-cats/train, e.g. ../shared/data).")
    order = [files[k] for k in seeded_order(list(files), 0, "bench")]
    return order if n is None else order[:n]


def pet_images(data_root: Path, n: int | None = None) -> list[Path]:
    """Kaggle PetImages (180x180 copies), cats and dogs interleaved in a fixed order."""
    from clipdistill.data.splits import seeded_order

    root = Path(data_root) / "PetImages"
    files = {f"{p.parent.name}/{p.name}": p for p in root.glob("*/*.jpg")}
    if not files:
        raise FileNotFoundError(f"No PetImages in {root}: pass --data-root (the folder holding "
                                "PetImages/Cat and PetImages/Dog).")
    order = [files[k] for k in seeded_order(list(files), 0, "bench")]
    return order if n is None else order[:n]


def fmt_rate(x: float) -> str:
    return f"{x:,.0f}" if x >= 100 else f"{x:.1f}" if x >= 10 else f"{x:.2f}"


def quiet_env() -> None:
    """No hub, no progress bars: a benchmark prints its table and nothing else."""
    os.environ.setdefault("HF_HUB_OFFLINE", "1")
    os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")
    os.environ.setdefault("CLIPDISTILL_PROGRESS", "off")
    os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")
    os.environ.setdefault("HF_HUB_DISABLE_PROGRESS_BARS", "1")
    try:
        from transformers.utils import logging as hf_logging

        hf_logging.disable_progress_bar()  # "Loading weights" bars
    except ImportError:  # pragma: no cover
        pass

