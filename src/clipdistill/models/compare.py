"""Chapter 02's model comparison: accuracy on the same images, speed side by side.

A parameter table says how big a model is; what a reader choosing one needs is how well it
does on *their* images and how fast it runs on *their* machine. :func:`compare_models`
runs every model of ``cfg.compare_models`` (MobileCLIP beside ViT-B-32 in every profile)
through the same three measurements on the same images:

- kNN on image embeddings (``knn/train`` -> ``knn/test``, ``cfg.knn_k``);
- zero-shot on ``knn/test`` and on each extra labelled set (CIFAR-10 in the chapter), with
  ``cfg.zero_shot_templates``;
- images per second end to end (read, decode, preprocess, encode; no cache), in
  alternating rounds (ABC, CBA, ...), each round's rates divided by the first model's in
  the same round, the median over rounds reported (:func:`benchmarks.side_by_side`'s
  recipe): a ratio survives a shared, noisy machine better than a rate does.

Every embedding goes through the engine's cache, so the chapter's own model costs
nothing here and a rerun costs only the timing.
"""

from __future__ import annotations

import statistics
import time
from typing import Any, Mapping, Sequence

import numpy as np

__all__ = ["compare_models", "speed_rounds"]


def speed_rounds(clips: Mapping[str, Any], paths: Sequence[str], *, rounds: int = 3,
                 batch_size: int = 32, num_workers: int = 2) -> dict[str, list[float]]:
    """Images/s of each model over ``paths`` (no cache), once per round, alternating the
    order every round."""
    import torch

    from ..embed import embed_images

    names = list(clips)
    out: dict[str, list[float]] = {n: [] for n in names}
    for r in range(rounds):
        for name in (names if r % 2 == 0 else names[::-1]):
            clip = clips[name]
            t0 = time.perf_counter()
            embed_images(clip, paths, cache_dir=None, batch_size=batch_size,
                         num_workers=num_workers, progress=False)
            if clip.device.type == "cuda":
                torch.cuda.synchronize(clip.device)
            out[name].append(len(paths) / max(time.perf_counter() - t0, 1e-9))
    return out


def compare_models(cfg: Any, train: Any, test: Any, extra: Mapping[str, Any] | None = None, *,
                   specs: Sequence[str] | None = None, bench_paths: Sequence[str] = (),
                   rounds: int = 3, progress: bool = True) -> "pd.DataFrame":  # noqa: F821
    """A row per model of ``specs`` (default ``cfg.compare_models``): parameters, kNN and
    zero-shot accuracy on ``train``/``test`` (chapter 01 splits) and on each ``extra``
    labelled set, and images/s on ``bench_paths`` with its ratio to the first model's.
    ``attrs["zero_shot"]`` keeps each model's zero-shot predictions per set, and
    ``attrs["labels"]`` each set's labels: the models saw the same images, so a difference
    between two of them gets a paired interval (:func:`clipdistill.findings.paired_gap`)."""
    import pandas as pd

    from .. import zeroshot
    from ..embed import cache_dir_for, embed_images
    from ..progress import nested, progress_bar
    from .loading import load_clip_from_config
    from .names import parse_spec

    specs = list(specs or cfg.compare_models)
    extra = dict(extra or {})
    cache = cache_dir_for(cfg)
    engine = dict(cache_dir=cache, batch_size=cfg.batch_size, num_workers=cfg.num_workers,
                  progress=progress)
    clips, rows = {}, []
    predictions: dict[str, dict[str, np.ndarray]] = {}
    bar = progress_bar(len(specs), "comparing models", enabled=progress, unit="model")
    with nested():  # each model's embedding bars clear when done: one line in the end
        for spec in specs:
            clip = clips[spec] = load_clip_from_config(cfg, *parse_spec(spec))
            x_tr = embed_images(clip, train.paths, **engine, desc=f"{spec}: knn/train")
            x_te = embed_images(clip, test.paths, **engine, desc=f"{spec}: knn/test")
            pred = zeroshot.knn_predict(x_tr, train.labels, x_te, k=cfg.knn_k)
            params = clip.info.get("params", {})
            row = {"model": spec, "image params (M)": params.get("image", np.nan) / 1e6,
                   "kNN (knn/test)": float(np.mean(pred == test.labels))}
            for name, split in {"knn/test": test, **extra}.items():
                x = x_te if split is test else embed_images(clip, split.paths, **engine,
                                                           desc=f"{spec}: {name}")
                res = zeroshot.evaluate_zero_shot(clip, x, split.labels, split.classes,
                                                  cfg.zero_shot_templates, cache_dir=cache)
                row[f"zero-shot ({name})"] = res["accuracy"]
                predictions.setdefault(spec, {})[name] = np.asarray(res["pred"])
            rows.append(row)
            bar.update(1)
    bar.close()
    if bench_paths and rounds > 0:
        rates = speed_rounds(clips, list(bench_paths), rounds=rounds, batch_size=cfg.batch_size,
                             num_workers=cfg.num_workers)
        first = rates[specs[0]]
        for row in rows:
            mine = rates[row["model"]]
            row["images/s"] = statistics.median(mine)
            row[f"speed vs {specs[0]}"] = statistics.median(a / b for a, b in zip(mine, first))
    table = pd.DataFrame(rows).set_index("model")
    table.attrs["rounds"], table.attrs["images"] = rounds, len(bench_paths)
    table.attrs["zero_shot"] = predictions
    table.attrs["labels"] = {name: np.asarray(split.labels)
                             for name, split in {"knn/test": test, **extra}.items()}
    return table
