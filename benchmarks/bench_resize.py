"""Resize throughput (images/s) of chapter 01's pipeline, with 1 and 2 worker processes.

Times ``clipdistill.data.convert_many`` (decode, EXIF, convert, pad/crop to a fixed size,
JPEG encode, atomic write) on the full-size Kaggle dogs-vs-cats originals in
``../shared/data/dogs-vs-cats/train``: real photographs of mixed sizes, like a download.
Each worker count writes into a fresh folder, so nothing is skipped as "already done".

    .venv/bin/python benchmarks/bench_resize.py [--images 200] [--size 640] [--mode pad]
"""

from __future__ import annotations

import argparse
import os
import platform
import statistics
import tempfile
import time
from pathlib import Path
from typing import Sequence

from clipdistill.data import ConvertJob, convert_many
from clipdistill.data.splits import seeded_order

REPO = Path(__file__).resolve().parents[1]
DEFAULT_DATA = Path(os.environ.get("CLIPDISTILL_SHARED_DATA", REPO.parent / "shared" / "data"))


def _sources(data_root: Path, n: int) -> list[Path]:
    folder = data_root / "dogs-vs-cats" / "train"
    if not folder.is_dir():
        raise FileNotFoundError(f"No dogs-vs-cats originals at {folder}: pass data_root=<../shared/data>.")
    files = {p.name: p for p in folder.glob("*.jpg")}
    return [files[k] for k in seeded_order(list(files), 0, "bench")[:n]]


def run(data_root: str | Path | None = None, images: int = 200, workers: Sequence[int] = (1, 2),
        size: int = 640, mode: str = "pad", repeats: int = 1) -> dict:
    """Time resizing ``images`` originals with each worker count; returns the figures.

    ``images_per_s[w]`` is the best of ``repeats`` runs (fresh output folder each time);
    worker counts alternate within each repeat, and ``paired_speedup_median`` is the
    median over repeats of last-vs-first worker count measured side by side.
    """
    src = _sources(Path(data_root) if data_root else DEFAULT_DATA, images)
    megapixels = 0.0
    from PIL import Image

    for p in src:
        with Image.open(p) as im:
            megapixels += im.size[0] * im.size[1] / 1e6
    runs: dict[str, list[float]] = {str(w): [] for w in workers}
    with tempfile.TemporaryDirectory(prefix="bench_resize_") as tmp:
        for r in range(repeats):  # worker counts alternate, so each repeat compares like with like
            for w in (workers if r % 2 == 0 else workers[::-1]):
                out = Path(tmp) / f"w{w}_r{r}"
                jobs = [ConvertJob(str(p), str(out / f"{p.stem}.jpg"), (size, size), mode) for p in src]
                t0 = time.perf_counter()
                res = convert_many(jobs, num_workers=w, progress=False)
                dt = time.perf_counter() - t0
                assert all(x.status == "done" for x in res), "benchmark images must all convert"
                runs[str(w)].append(len(jobs) / dt)
    rates = {w: round(max(v), 1) for w, v in runs.items()}
    first, last = str(workers[0]), str(workers[-1])
    paired = [b / a for a, b in zip(runs[first], runs[last])]
    return {
        "benchmark": "resize",
        "source": "dogs-vs-cats/train (original sizes)",
        "images": len(src),
        "mean_megapixels": round(megapixels / len(src), 3),
        "size": size,
        "mode": mode,
        "images_per_s": rates,
        "speedup": round(rates[str(workers[-1])] / rates[str(workers[0])], 2) if len(workers) > 1 else 1.0,
        "runs_images_per_s": {w: [round(x, 1) for x in v] for w, v in runs.items()},
        "paired_speedup_median": round(statistics.median(paired), 2) if len(workers) > 1 else 1.0,
        "cpu_count": os.cpu_count(),
        "machine": platform.machine(),
    }


NAME = "resize"
TARGET = 1.8  # "near 2x" on 2 cores


def bench(ctx) -> dict:
    """For ``python -m benchmarks``: 1 vs 2 workers side by side, median of paired ratios."""
    from benchmarks import Row

    out = run(ctx.data_root, images=100 if ctx.quick else 400, workers=(1, 2),
              repeats=2 if ctx.quick else 5)
    ratio = out["paired_speedup_median"]
    r1, r2 = (statistics.median(out["runs_images_per_s"][w]) for w in ("1", "2"))
    row = Row(f"resize to {out['size']}px {out['mode']}, 1 vs 2 workers ({out['images']} originals)",
              f"{r1:.0f} vs {r2:.0f} img/s", ratio, f">= {TARGET}x (near 2x)", ratio >= TARGET)
    return {"rows": [row], "details": out}


def main(argv: Sequence[str] | None = None) -> dict:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--data-root", default=None, help="folder with dogs-vs-cats/train (default ../shared/data)")
    ap.add_argument("--images", type=int, default=200)
    ap.add_argument("--workers", default="1,2", help="comma-separated worker counts")
    ap.add_argument("--size", type=int, default=640)
    ap.add_argument("--mode", default="pad", choices=("pad", "crop"))
    ap.add_argument("--repeats", type=int, default=1)
    args = ap.parse_args(argv)
    out = run(args.data_root, args.images, [int(w) for w in args.workers.split(",")], args.size, args.mode,
              args.repeats)
    print(f"resize {out['images']} images ({out['source']}, mean {out['mean_megapixels']} MP) "
          f"to {out['size']}x{out['size']} ({out['mode']}) on {out['cpu_count']} CPUs:")
    for w, rate in out["images_per_s"].items():
        print(f"  {w} worker{'s' if w != '1' else ''}: {rate:8.1f} images/s")
    print(f"  speed-up: x{out['speedup']}")
    return out


if __name__ == "__main__":
    main()
