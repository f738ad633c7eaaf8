"""Image embedding end to end on real JPEGs, against the encoder alone, a naive loop and
LAION CLIP_benchmark's evaluation loop, and against the machine's matmul limit.

Contenders, run side by side in alternating order, round after round:

- **engine**: ``clipdistill.embed.embed_images`` on the dogs-vs-cats originals (60 to
  500 px, real JPEGs) with a fresh (cold) cache: read, hash, decode, preprocess, encode,
  write cache shards. What a chapter does, in the engine's default precision for this
  processor (on a CPU: bf16 where it has bf16 matrix units, packed fp32 elsewhere;
  ``clipdistill.device.cpu_dtype``).
- **encoder alone**: the same number of images as pre-made tensors, same batch size, same
  ``inference_mode``/autocast/normalise: the ceiling, with decoding free.
- **naive loop**: open, preprocess and encode one image at a time, as the original
  cats-vs-dogs scripts did: with the model exactly as open_clip builds it
  (``cpu_kernels="torch"``, fp32), while the engine and the encoder alone use the
  library's default (on a CPU, the engine's copy with linear layers packed for oneDNN:
  ``clipdistill.embed.onednn``).
- **CLIP_benchmark loop**: what LAION's CLIP_benchmark runs to evaluate a model
  (``clip_benchmark.metrics.zeroshot_classification.run_classification``): a torch
  DataLoader over the files with the model's preprocessing (its CLI's default 4 workers,
  the same batch size), ``model.encode_image`` under ``no_grad``, normalise. The model is the
  one open_clip builds; autocast off on a CPU (fp32: CLIP_benchmark's default would
  autocast a CPU to bf16, which changes the numbers), on as it defaults on a GPU.
- where the engine's default is bf16 (a CPU with bf16 units): the **packed fp32** encoder
  and engine (the default on every other CPU) and **bf16 autocast on the stock model**
  (plain ``torch.autocast``), so bf16's gain is measured beside what it replaces.
- on a CPU, the **machine's limit**: n x n matmul GFLOP/s in fp32 and in bf16
  (``benchmarks.machine_limit``), timed in the same rounds; each encoder row is then also
  given as a share of it (images/s x GFLOPs per image / limit).

Targets: engine >= 90% of the encoder alone (decoding hides behind compute), >= 1.5x
the naive loop, and at least as fast as CLIP_benchmark's fp32 loop: 3x on a CPU with AMX.
Where bf16 is the default, bf16 >= the packed fp32 path, encoder alone and end to end
(nothing slower than before). Context rows without targets split the gain between the
kernels and the pipeline. CPU: ViT-B-32 at batch 32 with the engine's default 2 workers.
CUDA: ViT-B-16 with bf16 autocast at batch 256, one worker per CPU core, and a floor of
2,000 images/s (the documents saw about 85).
"""

from __future__ import annotations

import os
import tempfile
import time
from typing import Any

from . import Context, Row, dogs_vs_cats, fmt_rate, median, paired_ratios, side_by_side

NAME = "embed"

CPU = {"model": "ViT-B-32", "batch_size": 32, "images": 128, "naive_images": 32, "rounds": 5}
CPU_QUICK = {**CPU, "images": 64, "naive_images": 16, "rounds": 2}
GPU = {"model": "ViT-B-16", "batch_size": 256, "images": 8192, "naive_images": 64, "rounds": 3,
       "floor_images_per_s": 2000.0}
GPU_QUICK = {**GPU, "images": 4096, "rounds": 2}


def _settings(ctx: Context) -> dict[str, Any]:
    s = dict((GPU_QUICK if ctx.quick else GPU) if ctx.cuda else (CPU_QUICK if ctx.quick else CPU))
    s["num_workers"] = min(16, os.cpu_count() or 1) if ctx.cuda else 2
    return s


def load_model(ctx: Context, name: str, cpu_kernels: str = "auto", cpu_dtype: str = "auto"):
    """Random weights (offline): speed does not depend on the weights' values. On a CPU,
    ``cpu_dtype`` "auto" is the engine's choice for this processor (bf16 where it has
    bf16 matrix units, else fp32)."""
    from clipdistill import models

    return models.load_clip(name, "openai", random_weights=True, device=ctx.device,
                            amp="auto" if ctx.cuda else "off", cpu_kernels=cpu_kernels,
                            cpu_dtype=cpu_dtype)


def _sync(clip: Any) -> None:
    import torch

    if clip.device.type == "cuda":
        torch.cuda.synchronize(clip.device)


def encoder_alone(clip: Any, n_images: int, batch_size: int):
    """A callable timing ``n_images`` pre-made images through the encoder (images/s)."""
    import torch

    size = int(clip.info.get("image_size") or 224)
    x = torch.randn(batch_size, 3, size, size).to(clip.device)
    n_batches = max(1, n_images // batch_size)

    from clipdistill.embed.onednn import inference_model

    net = inference_model(clip)

    @torch.inference_mode()
    def go() -> float:
        _sync(clip)
        t0 = time.perf_counter()
        for _ in range(n_batches):
            with clip.autocast():
                feats = clip.encode_image(x, module=net)
            torch.nn.functional.normalize(feats.float(), dim=-1).cpu().numpy()
        _sync(clip)
        return n_batches * batch_size / (time.perf_counter() - t0)

    return go


def engine(clip: Any, paths: list, batch_size: int, num_workers: int):
    """A callable timing ``embed_images`` with an empty cache on ``paths`` (images/s)."""
    from clipdistill import embed

    def go() -> float:
        with tempfile.TemporaryDirectory(prefix="bench-embed-") as tmp:
            _sync(clip)
            t0 = time.perf_counter()
            embed.embed_images(clip, paths, cache_dir=tmp, batch_size=batch_size,
                               num_workers=num_workers, progress=False)
            _sync(clip)
            return len(paths) / (time.perf_counter() - t0)

    return go


def naive(clip: Any, paths: list):
    """A callable timing the one-image-at-a-time loop a first script usually writes (images/s)."""
    import torch
    from PIL import Image

    from clipdistill.embed.onednn import inference_model

    net = inference_model(clip)

    @torch.no_grad()
    def go() -> float:
        _sync(clip)
        t0 = time.perf_counter()
        for p in paths:
            image = Image.open(p).convert("RGB")
            x = clip.preprocess(image).unsqueeze(0)
            with clip.autocast():
                f = clip.encode_image(x, module=net)
            (f / f.norm(dim=-1, keepdim=True)).float().cpu().numpy()
        _sync(clip)
        return len(paths) / (time.perf_counter() - t0)

    return go


class _Files:
    """A map-style dataset of image files and dummy targets, as CLIP_benchmark's datasets are."""

    def __init__(self, paths: list, transform: Any) -> None:
        self.paths, self.transform = paths, transform

    def __len__(self) -> int:
        return len(self.paths)

    def __getitem__(self, i: int) -> tuple[Any, int]:
        from PIL import Image

        return self.transform(Image.open(self.paths[i]).convert("RGB")), 0


def clip_benchmark_loop(clip: Any, paths: list, batch_size: int, num_workers: int = 4):
    """A callable timing CLIP_benchmark's ``run_classification`` image loop (images/s)."""
    import torch

    loader = torch.utils.data.DataLoader(_Files(paths, clip.preprocess), batch_size=batch_size,
                                         shuffle=False, num_workers=num_workers)
    amp = clip.device.type == "cuda"

    def go() -> float:
        _sync(clip)
        t0 = time.perf_counter()
        with torch.no_grad():
            for images, target in loader:
                images = images.to(clip.device)
                with torch.autocast(clip.device.type, enabled=amp):
                    feats = torch.nn.functional.normalize(clip.model.encode_image(images), dim=-1)
                feats.float().cpu()
        _sync(clip)
        return len(paths) / (time.perf_counter() - t0)

    return go


def _label(clip: Any, s: dict[str, Any]) -> str:
    from clipdistill.embed.throughput import precision

    dtype = precision(clip)["precision"] if clip.device.type == "cpu" else \
        (str(clip.amp_dtype).replace("torch.", "") if clip.amp_dtype else "")
    return f"{s['model']} b{s['batch_size']} {clip.device.type} {dtype}".strip()


def bench(ctx: Context) -> dict[str, Any]:
    s = _settings(ctx)
    clip = load_model(ctx, s["model"])
    # What the documents' scripts and CLIP_benchmark run: the stock module, in fp32.
    stock = load_model(ctx, s["model"], cpu_kernels="torch", cpu_dtype="float32")
    if stock.key == clip.key:
        stock = clip  # on a GPU (or without oneDNN) the very same model
    bf16 = clip.device.type == "cpu" and clip.amp_dtype is not None
    pool = dogs_vs_cats(ctx.data_root)
    # On a GPU one pass over the 2,002 files is ~1 s: the list repeats to time seconds, not
    # start-up. Repeats are decoded and encoded again (the cache is filled only after a call).
    paths = [pool[i % len(pool)] for i in range(s["images"])]
    naive_paths = pool[:s["naive_images"]]
    bs, workers = s["batch_size"], s["num_workers"]
    # Warm-up: first calls allocate, autotune and fill the page cache for every contender.
    encoder_alone(clip, bs, bs)()
    engine(clip, pool[: 2 * bs], bs, workers)()
    naive(stock, naive_paths[:2])()
    clip_benchmark_loop(stock, pool[: 2 * bs], bs)()
    contenders = {
        "encoder_alone": encoder_alone(clip, len(paths), bs),
        "engine": engine(clip, paths, bs, workers),
        "naive": naive(stock, naive_paths),
        "clip_benchmark": clip_benchmark_loop(stock, paths, bs),
    }
    packed = clip.cpu_kernels == "onednn"
    if stock is not clip:
        naive(clip, naive_paths[:2])()
        contenders["encoder_alone_stock"] = encoder_alone(stock, len(paths), bs)
        contenders["naive_packed"] = naive(clip, naive_paths)
    fp32 = None
    if bf16:  # today's default beside it: the packed fp32 copy, and plain autocast
        fp32 = load_model(ctx, s["model"], cpu_dtype="float32")
        autocast_stock = load_model(ctx, s["model"], cpu_kernels="torch", cpu_dtype="bfloat16")
        encoder_alone(fp32, bs, bs)()
        encoder_alone(autocast_stock, bs, bs)()
        contenders["encoder_alone_fp32"] = encoder_alone(fp32, len(paths), bs)
        contenders["engine_fp32"] = engine(fp32, paths, bs, workers)
        contenders["encoder_alone_bf16_stock"] = encoder_alone(autocast_stock, len(paths), bs)
    if not ctx.cuda:
        import torch

        from .machine_limit import QUICK_SIZE, SIZE, matmul_gflops

        n = QUICK_SIZE if ctx.quick else SIZE
        contenders["matmul_fp32"] = matmul_gflops(torch.float32, n)
        contenders["matmul_bf16"] = matmul_gflops(torch.bfloat16, n)
    rates = side_by_side(contenders, s["rounds"])
    rows, details = _rows(ctx, clip, stock, fp32, rates, s)
    details.update({**s, "device": clip.device.type, "amp": str(clip.amp_dtype),
                    "cpu_dtype": clip.info.get("cpu_dtype"), "cpu_dtype_why": clip.info.get("cpu_dtype_why"),
                    "cpu_kernels": {"engine": clip.cpu_kernels, "naive": stock.cpu_kernels},
                    "packed": packed, "files": len(pool), "images_per_round": len(paths),
                    "images_per_s": rates})
    return {"rows": rows, "details": details}


def _rows(ctx: Context, clip: Any, stock: Any, fp32: Any, rates: dict[str, list[float]],
          s: dict[str, Any]) -> tuple[list[Row], dict[str, Any]]:
    from clipdistill.device import cpu_bf16_units

    def ratio(a: str, b: str) -> float:
        return median(paired_ratios(rates[a], rates[b]))

    def rate(k: str) -> str:
        return fmt_rate(median(rates[k]))

    vs_encoder, vs_naive, vs_cb = ratio("engine", "encoder_alone"), ratio("engine", "naive"), \
        ratio("engine", "clip_benchmark")
    label = _label(clip, s)
    amx = not ctx.cuda and cpu_bf16_units() == "amx"
    cb_target = 3.0 if amx else 1.0
    rows = [
        Row(f"embed vs encoder alone ({label})",
            f"engine {rate('engine')} img/s, encoder alone {rate('encoder_alone')} img/s",
            vs_encoder, ">= 0.90", vs_encoder >= 0.90),
        Row(f"embed vs naive loop ({label})",
            f"engine {rate('engine')} img/s, naive {rate('naive')} img/s",
            vs_naive, ">= 1.5x", vs_naive >= 1.5),
        Row(f"embed vs CLIP_benchmark's fp32 loop ({label})",
            f"engine {rate('engine')} img/s, CLIP_benchmark {rate('clip_benchmark')} img/s",
            vs_cb, f">= {cb_target:.1f}x" + (" (AMX)" if amx else ""), vs_cb >= cb_target,
            note="DataLoader, 4 workers, stock model, autocast off"),
    ]
    if "encoder_alone_stock" in rates:
        rows += [
            Row(f"encoder alone, engine vs stock fp32 ({label})",
                f"engine's copy {rate('encoder_alone')} img/s, stock {rate('encoder_alone_stock')} img/s",
                ratio("encoder_alone", "encoder_alone_stock"), "context", None,
                note="the kernels' (and precision's) share of the gain"),
            Row(f"embed vs naive loop on the engine's copy ({label})",
                f"engine {rate('engine')} img/s, naive {rate('naive_packed')} img/s",
                ratio("engine", "naive_packed"), "context", None, note="the pipeline's share of the gain"),
        ]
    if fp32 is not None:  # bf16 is the default here: nothing may be slower than the fp32 path
        enc, eng = ratio("encoder_alone", "encoder_alone_fp32"), ratio("engine", "engine_fp32")
        rows += [
            Row(f"encoder alone, bf16 vs packed fp32 ({label})",
                f"bf16 {rate('encoder_alone')} img/s, fp32 {rate('encoder_alone_fp32')} img/s",
                enc, ">= 1.0x", enc >= 1.0, note=clip.info.get("cpu_dtype_why", "")),
            Row(f"embed, bf16 vs packed fp32 ({label})",
                f"bf16 {rate('engine')} img/s, fp32 {rate('engine_fp32')} img/s",
                eng, ">= 1.0x", eng >= 1.0, note="end to end, decoding included"),
            Row(f"encoder alone, bf16 autocast on the stock model vs packed fp32 ({s['model']})",
                f"autocast {rate('encoder_alone_bf16_stock')} img/s, fp32 {rate('encoder_alone_fp32')} img/s",
                ratio("encoder_alone_bf16_stock", "encoder_alone_fp32"), "context", None,
                note="plain torch.autocast, no packed weights"),
        ]
    details: dict[str, Any] = {"ratio_engine_vs_encoder": vs_encoder, "ratio_engine_vs_naive": vs_naive,
                               "ratio_engine_vs_clip_benchmark": vs_cb}
    if "matmul_fp32" in rates:
        rows_limit, details["share_of_limit"] = _limit_rows(clip, stock, rates, s)
        rows += rows_limit
    if ctx.cuda:
        floor = s["floor_images_per_s"]
        eng = median(rates["engine"])
        rows.append(Row(f"embed end to end ({label})", f"engine {fmt_rate(eng)} img/s",
                        eng / floor, f">= {floor:,.0f} img/s", eng >= floor,
                        note="documents: ~85 img/s"))
    return rows, details


def _limit_rows(clip: Any, stock: Any, rates: dict[str, list[float]],
                s: dict[str, Any]) -> tuple[list[Row], dict[str, Any]]:
    """The machine's matmul limit, and each encoder contender as a share of it."""
    from clipdistill.distill import clip_image_tower, count_flops

    from .machine_limit import share

    size = int(stock.info.get("image_size") or 224)
    gflops = count_flops(clip_image_tower(stock), size) / 1e9
    f32, b16 = rates["matmul_fp32"], rates["matmul_bf16"]
    rows = [Row("machine limit: matmul GFLOP/s, fp32 and bf16",
                f"fp32 {fmt_rate(median(f32))}, bf16 {fmt_rate(median(b16))} GFLOP/s",
                median(paired_ratios(b16, f32)), "context", None, note="bf16 vs fp32")]
    bf16_default = clip.device.type == "cpu" and clip.amp_dtype is not None
    who = {"encoder_alone": ("encoder alone, engine default", bf16_default),
           "engine": ("embed end to end, engine default", bf16_default),
           "encoder_alone_fp32": ("encoder alone, packed fp32", False),
           "encoder_alone_bf16_stock": ("encoder alone, bf16 autocast on the stock model", True),
           "encoder_alone_stock": ("encoder alone, stock fp32", False),
           "clip_benchmark": ("CLIP_benchmark's fp32 loop", False)}
    shares: dict[str, Any] = {"gflops_per_image": gflops}
    for key, (name, is_bf16) in who.items():
        if key not in rates:
            continue
        got = median(share(rates[key], gflops, b16 if is_bf16 else f32))
        shares[key] = got
        rows.append(Row(f"{name} as a share of the {'bf16' if is_bf16 else 'fp32'} matmul limit "
                        f"({s['model']})", f"{fmt_rate(median(rates[key]))} img/s x {gflops:.2f} GFLOP",
                        got, "context", None))
    return rows, shares
