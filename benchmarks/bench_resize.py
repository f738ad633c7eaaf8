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

    ``images_per_s[w]`` is the best of ``repeats`` runs (fresh output folder each time).
    """
    src = _sources(Path(data_root) if data_root else DEFAULT_DATA, images)
    megapixels = 0.0
    from PIL import Image

    for p in src:
        with Image.open(p) as im:
            megapixels += im.size[0] * im.size[1] / 1e6
    rates: dict[str, float] = {}
    with tempfile.TemporaryDirectory(prefix="bench_resize_") as tmp:
        for w in workers:
            best = 0.0
            for r in range(repeats):
                out = Path(tmp) / f"w{w}_r{r}"
                jobs = [ConvertJob(str(p), str(out / f"{p.stem}.jpg"), (size, size), mode) for p in src]
                t0 = time.perf_counter()
                res = convert_many(jobs, num_workers=w, progress=False)
                dt = time.perf_counter() - t0
                assert all(x.status == "done" for x in res), "benchmark images must all convert"
                best = max(best, len(jobs) / dt)
            rates[str(w)] = round(best, 1)
    return {
        "benchmark": "resize",
        "source": "dogs-vs-cats/train (original sizes)",
        "images": len(src),
        "mean_megapixels": round(megapixels / len(src), 3),
        "size": size,
        "mode": mode,
        "images_per_s": rates,
        "speedup": round(rates[str(workers[-1])] / rates[str(workers[0])], 2) if len(workers) > 1 else 1.0,
        "cpu_count": os.cpu_count(),
        "machine": platform.machine(),
    }


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
