"""A tiny Qwen2.5-VL with random weights, built offline, for the ``smoke`` profile.

It has the real architecture (vision tower with window attention and patch merger,
multimodal RoPE, a Qwen2 decoder) at toy sizes, a byte-level BPE tokenizer trained here on
a few sentences, Qwen's special tokens and chat template, and the real image processor.
It is saved as an ordinary checkpoint folder, so the describer loads it with the same
``from_pretrained`` calls as ``Qwen/Qwen2.5-VL-3B-Instruct``. Its text is gibberish; the
batching, generation, caching and resuming around it are real.
"""

from __future__ import annotations

import os
from pathlib import Path

from ..config import TINY_VLM
from ..io import stable_hash
from .folders import build_once
from .toy_tokenizer import CORPUS

__all__ = ["TINY_VLM", "tiny_vlm_dir", "build_tiny_vlm", "TINY_RECIPE"]

# Qwen2.5-VL's added tokens, in the checkpoint's order (the ids differ: the vocab is tiny).
SPECIAL_TOKENS = [
    "<|endoftext|>", "<|im_start|>", "<|im_end|>", "<|object_ref_start|>", "<|object_ref_end|>",
    "<|box_start|>", "<|box_end|>", "<|quad_start|>", "<|quad_end|>", "<|vision_start|>",
    "<|vision_end|>", "<|vision_pad|>", "<|image_pad|>", "<|video_pad|>",
]

# Qwen2.5-VL's chat template, restricted to text and images.
CHAT_TEMPLATE = (
    "{% set image_count = namespace(value=0) %}"
    "{% for message in messages %}"
    "{% if loop.first and message['role'] != 'system' %}"
    "<|im_start|>system\nYou are a helpful assistant.<|im_end|>\n{% endif %}"
    "<|im_start|>{{ message['role'] }}\n"
    "{% if message['content'] is string %}{{ message['content'] }}<|im_end|>\n"
    "{% else %}{% for content in message['content'] %}"
    "{% if content['type'] == 'image' or 'image' in content or 'image_url' in content %}"
    "{% set image_count.value = image_count.value + 1 %}"
    "{% if add_vision_id %}Picture {{ image_count.value }}: {% endif %}"
    "<|vision_start|><|image_pad|><|vision_end|>"
    "{% elif 'text' in content %}{{ content['text'] }}{% endif %}"
    "{% endfor %}<|im_end|>\n{% endif %}"
    "{% endfor %}"
    "{% if add_generation_prompt %}<|im_start|>assistant\n{% endif %}"
)

TINY_RECIPE = {
    "version": 1,
    "seed": 0,
    "vocab_size": 600,
    "text": {"hidden_size": 64, "intermediate_size": 128, "num_hidden_layers": 2,
             "num_attention_heads": 4, "num_key_value_heads": 2,
             "max_position_embeddings": 4096, "mrope_section": [2, 3, 3]},
    "vision": {"depth": 2, "hidden_size": 32, "intermediate_size": 64, "num_heads": 2,
               "patch_size": 14, "spatial_merge_size": 2, "temporal_patch_size": 2,
               "window_size": 56, "fullatt_block_indexes": [1]},
    # 4 to 16 merged tokens per image: enough to exercise the vision path, cheap on a CPU.
    "min_pixels": 28 * 28 * 4,
    "max_pixels": 28 * 28 * 16,
}


def tiny_vlm_dir(root: str | os.PathLike) -> Path:
    """Where the tiny checkpoint for the current recipe lives under ``root``."""
    digest = stable_hash(TINY_RECIPE, CORPUS, CHAT_TEMPLATE, length=12)
    return Path(root) / f"{TINY_VLM}-{digest}"


def build_tiny_vlm(root: str | os.PathLike) -> Path:
    """Build (once) and return the tiny checkpoint folder; later calls just return it.

    The folder appears atomically (built beside it, then renamed), so a killed build
    leaves nothing half-written behind.
    """
    return build_once(tiny_vlm_dir(root), _build_into)


def _tokenizer():
    from tokenizers import Tokenizer, decoders, models, pre_tokenizers, trainers
    from transformers import PreTrainedTokenizerFast

    tok = Tokenizer(models.BPE())
    tok.pre_tokenizer = pre_tokenizers.ByteLevel(add_prefix_space=False)
    tok.decoder = decoders.ByteLevel()
    trainer = trainers.BpeTrainer(
        vocab_size=TINY_RECIPE["vocab_size"], special_tokens=SPECIAL_TOKENS,
        initial_alphabet=pre_tokenizers.ByteLevel.alphabet(), show_progress=False,
    )
    tok.train_from_iterator(CORPUS.splitlines() * 4, trainer)
    fast = PreTrainedTokenizerFast(
        tokenizer_object=tok, eos_token="<|im_end|>", pad_token="<|endoftext|>",
        padding_side="left", model_max_length=TINY_RECIPE["text"]["max_position_embeddings"],
    )
    fast.chat_template = CHAT_TEMPLATE
    return fast


def _build_into(folder: Path) -> None:
    import torch
    from transformers import (
        Qwen2_5_VLConfig,
        Qwen2_5_VLForConditionalGeneration,
        Qwen2_5_VLProcessor,
        Qwen2VLImageProcessor,
        Qwen2VLVideoProcessor,
    )

    tokenizer = _tokenizer()
    ids = {t: tokenizer.convert_tokens_to_ids(t) for t in SPECIAL_TOKENS}
    text = dict(TINY_RECIPE["text"])
    mrope = text.pop("mrope_section")
    vision = dict(TINY_RECIPE["vision"], out_hidden_size=text["hidden_size"])
    config = Qwen2_5_VLConfig(
        text_config=dict(
            text, vocab_size=len(tokenizer),
            rope_parameters={"rope_type": "default", "rope_theta": 1e6, "mrope_section": mrope},
            bos_token_id=ids["<|endoftext|>"], eos_token_id=ids["<|im_end|>"],
            pad_token_id=ids["<|endoftext|>"],
        ),
        vision_config=vision,
        image_token_id=ids["<|image_pad|>"], video_token_id=ids["<|video_pad|>"],
        vision_start_token_id=ids["<|vision_start|>"], vision_end_token_id=ids["<|vision_end|>"],
    )
    generator_state = torch.random.get_rng_state()
    try:
        torch.manual_seed(TINY_RECIPE["seed"])
        model = Qwen2_5_VLForConditionalGeneration(config).eval()
    finally:
        torch.random.set_rng_state(generator_state)  # building must not disturb the caller's seed
    with torch.no_grad():
        # A trained model never emits its control tokens; random weights would, now and
        # then. Zero logits for them (the others are random and ~half positive) keep the
        # gibberish to ordinary tokens. <|im_end|> stays live so generation can stop.
        head = model.get_output_embeddings().weight
        for token, i in ids.items():
            if token != "<|im_end|>":
                head[i].zero_()
    model.generation_config.eos_token_id = ids["<|im_end|>"]
    model.generation_config.pad_token_id = ids["<|endoftext|>"]
    model.generation_config.bos_token_id = ids["<|endoftext|>"]
    processor = Qwen2_5_VLProcessor(
        image_processor=Qwen2VLImageProcessor(
            min_pixels=TINY_RECIPE["min_pixels"], max_pixels=TINY_RECIPE["max_pixels"]),
        tokenizer=tokenizer,
        video_processor=Qwen2VLVideoProcessor(),
        chat_template=CHAT_TEMPLATE,
    )
    model.save_pretrained(folder)
    processor.save_pretrained(folder)
