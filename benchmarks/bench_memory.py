"""Peak memory of embedding 2,000 vs 6,000 images: it must stay flat (the engine streams).

Each size runs in a fresh subprocess, three times, alternating (the median is shown), (``python -m benchmarks.bench_memory --child N``)
that embeds the first N Kaggle PetImages (180x180 JPEGs) into an empty cache with the
engine's defaults (batch 32; on a CPU, decoding threads in the same process, so its peak
RSS covers everything) and reports its peak RSS (Linux ``VmHWM``).

The property under test is streaming, not the encoder, so the model is a small ViT
registered here (``bench-mini-vit``: 64 px input, 2 blocks of width 128) with the real
output width of ViT-B-32 (512): the embedding matrix, the one thing that should grow, is
as big as it would be for ViT-B-32, and both runs finish in seconds instead of minutes.

Target: the 6,000-image peak is at most 1.10x the 2,000-image peak. What may grow is the
N x 512 float32 matrix and what holds it: 4,000 more rows are 7.8 MiB per copy, and the
6,000-image run (188 shards) also merges its cache shards at the end (the 2,000-image run,
63 shards, stays under ``embed.MERGE_ABOVE``), which briefly holds the merged matrix and
its file image.
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any, Sequence

from . import REPO, Context, Row, median, pet_images

NAME = "memory"

MODEL = "bench-mini-vit"
MODEL_CFG = {
    "embed_dim": 512,
    "vision_cfg": {"image_size": 64, "layers": 2, "width": 128, "head_width": 64, "patch_size": 16},
    "text_cfg": {"context_length": 16, "vocab_size": 49408, "width": 64, "heads": 1, "layers": 1},
}
SIZES = (2000, 6000)
LIMIT = 1.10


def register_model(name: str = MODEL, cfg: dict[str, Any] = MODEL_CFG) -> None:
    """Add ``name`` (default ``bench-mini-vit``) to open_clip through its public
    ``add_model_config``."""
    import open_clip

    if name in open_clip.list_models():
        return
    folder = Path(tempfile.mkdtemp(prefix=f"{name}-"))
    (folder / f"{name}.json").write_text(json.dumps(cfg))
    open_clip.add_model_config(folder)


def _vm_hwm_mib() -> float:
    """Peak resident set of this process (Linux), else ru_maxrss."""
    try:
        for line in Path("/proc/self/status").read_text().splitlines():
            if line.startswith("VmHWM:"):
                return int(line.split()[1]) / 1024
    except OSError:
        pass
    kb = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    return kb / 1024 / (1024 if sys.platform == "darwin" else 1)


def child(n: int, data_root: str) -> dict[str, Any]:
    """Embed the first ``n`` PetImages into a fresh cache; return peaks and shapes."""
    from clipdistill import embed, models

    register_model()
    clip = models.load_clip(MODEL, None, random_weights=True)
    paths = pet_images(Path(data_root), n)
    before = _vm_hwm_mib()
    with tempfile.TemporaryDirectory(prefix="bench-memory-") as tmp:
        t0 = time.perf_counter()
        X = embed.embed_images(clip, paths, cache_dir=tmp, batch_size=32, num_workers=2, progress=False)
        seconds = time.perf_counter() - t0
    return {"images": len(paths), "embedding_shape": list(X.shape), "seconds": round(seconds, 1),
            "peak_rss_mib": round(_vm_hwm_mib(), 1), "rss_before_embedding_mib": round(before, 1),
            "matrix_mib": round(X.nbytes / 2**20, 2)}


def _run_child(n: int, data_root: Path) -> dict[str, Any]:
    env = {**os.environ, "CLIPDISTILL_PROGRESS": "off", "PYTHONPATH": os.pathsep.join(
        p for p in (str(REPO), os.environ.get("PYTHONPATH", "")) if p)}
    proc = subprocess.run([sys.executable, "-m", "benchmarks.bench_memory", "--child", str(n),
                           "--data-root", str(data_root)], cwd=REPO, env=env, capture_output=True,
                          text=True, timeout=1800)
    if proc.returncode != 0:
        raise RuntimeError(f"memory child ({n} images) failed: {proc.stderr.strip()[-500:]}")
    return json.loads(proc.stdout.strip().splitlines()[-1])


def bench(ctx: Context) -> dict[str, Any]:
    available = len(pet_images(ctx.data_root))
    small, large = (min(n, available) for n in SIZES)
    rounds = 1 if ctx.quick else 3
    runs: dict[str, list[dict[str, Any]]] = {str(small): [], str(large): []}
    for r in range(rounds):
        for n in ((small, large) if r % 2 == 0 else (large, small)):
            runs[str(n)].append(_run_child(n, ctx.data_root))
    peak = {k: median([x["peak_rss_mib"] for x in v]) for k, v in runs.items()}
    base = {k: median([x["rss_before_embedding_mib"] for x in v]) for k, v in runs.items()}
    ratio = peak[str(large)] / peak[str(small)]
    matrix_growth = (large - small) * MODEL_CFG["embed_dim"] * 4 / 2**20
    rows = [
        Row(f"peak RSS, {small:,} vs {large:,} images ({MODEL}, 512-d)",
            f"{peak[str(small)]:.0f} vs {peak[str(large)]:.0f} MiB (+{peak[str(small)] - base[str(small)]:.0f}"
            f" vs +{peak[str(large)] - base[str(large)]:.0f} over {base[str(small)]:.0f} before embedding; "
            f"matrix +{matrix_growth:.1f})",
            ratio, f"<= {LIMIT:.2f} (flat)", ratio <= LIMIT),
    ]
    return {"rows": rows, "details": {"model": MODEL, "model_cfg": MODEL_CFG, "runs": runs,
                                      "peak_rss_mib": peak, "rss_before_embedding_mib": base,
                                      "ratio": ratio, "matrix_growth_mib": matrix_growth}}


def main(argv: Sequence[str] | None = None) -> None:
    ap = argparse.ArgumentParser(description="child process of the memory benchmark")
    ap.add_argument("--child", type=int, required=True)
    ap.add_argument("--data-root", required=True)
    args = ap.parse_args(argv)
    os.environ.setdefault("HF_HUB_OFFLINE", "1")
    print(json.dumps(child(args.child, args.data_root)))


if __name__ == "__main__":
    main()
