"""Embedding the same images again with a warm cache, against the cold call that filled it.

Each round: a fresh cache folder, one cold ``embed_images`` call (everything decoded and
encoded, rows written), then warm calls on the same paths. Two kinds of warm call:

- **warm, new process**: the in-process memo of loaded shards is dropped first, so the
  call reads the shards from disk, as a rerun of the notebook (a new kernel) does. This
  is the headline figure.
- **warm, same process**: the memo is kept, as when a chapter asks twice.

Both hash every file (the cache is keyed by content, not name), decode nothing and encode
nothing. Target: warm (new process) at least 50x faster than cold. Same model, batch size
and workers as ``bench_embed``.
"""

from __future__ import annotations

import tempfile
import time
from typing import Any

from . import Context, Row, dogs_vs_cats, fmt_rate, median
from .bench_embed import _settings, _sync, load_model

NAME = "cache"

ROUNDS = {False: 3, True: 2}  # quick -> 2
WARM_REPEATS = 3  # warm calls per round (median), each kind


def _forget_memo() -> None:
    """What a new process would not have: rows loaded by earlier calls in this one."""
    from clipdistill.embed import EmbeddingStore

    with EmbeddingStore._lock:
        EmbeddingStore._memo.clear()


def bench(ctx: Context) -> dict[str, Any]:
    from clipdistill import embed

    s = _settings(ctx)
    clip = load_model(ctx, s["model"])
    paths = dogs_vs_cats(ctx.data_root, s["images"])  # on a GPU: every file once
    bs, workers = s["batch_size"], s["num_workers"]

    def timed(cache: str) -> float:
        _sync(clip)
        t0 = time.perf_counter()
        embed.embed_images(clip, paths, cache_dir=cache, batch_size=bs, num_workers=workers,
                           progress=False)
        _sync(clip)
        return time.perf_counter() - t0

    timed_round: list[dict[str, Any]] = []
    with tempfile.TemporaryDirectory(prefix="bench-cache-warmup-") as tmp:  # page cache, allocator
        embed.embed_images(clip, paths[: 2 * bs], cache_dir=tmp, batch_size=bs, num_workers=workers,
                           progress=False)
    for _ in range(ROUNDS[ctx.quick]):
        with tempfile.TemporaryDirectory(prefix="bench-cache-") as tmp:
            cold = timed(tmp)
            fresh, same = [], []
            for _ in range(WARM_REPEATS):
                _forget_memo()
                fresh.append(timed(tmp))
                same.append(timed(tmp))
            timed_round.append({"cold_s": cold, "warm_new_process_s": median(fresh),
                                "warm_same_process_s": median(same)})
    _forget_memo()
    speedup_fresh = median([r["cold_s"] / r["warm_new_process_s"] for r in timed_round])
    speedup_same = median([r["cold_s"] / r["warm_same_process_s"] for r in timed_round])
    cold_ips = median([len(paths) / r["cold_s"] for r in timed_round])
    fresh_ips = median([len(paths) / r["warm_new_process_s"] for r in timed_round])
    same_ips = median([len(paths) / r["warm_same_process_s"] for r in timed_round])
    label = f"{s['model']}, {len(paths)} images"
    rows = [
        Row(f"cache warm vs cold ({label}, shards read from disk)",
            f"cold {fmt_rate(cold_ips)} img/s, warm {fmt_rate(fresh_ips)} img/s",
            speedup_fresh, ">= 50x", speedup_fresh >= 50),
        Row(f"cache warm vs cold ({label}, same process)",
            f"cold {fmt_rate(cold_ips)} img/s, warm {fmt_rate(same_ips)} img/s",
            speedup_same, ">= 50x", speedup_same >= 50),
    ]
    return {"rows": rows, "details": {**s, "images": len(paths), "rounds": timed_round,
                                      "speedup_new_process": speedup_fresh,
                                      "speedup_same_process": speedup_same}}
