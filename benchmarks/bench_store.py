"""Peak memory of filling the embedding cache with 100,000 vs 1,000,000 images: flat.

Each run is a fresh subprocess (``python -m benchmarks.bench_store --child N``) that
fills an empty cache through ``embed.embed_to_cache`` (the engine of ``clipdistill embed``:
batch 256, decoding threads, parts merged into segments as they pile up) from a *lazy*
list of N image files, and reports its peak RSS (Linux ``VmHWM``). Sizes alternate over
the rounds (the median is shown). A second kind of child runs the same call again over
the full cache (a resumed shard: every file hashed and looked up, nothing embedded).

The property under test is the store, not the encoder, so the model is a micro ViT
registered here (``bench-micro-vit``: 16 px input, one block of width 32) with ViT-B-32's
output width (512): each row is as big as ViT-B-32's, 2 KiB, and a million of them take
minutes instead of hours. The images are one 16x16 PNG followed by a different trailing
number per file (decoders ignore bytes after the image's end): a million distinct files,
so a million distinct keys and rows, written in about a minute. Their embeddings are all
the same vector; the store does not care.

What could grow with N in the old store: a dict of every row and an (N, 512) matrix,
1.9 GiB at a million. Target: the 1,000,000-image fill peaks at most 1.10x the
100,000-image fill. The resume holds every stored key (20 bytes a row, 19 MiB at a
million) to look files up: shown, not targeted.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any, Iterator, Sequence

from . import REPO, Context, Row, median
from .bench_memory import _vm_hwm_mib, register_model

NAME = "store"

MODEL = "bench-micro-vit"
MODEL_CFG = {
    "embed_dim": 512,
    "vision_cfg": {"image_size": 16, "layers": 1, "width": 32, "head_width": 32, "patch_size": 16},
    "text_cfg": {"context_length": 16, "vocab_size": 49408, "width": 32, "heads": 1, "layers": 1},
}
SIZES = (100_000, 1_000_000)
QUICK_SIZES = (10_000, 100_000)
LIMIT = 1.10
BATCH = 256


def image_path(root: Path, i: int) -> str:
    return f"{root}/{i // 1000:04d}/{i:07d}.png"


def write_images(root: Path, n: int) -> None:
    """``n`` distinct files: one small PNG plus a per-file trailing number."""
    import numpy as np
    from PIL import Image

    base = Path(root) / "base.png"
    if not base.is_file():
        Path(root).mkdir(parents=True, exist_ok=True)
        pixels = np.random.default_rng(0).integers(0, 255, (16, 16, 3), dtype=np.uint8)
        Image.fromarray(pixels).save(base)
    png = base.read_bytes()
    flags = os.O_WRONLY | os.O_CREAT | os.O_TRUNC
    for i in range(n):
        path = image_path(root, i)
        if i % 1000 == 0:
            os.makedirs(os.path.dirname(path), exist_ok=True)
        fd = os.open(path, flags, 0o644)
        os.write(fd, png + b"%d" % i)
        os.close(fd)


def _paths(root: Path, n: int) -> Iterator[str]:
    return (image_path(root, i) for i in range(n))


def child(n: int, images: str, cache: str) -> dict[str, Any]:
    """Fill (or, when ``cache`` holds the rows, resume) ``cache`` with the first ``n`` images."""
    import torch

    from clipdistill import embed, models

    # One intra-op thread: the store is under test, not the encoder, and on a busy shared
    # machine two spinning OpenMP threads made each tiny kernel ~100x slower.
    torch.set_num_threads(1)
    register_model(MODEL, MODEL_CFG)
    clip = models.load_clip(MODEL, None, random_weights=True)
    before = _vm_hwm_mib()
    t0 = time.perf_counter()
    counts = embed.embed_to_cache(clip, _paths(Path(images), n), cache_dir=cache, total=n,
                                  batch_size=BATCH, num_workers=2, progress=False)
    seconds = time.perf_counter() - t0
    folder = Path(cache) / clip.key / "images"
    files = list(folder.iterdir())
    return {**counts, "seconds": round(seconds, 1), "peak_rss_mib": round(_vm_hwm_mib(), 1),
            "rss_before_mib": round(before, 1), "store_files": len(files),
            "store_mib": round(sum(f.stat().st_size for f in folder.rglob("*") if f.is_file()) / 2**20, 1)}


def _run_child(n: int, images: Path, cache: Path) -> dict[str, Any]:
    env = {**os.environ, "CLIPDISTILL_PROGRESS": "off", "PYTHONPATH": os.pathsep.join(
        p for p in (str(REPO), os.environ.get("PYTHONPATH", "")) if p)}
    proc = subprocess.run([sys.executable, "-m", "benchmarks.bench_store", "--child", str(n),
                           "--images", str(images), "--cache", str(cache)], cwd=REPO, env=env,
                          capture_output=True, text=True, timeout=3600)
    if proc.returncode != 0:
        raise RuntimeError(f"store child ({n} images) failed: {proc.stderr.strip()[-800:]}")
    return json.loads(proc.stdout.strip().splitlines()[-1])


def bench(ctx: Context) -> dict[str, Any]:
    small, large = QUICK_SIZES if ctx.quick else SIZES
    rounds = 1 if ctx.quick else 2
    work = Path(tempfile.mkdtemp(prefix="bench-store-"))
    try:
        t0 = time.perf_counter()
        write_images(work / "images", large)
        made_s = time.perf_counter() - t0
        fills: dict[str, list[dict[str, Any]]] = {str(small): [], str(large): []}
        resume = {}
        for r in range(rounds):
            for n in ((small, large) if r % 2 == 0 else (large, small)):
                cache = work / f"cache-{n}"
                shutil.rmtree(cache, ignore_errors=True)
                fills[str(n)].append(_run_child(n, work / "images", cache))
                if r == rounds - 1:
                    resume[str(n)] = _run_child(n, work / "images", cache)
                shutil.rmtree(cache, ignore_errors=True)
    finally:
        shutil.rmtree(work, ignore_errors=True)
    peak = {k: median([x["peak_rss_mib"] for x in v]) for k, v in fills.items()}
    base = {k: median([x["rss_before_mib"] for x in v]) for k, v in fills.items()}
    ratio = peak[str(large)] / peak[str(small)]
    old_matrix = large * MODEL_CFG["embed_dim"] * 4 / 2**20
    big = fills[str(large)][-1]
    rows = [
        Row(f"peak RSS filling the cache, {small:,} vs {large:,} images ({MODEL}, 512-d)",
            f"{peak[str(small)]:.0f} vs {peak[str(large)]:.0f} MiB (+{peak[str(small)] - base[str(small)]:.0f} vs "
            f"+{peak[str(large)] - base[str(large)]:.0f} over the process before; an (N, 512) matrix alone "
            f"would be {old_matrix:,.0f} MiB); {big['seconds']:.0f} s, store {big['store_mib']:,.0f} MiB "
            f"in {big['store_files']} files", ratio, f"<= {LIMIT:.2f} (flat)", ratio <= LIMIT),
        Row(f"peak RSS resuming over the full cache, {small:,} vs {large:,} images",
            f"{resume[str(small)]['peak_rss_mib']:.0f} vs {resume[str(large)]['peak_rss_mib']:.0f} MiB "
            f"(every file hashed and looked up; keys held: 20 bytes a row)",
            resume[str(large)]["peak_rss_mib"] / resume[str(small)]["peak_rss_mib"],
            "context (keys grow, rows do not)", None),
    ]
    return {"rows": rows, "details": {"model": MODEL, "model_cfg": MODEL_CFG, "fills": fills,
                                      "resumes": resume, "peak_rss_mib": peak, "ratio": ratio,
                                      "images_written_s": round(made_s, 1), "batch_size": BATCH}}


def main(argv: Sequence[str] | None = None) -> None:
    ap = argparse.ArgumentParser(description="child process of the store benchmark")
    ap.add_argument("--child", type=int, required=True)
    ap.add_argument("--images", required=True)
    ap.add_argument("--cache", required=True)
    args = ap.parse_args(argv)
    os.environ.setdefault("HF_HUB_OFFLINE", "1")
    print(json.dumps(child(args.child, args.images, args.cache)))


if __name__ == "__main__":
    main()
