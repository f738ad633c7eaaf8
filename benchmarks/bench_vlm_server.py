"""The openai backend against a stand-in server: how close to the ideal rate it gets.

The stand-in (``clipdistill.offline.vlm_server``, its own process, real HTTP on
127.0.0.1) answers each request after a lognormal time with mean 1 s (sigma 0.5: most
answers near a second, one in a hundred past 2.8 s). With W requests in flight the ideal
is W/s. Two clients, side by side in alternating rounds:

- **window**: the package as it is: ``describe_images`` through ``OpenAIDescriber``
  (sliding window, each text written to a real cache file as it arrives). Its rate is
  the window's own (first request out to last reply in, from the cache's timing), and
  the whole call's (hashing the files and reading the cache included) is shown too.
- **batches**: what the backend did before, for comparison: batches of 2W requests, W
  threads each, every batch waiting for its slowest request.

Targets: the window at >= 90% of the ideal at 64 and at 256 in flight. Also shown: one
client's ceiling against a stand-in that answers at once (both processes on this
machine's cores), and what the client-side pixel budget costs per image.

Images: every distinct file of the shared data (PetImages, dogs-vs-cats, Caltech-101,
CIFAR-10: ~20,000), each sent as it is; the dogs-vs-cats originals (60 to 500 px) for the
pixel budget. The stand-in's replies are not descriptions.
"""

from __future__ import annotations

import tempfile
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

from . import Context, Row, dogs_vs_cats, fmt_rate, median, pet_images, side_by_side

NAME = "vlm_server"

MEAN_S, SIGMA = 1.0, 0.5
TARGET = 0.90
# (requests in flight, images through the window, images through batches). The window
# runs ~60 s, so the last second (the final replies drain) weighs ~2%, as in a long run;
# --quick runs ~10 s, too short for the target, and only checks the code path.
FULL = [(64, 3840, 640), (256, 15360, 1536)]
QUICK = [(64, 640, 256), (256, 2048, 512)]
PROMPT = "describe this image in a sentence."
BUDGET = 64 * 28 * 28  # 64 visual tokens: most dogs-vs-cats originals get resized


def _describer(base: str, window: int, max_pixels: int = 0):
    from clipdistill.vlm import OpenAIDescriber

    return OpenAIDescriber("stand-in-vlm", base, concurrency=window, max_new_tokens=64,
                           timeout_s=60.0, max_retries=2, backoff_s=0.5, max_pixels=max_pixels)


def window_run(base: str, window: int, paths: list[Path]) -> dict[str, float]:
    """One ``describe_images`` call into an empty cache."""
    from clipdistill.vlm import describe_images, throughput

    d = _describer(base, window)
    with tempfile.TemporaryDirectory(prefix="bench-vlm-server-") as tmp:
        cache = Path(tmp) / "c.jsonl"
        t0 = time.perf_counter()
        describe_images(d, paths, PROMPT, cache_path=cache, progress=False)
        call_s = time.perf_counter() - t0
        t = throughput(cache, d.key)
    n = t["images"]  # distinct images: a duplicate file is described once
    return {"images": n, "window_s": t["seconds"], "call_s": call_s,
            "rate": n / t["seconds"], "call_rate": n / call_s}


def batches_run(base: str, window: int, paths: list[Path]) -> dict[str, float]:
    """The old way: batches of 2x``window``, each waiting for its slowest request."""
    d = _describer(base, window)
    t0 = time.perf_counter()
    for start in range(0, len(paths), 2 * window):
        batch = paths[start:start + 2 * window]
        with ThreadPoolExecutor(max_workers=window) as pool:
            list(pool.map(lambda p: d.describe_one(p, PROMPT), batch))
    seconds = time.perf_counter() - t0
    return {"images": len(paths), "seconds": seconds, "rate": len(paths) / seconds}


def pixel_cost(paths: list[Path]) -> dict[str, float]:
    """Time per image to build the data URL in one thread, as it is vs fitted to ``BUDGET``."""
    from PIL import Image

    from clipdistill.vlm.http import image_data_url

    out: dict[str, float] = {}
    image_data_url(paths[0], BUDGET)  # imports and first-call set-up, untimed
    for label, budget in (("as_is", 0), ("budget", BUDGET)):
        t0 = time.perf_counter()
        sizes = [len(image_data_url(p, budget)) for p in paths]
        out[f"{label}_ms"] = (time.perf_counter() - t0) / len(paths) * 1e3
        out[f"{label}_kb"] = sum(sizes) / len(sizes) / 1024
    resized = 0
    for p in paths:
        with Image.open(p) as im:
            w, h = im.size
        resized += w * h > BUDGET
    out["resized_share"] = resized / len(paths)
    return out


def bench(ctx: Context) -> dict[str, Any]:
    from clipdistill.offline.vlm_server import start_process

    plan = QUICK if ctx.quick else FULL
    pool = many_images(ctx.data_root)
    rounds = 1 if ctx.quick else 2
    proc, base = start_process(mean_s=MEAN_S, sigma=SIGMA, seed=0)
    details: dict[str, Any] = {"mean_s": MEAN_S, "sigma": SIGMA, "rounds": rounds, "levels": {}}
    rows = []
    try:
        for window, n_window, n_batches in plan:
            runs: dict[str, list[dict[str, float]]] = {"window": [], "batches": []}
            rates = side_by_side({
                "window": lambda: _keep(runs["window"], window_run(base, window, pool[:n_window]))["rate"],
                "batches": lambda: _keep(runs["batches"], batches_run(base, window, pool[:n_batches]))["rate"],
            }, rounds)
            ideal = window / MEAN_S
            win, bat = median(rates["window"]), median(rates["batches"])
            call = median([r["call_rate"] for r in runs["window"]])
            details["levels"][str(window)] = {"ideal": ideal, "runs": runs}
            rows.append(Row(f"describe via stand-in server, {window} in flight (lognormal, mean 1 s)",
                            f"window {fmt_rate(win)}/s ({n_window} images; whole call {fmt_rate(call)}/s), "
                            f"old batches {fmt_rate(bat)}/s ({bat / ideal:.0%} of ideal), ideal {fmt_rate(ideal)}/s",
                            win / ideal, f">= {TARGET:.2f} of ideal",
                            None if ctx.quick else win / ideal >= TARGET,
                            "quick: too short for the target" if ctx.quick else ""))
    finally:
        proc.kill()
        proc.wait(10)
    proc, base = start_process(mean_s=0.0)
    try:
        n = 1000 if ctx.quick else 3000
        fast = window_run(base, 64, pool[:n])
    finally:
        proc.kill()
        proc.wait(10)
    details["zero_latency"] = fast
    rows.append(Row("one client vs a stand-in answering at once (64 in flight, same machine)",
                    f"{fmt_rate(fast['rate'])} requests/s ({n} images)", None,
                    "context: one client can feed a cluster", None))
    cost = pixel_cost(dogs_vs_cats(ctx.data_root, 100 if ctx.quick else 300))
    details["pixel_budget"] = cost
    rows.append(Row(f"client-side pixel budget ({BUDGET:,} px), dogs-vs-cats originals",
                    f"{cost['budget_ms']:.1f} vs {cost['as_is_ms']:.2f} ms per image, one thread "
                    f"({cost['resized_share']:.0%} resized); {cost['budget_kb']:.0f} vs "
                    f"{cost['as_is_kb']:.0f} KB per request", None, "context", None))
    return {"rows": rows, "details": details}


def many_images(data_root: Path) -> list[Path]:
    """Every distinct image file of the shared data, PetImages first (fixed order)."""
    files = list(pet_images(data_root)) + dogs_vs_cats(data_root)
    for sub in ("caltech101", "cifar10"):
        files += sorted((Path(data_root) / sub).rglob("*.jpg"))
    return files


def _keep(runs: list[dict[str, float]], run: dict[str, float]) -> dict[str, float]:
    runs.append(run)
    return run
