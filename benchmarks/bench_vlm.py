"""The describer's images/s (chapter 03): a Qwen2.5-VL writes one sentence per image.

- **GPU** (``--device cuda``): a random-weight model with Qwen2.5-VL-**7B**'s exact shape
  (28 decoder layers of width 3584, 32 vision blocks of width 1280, vocabulary 152,064),
  built from a config straight onto the GPU in bf16 (no download, no 16 GB checkpoint on
  disk), with the offline tiny tokenizer and Qwen's real image processor (the hub's
  pixel limits, so each image costs as many visual tokens as with the real model). It
  runs through the chapter's own ``TransformersDescriber`` and ``describe_images`` at the
  ``paper`` profile's settings (batch 8, 64 new tokens). Random weights would stop at a
  random ``<|im_end|>``; its logit row is zeroed (with every id the tiny tokenizer cannot
  decode), so every image gets the full 64 tokens: a conservative figure. The source
  documents saw 1.5 images/s.
- **CPU**: the ``smoke`` profile's tiny random Qwen2.5-VL through the same code, plus the
  7B builder above at a shrunk shape. Both are **code-path checks, not speed claims**: a
  7B describer on 2 CPU cores is not something anyone should wait for.
"""

from __future__ import annotations

import tempfile
import time
from pathlib import Path
from typing import Any

from . import Context, Row, dogs_vs_cats, fmt_rate

NAME = "vlm"

DOCUMENTS_IMAGES_PER_S = 1.5

# Qwen/Qwen2.5-VL-7B-Instruct's config.json (architecture only; weights are random).
SHAPE_7B = {
    "text": {"hidden_size": 3584, "intermediate_size": 18944, "num_hidden_layers": 28,
             "num_attention_heads": 28, "num_key_value_heads": 4, "vocab_size": 152064,
             "max_position_embeddings": 128000, "rms_norm_eps": 1e-6, "mrope_section": [16, 24, 24]},
    "vision": {"depth": 32, "hidden_size": 1280, "intermediate_size": 3420, "num_heads": 16,
               "patch_size": 14, "spatial_merge_size": 2, "temporal_patch_size": 2,
               "window_size": 112, "fullatt_block_indexes": [7, 15, 23, 31], "tokens_per_second": 2},
}
# The same structure (window + full attention blocks, mRoPE, the real vocabulary) at toy
# widths: the CPU run builds this to exercise the GPU path's code.
SHAPE_MINI = {
    "text": {**SHAPE_7B["text"], "hidden_size": 64, "intermediate_size": 128, "num_hidden_layers": 2,
             "num_attention_heads": 4, "num_key_value_heads": 2, "mrope_section": [2, 3, 3]},
    "vision": {**SHAPE_7B["vision"], "depth": 4, "hidden_size": 64, "intermediate_size": 128,
               "num_heads": 2, "fullatt_block_indexes": [1, 3]},
}

GPU = {"batch_size": 8, "max_new_tokens": 64, "images": 64, "warmup_images": 8}
GPU_QUICK = {**GPU, "images": 16}
CPU_TINY = {"batch_size": 4, "max_new_tokens": 12, "images": 16, "warmup_images": 4}
CPU_MINI = {"batch_size": 2, "max_new_tokens": 8, "images": 4, "warmup_images": 2}


def tiny_parts(folder: Path):
    """The offline tiny checkpoint's tokenizer, plus Qwen's image processor at its defaults."""
    from transformers import AutoProcessor, Qwen2_5_VLProcessor, Qwen2VLImageProcessor

    from clipdistill.offline.tiny_qwen_vl import build_tiny_vlm

    tiny = build_tiny_vlm(folder)
    small = AutoProcessor.from_pretrained(tiny)
    processor = Qwen2_5_VLProcessor(image_processor=Qwen2VLImageProcessor(), tokenizer=small.tokenizer,
                                    video_processor=small.video_processor, chat_template=small.chat_template)
    processor.tokenizer.padding_side = "left"
    return tiny, processor


def build_random_qwen(shape: dict[str, Any], tokenizer: Any, device: str, dtype: str, attn: str):
    """A random-weight Qwen2.5-VL of ``shape``, allocated directly on ``device``."""
    import torch
    from transformers import Qwen2_5_VLConfig, Qwen2_5_VLForConditionalGeneration

    from clipdistill.offline.tiny_qwen_vl import SPECIAL_TOKENS

    ids = {t: tokenizer.convert_tokens_to_ids(t) for t in SPECIAL_TOKENS}
    text = dict(shape["text"])
    mrope = text.pop("mrope_section")
    config = Qwen2_5_VLConfig(
        text_config=dict(text, rope_parameters={"rope_type": "default", "rope_theta": 1e6,
                                                "mrope_section": mrope},
                         bos_token_id=ids["<|endoftext|>"], eos_token_id=ids["<|im_end|>"],
                         pad_token_id=ids["<|endoftext|>"], tie_word_embeddings=False),
        vision_config=dict(shape["vision"], out_hidden_size=text["hidden_size"]),
        image_token_id=ids["<|image_pad|>"], video_token_id=ids["<|video_pad|>"],
        vision_start_token_id=ids["<|vision_start|>"], vision_end_token_id=ids["<|vision_end|>"],
        tie_word_embeddings=False,
    )
    state = torch.random.get_rng_state()
    try:
        torch.manual_seed(0)
        with torch.device(device):
            model = Qwen2_5_VLForConditionalGeneration._from_config(
                config, dtype=getattr(torch, dtype), attn_implementation=attn)
    finally:
        torch.random.set_rng_state(state)
    model.eval()
    with torch.no_grad():
        # Greedy decoding must pick ids the tiny tokenizer can decode, and never stop early:
        # zero logit rows lose to the max of hundreds of random ones (positive in practice).
        head = model.get_output_embeddings().weight
        head[len(tokenizer):].zero_()
        for i in ids.values():
            head[i].zero_()
    for k, v in (("eos_token_id", ids["<|im_end|>"]), ("pad_token_id", ids["<|endoftext|>"]),
                 ("bos_token_id", ids["<|endoftext|>"])):
        setattr(model.generation_config, k, v)
    return model


def _time_describer(describer: Any, paths: list[Path], warmup: list[Path], batch_size: int,
                    device: str) -> dict[str, Any]:
    import torch

    from clipdistill.vlm import describe_images

    def sync() -> None:
        if device == "cuda":
            torch.cuda.synchronize()

    prompt = "describe this image in a sentence."
    with tempfile.TemporaryDirectory(prefix="bench-vlm-") as tmp:
        describe_images(describer, warmup, prompt, cache_path=Path(tmp) / "warmup.jsonl",
                        batch_size=batch_size, progress=False)
        sync()
        t0 = time.perf_counter()
        texts = describe_images(describer, paths, prompt, cache_path=Path(tmp) / "timed.jsonl",
                                batch_size=batch_size, progress=False)
        sync()
        seconds = time.perf_counter() - t0
    out = {"images": len(paths), "seconds": seconds, "images_per_s": len(paths) / seconds,
           "batch_size": batch_size, "mean_words": sum(len(t.split()) for t in texts) / max(1, len(texts))}
    if device == "cuda":
        out["gpu_peak_gib"] = torch.cuda.max_memory_allocated() / 2**30
    return out


def _config_model(ctx: Context, tmp: Path, shape: dict[str, Any], s: dict[str, Any], dtype: str,
                  label: str) -> dict[str, Any]:
    from clipdistill.vlm import TransformersDescriber
    from clipdistill.vlm.hf import resolve_attention

    tiny, processor = tiny_parts(tmp)
    attn = resolve_attention("auto", ctx.device)
    t0 = time.perf_counter()
    model = build_random_qwen(shape, processor.tokenizer, ctx.device, dtype, attn)
    build_s = time.perf_counter() - t0
    describer = TransformersDescriber(str(tiny), name=label, weights_id=f"random:{label}", device=ctx.device,
                                      dtype=dtype, attn=attn, max_new_tokens=s["max_new_tokens"])
    describer.processor, describer.model = processor, model  # load() is then a no-op
    pool = dogs_vs_cats(ctx.data_root)
    res = _time_describer(describer, pool[s["warmup_images"]:s["warmup_images"] + s["images"]],
                          pool[:s["warmup_images"]], s["batch_size"], ctx.device)
    params = sum(p.numel() for p in model.parameters())
    del describer, model
    return {**res, "params": params, "build_s": build_s, "attn": attn, "dtype": dtype,
            "max_new_tokens": s["max_new_tokens"]}


def _tiny_checkpoint(ctx: Context, tmp: Path) -> dict[str, Any]:
    from clipdistill.offline.tiny_qwen_vl import build_tiny_vlm
    from clipdistill.vlm import TransformersDescriber

    s = CPU_TINY
    folder = build_tiny_vlm(tmp)
    describer = TransformersDescriber(str(folder), device=ctx.device, max_new_tokens=s["max_new_tokens"])
    pool = dogs_vs_cats(ctx.data_root)
    res = _time_describer(describer, pool[s["warmup_images"]:s["warmup_images"] + s["images"]],
                          pool[:s["warmup_images"]], s["batch_size"], ctx.device)
    return {**res, "dtype": describer.dtype, "max_new_tokens": s["max_new_tokens"]}


def bench(ctx: Context) -> dict[str, Any]:
    with tempfile.TemporaryDirectory(prefix="bench-vlm-models-") as tmp:
        if ctx.cuda:
            s = GPU_QUICK if ctx.quick else GPU
            r = _config_model(ctx, Path(tmp), SHAPE_7B, s, "bfloat16", "Qwen2.5-VL-7B shape")
            ips = r["images_per_s"]
            rows = [Row("describer, random Qwen2.5-VL-7B (bf16, GPU)",
                        f"{fmt_rate(ips)} img/s (batch {r['batch_size']}, {r['max_new_tokens']} new tokens, "
                        f"{r['params'] / 1e9:.2f}B params, {r['attn']}); "
                        f"x{ips / DOCUMENTS_IMAGES_PER_S:.1f} the documents' {DOCUMENTS_IMAGES_PER_S}",
                        None, f"report (documents: {DOCUMENTS_IMAGES_PER_S} img/s)", None)]
            return {"rows": rows, "details": {"qwen2_5_vl_7b": r}}
        tiny = _tiny_checkpoint(ctx, Path(tmp))
        mini = _config_model(ctx, Path(tmp), SHAPE_MINI, CPU_MINI, "float32", "Qwen2.5-VL mini shape")
    rows = [
        Row("describer, tiny Qwen2.5-VL (smoke checkpoint, CPU)",
            f"{fmt_rate(tiny['images_per_s'])} img/s (batch {tiny['batch_size']}, "
            f"{tiny['max_new_tokens']} new tokens)", None, "code-path check, not a speed claim", None),
        Row("describer, 7B builder at a toy shape (CPU)",
            f"{fmt_rate(mini['images_per_s'])} img/s ({mini['params'] / 1e6:.1f}M params, real image "
            f"processor)", None, "code-path check of the GPU path", None),
    ]
    return {"rows": rows, "details": {"tiny_checkpoint": tiny, "builder_mini_shape": mini}}
