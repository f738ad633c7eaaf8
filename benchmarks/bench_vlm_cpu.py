"""Which small VLM can describe every image on a CPU: describers at the real shapes.

Each contender is a random-weight checkpoint with a real model's exact shape (its
``config.json`` numbers, its image processor's settings, a toy tokenizer), written to a
folder in the hub's layout and loaded by the chapter's own ``TransformersDescriber``
(``from_pretrained``) in a fresh process, which then describes real images at chapter 01's
``quick`` shape (PetImages padded to 640x640 JPEGs) through ``describe_images``. The
end-of-turn token is silenced, so every image costs the full ``max_new_tokens``: an upper
bound (a trained model stops at the end of its sentence). Cost does not depend on the
weights' values.

Contenders (CPU quick settings: float32 unless said, batch 8, 48 new tokens):

- ``HuggingFaceTB/SmolVLM-256M-Instruct`` with image splitting off (one 512-px tile,
  64 visual tokens): the CPU profiles' VLM; and the same in bfloat16, as the engine runs
  it on a CPU with bf16 units (its ratio to the float32 row is what bf16 gains there);
- the same with the hub's default splitting (a 640-px image becomes 4x4 tiles plus a
  global one: 17 tiles, 1,088 visual tokens), on fewer images;
- ``HuggingFaceTB/SmolVLM-500M-Instruct``, one tile;
- ``LiquidAI/LFM2-VL-450M`` at its defaults (a 512-px image, 256 visual tokens) and with
  ``max_image_tokens=64`` and splitting off (a 256-px image, 64 tokens; with splitting on,
  a 640-px image over that budget is cut into 2x2 tiles of 256 tokens each);
- the offline ``tiny-random-smolvlm`` (the smoke profile's stand-in on a CPU).

For each: images/s with the full ``max_new_tokens`` and with one new token (the
difference is decoding; the rest is the vision tower and the prompt), visual tokens per
image, and the process's peak RSS. Rounds alternate the order; ratios are taken within a
round against SmolVLM-256M. Qwen2.5-VL-3B (the GPU profiles' VLM) needs ~15 GB in float32,
more than a hosted runner has: its CPU row is run only with ``--big`` (see bench_vlm for
the GPU).

    .venv/bin/python -m benchmarks --only vlm_cpu [--quick]
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

from . import REPO, Context, Row, fmt_rate, median, paired_ratios, pet_images

NAME = "vlm_cpu"
REFERENCE = "smolvlm-256m"
CONTENDERS: dict[str, dict[str, Any]] = {
    "smolvlm-256m": {"family": "smolvlm", "repo": "HuggingFaceTB/SmolVLM-256M-Instruct",
                     "image_processor": {"do_image_splitting": False}},
    # The same weights in bfloat16, as the engine runs them where the CPU has bf16 units
    # (vlm_dtype "auto"; AMX or AVX512-BF16): its ratio to the row above is bf16's gain.
    "smolvlm-256m-bf16": {"family": "smolvlm", "repo": "HuggingFaceTB/SmolVLM-256M-Instruct",
                          "image_processor": {"do_image_splitting": False}, "dtype": "bfloat16"},
    "smolvlm-256m-split": {"family": "smolvlm", "repo": "HuggingFaceTB/SmolVLM-256M-Instruct",
                           "image_processor": {}, "images": 4, "batch_size": 2},
    "smolvlm-500m": {"family": "smolvlm", "repo": "HuggingFaceTB/SmolVLM-500M-Instruct",
                     "image_processor": {"do_image_splitting": False}},
    "lfm2-vl-450m": {"family": "lfm2_vl", "repo": "LiquidAI/LFM2-VL-450M", "image_processor": {}},
    "lfm2-vl-450m-64": {"family": "lfm2_vl", "repo": "LiquidAI/LFM2-VL-450M",
                        "image_processor": {"max_image_tokens": 64, "do_image_splitting": False}},
    "tiny-smolvlm": {"family": "tiny", "repo": "tiny-random-smolvlm",
                     "image_processor": {"do_image_splitting": False}},
    "qwen2.5-vl-3b": {"family": "qwen", "repo": "Qwen/Qwen2.5-VL-3B-Instruct", "image_processor": {},
                      "big": True, "images": 4, "batch_size": 2},
}
SETTINGS = {"batch_size": 8, "max_new_tokens": 48, "images": 8, "warmup": 2, "rounds": 2, "threads": 2}
QUICK = {"batch_size": 4, "max_new_tokens": 16, "images": 4, "warmup": 2, "rounds": 1, "threads": 2}

# LiquidAI/LFM2-VL-450M's config.json / processor_config.json numbers: an LFM2-350M
# decoder (10 short-convolution and 6 attention blocks), a SigLIP2 NaFlex base tower.
LFM2_VL_450M = {
    "text": {"hidden_size": 1024, "intermediate_size": 6656, "num_hidden_layers": 16,
             "num_attention_heads": 16, "num_key_value_heads": 8, "vocab_size": 65536,
             "max_position_embeddings": 128000, "conv_L_cache": 3, "block_auto_adjust_ff_dim": True,
             "layer_types": ["conv", "conv", "full_attention", "conv", "conv", "full_attention",
                             "conv", "conv", "full_attention", "conv", "full_attention", "conv",
                             "full_attention", "conv", "full_attention", "conv"]},
    "vision": {"hidden_size": 768, "intermediate_size": 3072, "num_hidden_layers": 12,
               "num_attention_heads": 12, "patch_size": 16, "num_patches": 256},
    "projector_hidden_size": 2560, "downsample_factor": 2,
    "processor": {"max_image_tokens": 256, "min_image_tokens": 64, "max_num_patches": 1024,
                  "max_pixels_tolerance": 2.0, "do_image_splitting": True, "use_thumbnail": False,
                  "tile_size": 512, "min_tiles": 2, "max_tiles": 10, "encoder_patch_size": 16},
}
LFM2_TOKENS = ["<|pad|>", "<|startoftext|>", "<|endoftext|>", "<|im_start|>", "<|im_end|>",
               "<image>", "<|image_start|>", "<|image_end|>", "<|img_thumbnail|>",
               *[f"<|img_row_{r}_col_{c}|>" for r in range(1, 7) for c in range(1, 7)]]
LFM2_TEMPLATE = (
    "{{ bos_token }}{% for message in messages %}{{ '<|im_start|>' + message['role'] + '\n' }}"
    "{% for content in message['content'] %}{% if content['type'] == 'image' %}{{ '<image>' }}"
    "{% elif content['type'] == 'text' %}{{ content['text'] }}{% endif %}{% endfor %}"
    "{{ '<|im_end|>\n' }}{% endfor %}{% if add_generation_prompt %}{{ '<|im_start|>assistant\n' }}{% endif %}"
)


def write_lfm2_vl(folder: Path) -> None:
    """A random-weight LFM2-VL-450M in ``folder`` (toy tokenizer, real processor settings)."""
    import torch
    from transformers import Lfm2VlConfig, Lfm2VlForConditionalGeneration, Lfm2VlProcessor
    from transformers.models.lfm2_vl.image_processing_lfm2_vl import Lfm2VlImageProcessor

    from clipdistill.offline.toy_tokenizer import toy_tokenizer

    tok = toy_tokenizer(LFM2_TOKENS, vocab_size=600, eos="<|im_end|>", pad="<|pad|>",
                        bos="<|startoftext|>", chat_template=LFM2_TEMPLATE,
                        extra={"image_token": "<image>"})
    ids = {t: tok.convert_tokens_to_ids(t) for t in LFM2_TOKENS}
    s = LFM2_VL_450M
    config = Lfm2VlConfig(
        text_config=dict(s["text"], model_type="lfm2", pad_token_id=ids["<|pad|>"],
                         bos_token_id=ids["<|startoftext|>"], eos_token_id=ids["<|im_end|>"]),
        vision_config=dict(s["vision"], model_type="siglip2_vision_model"),
        image_token_id=ids["<image>"], projector_hidden_size=s["projector_hidden_size"],
        downsample_factor=s["downsample_factor"],
    )
    torch.manual_seed(0)
    model = Lfm2VlForConditionalGeneration(config).eval()
    _silence(model, len(tok), ids.values())
    model.generation_config.eos_token_id = ids["<|im_end|>"]
    model.generation_config.pad_token_id = ids["<|pad|>"]
    ip = Lfm2VlImageProcessor(**s["processor"], image_mean=[0.5] * 3, image_std=[0.5] * 3)
    model.save_pretrained(folder)
    Lfm2VlProcessor(image_processor=ip, tokenizer=tok, chat_template=LFM2_TEMPLATE).save_pretrained(folder)


def write_qwen_3b(folder: Path) -> None:
    """A random-weight Qwen2.5-VL-3B in ``folder`` (bench_vlm's builder and tokenizer;
    the output layer untied, ~0.3B more parameters than the hub's tied one)."""
    from .bench_vlm import SHAPE_7B, build_random_qwen, tiny_parts

    # Qwen/Qwen2.5-VL-3B-Instruct's config.json: the 7B's vision tower, a narrower decoder.
    SHAPE_3B = {"text": {**SHAPE_7B["text"], "hidden_size": 2048, "intermediate_size": 11008,
                         "num_hidden_layers": 36, "num_attention_heads": 16, "num_key_value_heads": 2,
                         "vocab_size": 151936},
                "vision": SHAPE_7B["vision"]}

    tiny, processor = tiny_parts(folder.parent)
    model = build_random_qwen(SHAPE_3B, processor.tokenizer, "cpu", "float32", "sdpa")
    model.save_pretrained(folder)
    processor.save_pretrained(folder)


def _silence(model: Any, n_decodable: int, control_ids: Any) -> None:
    """Zero output rows the toy tokenizer cannot decode and every control token: greedy
    decoding then never stops early, so each image costs the full max_new_tokens."""
    import torch

    with torch.no_grad():
        head = model.get_output_embeddings().weight
        head[n_decodable:].zero_()
        for i in control_ids:
            head[i].zero_()


def checkpoint(name: str, root: Path) -> Path:
    """Build (once) the contender's folder under ``root``."""
    from clipdistill.offline import SMOLVLM_SHAPES, build_once, build_tiny_smolvlm, write_smolvlm

    spec = CONTENDERS[name]
    if spec["family"] == "tiny":
        return build_tiny_smolvlm(root)
    target = root / spec["repo"].replace("/", "--")
    if spec["family"] == "smolvlm":
        shape = {**SMOLVLM_SHAPES[spec["repo"]], "tokenizer_vocab": 600}
        return build_once(target, lambda tmp: write_smolvlm(tmp, shape, never_stop=True))
    if spec["family"] == "qwen":
        return build_once(target, write_qwen_3b)
    return build_once(target, write_lfm2_vl)


def _vm_hwm_mib() -> float:
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith("VmHWM:"):
            return int(line.split()[1]) / 1024
    return float("nan")  # pragma: no cover - not Linux


def child(name: str, images: list[str], root: Path, s: dict[str, Any]) -> dict[str, Any]:
    """One contender in this process: load, warm up, time N tokens and 1 token, report."""
    import torch

    from clipdistill.vlm import TransformersDescriber, describe_images

    spec = CONTENDERS[name]
    n_img, batch = spec.get("images", s["images"]), spec.get("batch_size", s["batch_size"])
    folder = checkpoint(name, root)
    base = _vm_hwm_mib()
    d = TransformersDescriber(str(folder), name=name, device="cpu", dtype=spec.get("dtype", "float32"),
                              attn="sdpa",
                              max_new_tokens=s["max_new_tokens"], image_processor=spec["image_processor"])
    d.load()
    prompt = "describe this image in a sentence."
    warm, timed = [Path(p) for p in images[:s["warmup"]]], [Path(p) for p in images[s["warmup"]:][:n_img]]
    one = d.processor(text=[d.processor.apply_chat_template(
        [{"role": "user", "content": [{"type": "image"}, {"type": "text", "text": prompt}]}],
        tokenize=False, add_generation_prompt=True)], images=[d_open(timed[0])], return_tensors="pt")
    image_id = d.model.config.image_token_id
    out: dict[str, Any] = {"name": name, "repo": spec["repo"], "batch_size": batch, "images": len(timed),
                           "dtype": spec.get("dtype", "float32"),
                           "params": sum(p.numel() for p in d.model.parameters()),
                           "prompt_tokens": int(one["input_ids"].shape[1]),
                           "visual_tokens": int((one["input_ids"] == image_id).sum()),
                           "threads": torch.get_num_threads(), "rss_before_load_mib": base}
    with tempfile.TemporaryDirectory(prefix="bench-vlm-cpu-") as tmp:
        describe_images(d, warm, prompt, cache_path=Path(tmp) / "warm.jsonl", batch_size=len(warm),
                        progress=False)
        for tokens in (s["max_new_tokens"], 1):
            d.max_new_tokens = tokens  # a new describer key: nothing is read from the cache
            t0, c0 = time.perf_counter(), time.process_time()
            describe_images(d, timed, prompt, cache_path=Path(tmp) / f"t{tokens}.jsonl",
                            batch_size=batch, progress=False)
            out[f"seconds_{tokens}"] = time.perf_counter() - t0
            out[f"cpu_seconds_{tokens}"] = time.process_time() - c0
    out["peak_rss_mib"] = _vm_hwm_mib()  # before the yardstick's CLIP model is loaded
    out["clip_images_per_s"], out["clip_cpu_s_per_image"] = clip_rate()
    n = len(timed)
    full, first = out[f"seconds_{s['max_new_tokens']}"], out["seconds_1"]
    out.update(images_per_s=n / full, s_per_image=full / n, s_per_image_one_token=first / n,
               decode_ms_per_token_image=1000 * max(full - first, 0) / (n * (s["max_new_tokens"] - 1)),
               max_new_tokens=s["max_new_tokens"],
               clip_images_per_image=out["clip_images_per_s"] * full / n,
               cpu_s_per_image=out[f"cpu_seconds_{s['max_new_tokens']}"] / n,
               cpu_s_per_image_one_token=out["cpu_seconds_1"] / n)
    # On a busy machine wall time measures the neighbours; CPU time with one thread does
    # not (much): the cost in ViT-B-32 images is then the ratio of CPU seconds.
    out["clip_images_per_image_cpu"] = out["cpu_s_per_image"] / out["clip_cpu_s_per_image"]
    return out


def clip_rate() -> tuple[float, float]:
    """The yardstick, measured in the same process right after the describer: ViT-B-32's
    image tower as chapter 02 runs it on a CPU (oneDNN-packed, batch 32): (images/s, CPU
    seconds per image). A VLM image costs ``clip_images_per_image`` CLIP images."""
    from clipdistill import models
    from clipdistill.distill.evaluate import clip_image_tower, images_per_second

    clip = models.load_clip("ViT-B-32", random_weights=True)
    n_batches = 3
    c0 = time.process_time()
    rate = images_per_second(clip_image_tower(clip), 224, batch_size=32, n_batches=n_batches, warmup=1)
    cpu = (time.process_time() - c0) / (32 * (n_batches + 1))  # warm-up batch included
    return rate, cpu


def units() -> dict[str, Any]:
    """The rest of the CPU quick run's unit costs, in CPU seconds and in ViT-B-32 images:
    a CLIP text embedding, and one image of a student training step (160 px, batch 64)."""
    import torch

    from clipdistill import embed, models
    from clipdistill.distill.students import build_student
    from clipdistill.distill.train import cosine_loss

    def cpu(fn, reps: int) -> float:
        fn()
        c0 = time.process_time()
        for _ in range(reps):
            fn()
        return (time.process_time() - c0) / reps

    out: dict[str, Any] = {}
    clip = models.load_clip("ViT-B-32", random_weights=True)
    texts = [f"a photo of a {i} thing, seen from the side." for i in range(128)]
    out["clip_text_cpu_s"] = cpu(lambda: embed.embed_texts(clip, texts, progress=False), 1) / len(texts)
    for name in ("tiny_cnn", "mobilenet_v3_small"):
        model = build_student(name, 512, 160).train()
        opt = torch.optim.AdamW(model.parameters(), 1e-3)
        x, y = torch.randn(64, 3, 160, 160), torch.nn.functional.normalize(torch.randn(64, 512), dim=-1)

        def step() -> None:
            opt.zero_grad()
            cosine_loss(model(x), y).backward()
            opt.step()

        out[f"{name}_train_cpu_s"] = cpu(step, 3) / 64
    out["clip_images_per_s"], out["clip_cpu_s_per_image"] = clip_rate()
    for key in ("clip_text", "tiny_cnn_train", "mobilenet_v3_small_train"):
        out[f"{key}_clip_images"] = out[f"{key}_cpu_s"] / out["clip_cpu_s_per_image"]
    return out


def d_open(path: Path):
    from clipdistill.vlm import open_rgb

    return open_rgb(path)


def real_shape_images(data_root: Path, n: int, folder: Path) -> list[str]:
    """PetImages as chapter 01 writes them for ``quick``: 640x640, padded, JPEG q95."""
    from clipdistill.data.images import ConvertJob, convert_file

    out = []
    for i, src in enumerate(pet_images(data_root, n)):
        dst = folder / f"{i:03d}.jpg"
        convert_file(ConvertJob(str(src), str(dst), size=(640, 640)))
        out.append(str(dst))
    return out


def _run_child(name: str, images_dir: Path, root: Path, s: dict[str, Any]) -> dict[str, Any]:
    threads = str(s.get("threads", 2))
    env = dict(os.environ, PYTHONPATH=str(REPO), OMP_NUM_THREADS=threads, MKL_NUM_THREADS=threads)
    cmd = [sys.executable, "-m", "benchmarks.bench_vlm_cpu", "--child", name, "--images", str(images_dir),
           "--root", str(root), "--settings", json.dumps(s)]
    proc = subprocess.run(cmd, cwd=REPO, env=env, capture_output=True, text=True)
    if proc.returncode != 0:
        raise RuntimeError(f"{name} failed: {proc.stderr.strip().splitlines()[-1:]}")
    return json.loads(proc.stdout.strip().splitlines()[-1])


def _contenders(big: bool) -> list[str]:
    return [n for n, spec in CONTENDERS.items() if big or not spec.get("big")]


def bench(ctx: Context, big: bool = False, only: list[str] | None = None,
          settings: dict[str, Any] | None = None) -> dict[str, Any]:
    """``only`` picks contenders; ``settings`` overrides SETTINGS (e.g. ``{"threads": 1}``
    on a busy machine, where CPU seconds at one thread say more than wall time)."""
    s = {**(QUICK if ctx.quick else SETTINGS), **(settings or {})}
    names = only or _contenders(big)
    root = REPO / "work" / "bench-vlm-models"  # built once, reused by later runs
    with tempfile.TemporaryDirectory(prefix="bench-vlm-cpu-img-") as tmp:
        real_shape_images(ctx.data_root, s["warmup"] + s["images"], Path(tmp))
        runs: dict[str, list[dict[str, Any]]] = {n: [] for n in names}
        for r in range(s["rounds"]):
            for name in (names if r % 2 == 0 else names[::-1]):
                runs[name].append(_run_child(name, Path(tmp), root, s))
        unit = _run_child("units", Path(tmp), root, s)
    rows = _rows(runs, s)
    rows.append(Row("CPU quick cost units (CPU s, in ViT-B-32 images)",
                    f"CLIP text {unit['clip_text_clip_images']:.2f}; training step per image: "
                    f"tiny_cnn {unit['tiny_cnn_train_clip_images']:.3f}, mobilenet_v3_small "
                    f"{unit['mobilenet_v3_small_train_clip_images']:.3f} (160 px, batch 64)",
                    None, "inputs of book/profiles.md's budget", None))
    return {"rows": rows, "details": {**runs, "units": unit}}


def _rows(runs: dict[str, list[dict[str, Any]]], s: dict[str, Any]) -> list[Row]:
    rows = []
    ref = runs.get(REFERENCE)
    for name, rs in runs.items():
        r0 = rs[0]
        ips = median([r["images_per_s"] for r in rs])
        fig = (f"{fmt_rate(ips)} img/s ({median([r['s_per_image'] for r in rs]):.2f} s/img; "
               f"{median([r['s_per_image_one_token'] for r in rs]):.2f} s with 1 token; "
               f"CPU {median([r['cpu_s_per_image'] for r in rs]):.2f} s/img "
               f"= {median([r['clip_images_per_image_cpu'] for r in rs]):.0f} ViT-B-32 images; "
               f"{r0['visual_tokens']} visual tokens; {r0['params'] / 1e6:.0f}M params; "
               f"peak RSS {median([r['peak_rss_mib'] for r in rs]) / 1024:.2f} GiB; "
               f"batch {r0['batch_size']}, {s['max_new_tokens']} new tokens)")
        ratio = None
        if ref and name != REFERENCE:
            ratio = median(paired_ratios([r["cpu_s_per_image"] for r in rs], [r["cpu_s_per_image"] for r in ref]))
        dtype = r0.get("dtype", "float32")
        rows.append(Row(f"describer {name} (CPU, {dtype}, real shape, random weights)", fig, ratio,
                        "CPU s/img relative to SmolVLM-256M, 1 tile" if ratio else "reference", None))
    return rows


def main(argv: list[str] | None = None) -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--child", required=True, choices=[*CONTENDERS, "units"])
    ap.add_argument("--images", required=True)
    ap.add_argument("--root", required=True)
    ap.add_argument("--settings", required=True)
    a = ap.parse_args(argv)
    from . import quiet_env

    quiet_env()
    if a.child == "units":
        print(json.dumps(units()))
        return
    images = sorted(str(p) for p in Path(a.images).glob("*.jpg"))
    print(json.dumps(child(a.child, images, Path(a.root), json.loads(a.settings))))


if __name__ == "__main__":
    main()
