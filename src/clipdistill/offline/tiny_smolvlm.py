"""SmolVLM (Idefics3 architecture) with random weights, built offline.

``HuggingFaceTB/SmolVLM-256M-Instruct`` is the VLM of the CPU profiles: a SigLIP-B/16
vision tower at 512 px, a pixel shuffle that turns each 512-px tile into 64 tokens, and a
SmolLM2-135M decoder. :func:`build_tiny_smolvlm` writes the same architecture at toy
sizes (the ``smoke`` profile's stand-in on a CPU, as small as the tiny Qwen2.5-VL), and
:func:`write_smolvlm` writes it at any shape in :data:`SMOLVLM_SHAPES`, the real
checkpoints' numbers (the benchmarks time those). Both use SmolVLM's chat template, special
tokens and image processor settings, with a toy tokenizer; the describer loads either
with the same ``from_pretrained`` calls as the hub repository.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

from ..config import TINY_SMOLVLM
from ..io import stable_hash
from .folders import build_once
from .toy_tokenizer import CORPUS, toy_tokenizer

__all__ = ["TINY_SMOLVLM", "SMOLVLM_SHAPES", "TINY_RECIPE", "CHAT_TEMPLATE",
           "tiny_smolvlm_dir", "build_tiny_smolvlm", "write_smolvlm"]

# SmolVLM-Instruct's chat template (the hub's chat_template.json; text and images only).
CHAT_TEMPLATE = (
    "<|im_start|>{% for message in messages %}{{message['role'] | capitalize}}"
    "{% if message['content'][0]['type'] == 'image' %}{{':'}}{% else %}{{': '}}{% endif %}"
    "{% for line in message['content'] %}{% if line['type'] == 'text' %}{{line['text']}}"
    "{% elif line['type'] == 'image' %}{{ '<image>' }}{% endif %}{% endfor %}"
    "<end_of_utterance>\n{% endfor %}{% if add_generation_prompt %}{{ 'Assistant:' }}{% endif %}"
)

# The checkpoint's special tokens: ChatML's three, then the image markers (the real ids
# differ, 49152 and up: the toy vocabulary is small).
SPECIAL_TOKENS = [
    "<|endoftext|>", "<|im_start|>", "<|im_end|>",
    "<fake_token_around_image>", "<image>", "<end_of_utterance>", "<global-img>",
    *[f"<row_{r}_col_{c}>" for r in range(1, 7) for c in range(1, 7)],
]
EOS, PAD, BOS, UNK = "<end_of_utterance>", "<|im_end|>", "<|im_start|>", "<|endoftext|>"

# The real checkpoints' config.json / preprocessor_config.json / processor_config.json
# numbers. Text: SmolLM2-135M (256M) and SmolLM2-360M (500M), untied output layer;
# vision: SigLIP base patch16 at 512 px; pixel shuffle 4 (1024 patches -> 64 tokens).
_VISION_512 = {"hidden_size": 768, "intermediate_size": 3072, "num_hidden_layers": 12,
               "num_attention_heads": 12, "image_size": 512, "patch_size": 16}
SMOLVLM_SHAPES: dict[str, dict[str, Any]] = {
    "HuggingFaceTB/SmolVLM-256M-Instruct": {
        "text": {"hidden_size": 576, "intermediate_size": 1536, "num_hidden_layers": 30,
                 "num_attention_heads": 9, "num_key_value_heads": 3, "head_dim": 64,
                 "vocab_size": 49280, "max_position_embeddings": 8192, "rope_theta": 100000},
        "vision": _VISION_512, "scale_factor": 4, "image_seq_len": 64,
        "max_image_size": 512, "size": 2048,
    },
    "HuggingFaceTB/SmolVLM-500M-Instruct": {
        "text": {"hidden_size": 960, "intermediate_size": 2560, "num_hidden_layers": 32,
                 "num_attention_heads": 15, "num_key_value_heads": 5, "head_dim": 64,
                 "vocab_size": 49280, "max_position_embeddings": 8192, "rope_theta": 100000},
        "vision": _VISION_512, "scale_factor": 4, "image_seq_len": 64,
        "max_image_size": 512, "size": 2048,
    },
}

# Toy sizes: 128-px tiles of 8x8 patches, shuffled by 2 into 16 tokens per tile; the
# processor keeps the hub's defaults otherwise (splitting on, 4 tiles a side at most).
TINY_RECIPE: dict[str, Any] = {
    "version": 1,
    "seed": 0,
    "tokenizer_vocab": 600,
    "text": {"hidden_size": 64, "intermediate_size": 128, "num_hidden_layers": 2,
             "num_attention_heads": 4, "num_key_value_heads": 2, "head_dim": 16,
             "vocab_size": 0, "max_position_embeddings": 4096, "rope_theta": 100000},
    "vision": {"hidden_size": 32, "intermediate_size": 64, "num_hidden_layers": 2,
               "num_attention_heads": 2, "image_size": 128, "patch_size": 16},
    "scale_factor": 2, "image_seq_len": 16, "max_image_size": 128, "size": 512,
}


def tiny_smolvlm_dir(root: str | os.PathLike) -> Path:
    """Where the tiny checkpoint for the current recipe lives under ``root``."""
    digest = stable_hash(TINY_RECIPE, CORPUS, CHAT_TEMPLATE, SPECIAL_TOKENS, length=12)
    return Path(root) / f"{TINY_SMOLVLM}-{digest}"


def build_tiny_smolvlm(root: str | os.PathLike) -> Path:
    """Build (once, atomically) and return the tiny checkpoint folder under ``root``."""
    return build_once(tiny_smolvlm_dir(root), lambda tmp: write_smolvlm(tmp, TINY_RECIPE))


def _tokenizer(recipe: dict[str, Any]):
    return toy_tokenizer(
        SPECIAL_TOKENS, vocab_size=recipe.get("tokenizer_vocab", 600), eos=EOS, pad=PAD,
        bos=BOS, unk=UNK, chat_template=CHAT_TEMPLATE,
        model_max_length=recipe["text"]["max_position_embeddings"],
        extra={"fake_image_token": "<fake_token_around_image>", "image_token": "<image>",
               "end_of_utterance_token": EOS, "global_image_token": "<global-img>"},
    )


def write_smolvlm(folder: str | os.PathLike, recipe: dict[str, Any], *, seed: int | None = None,
                  never_stop: bool = False) -> Path:
    """Write a random-weight SmolVLM of ``recipe``'s shape into ``folder`` (model, toy
    tokenizer, processor, chat template) and return the folder.

    The model's vocabulary is ``recipe["text"]["vocab_size"]`` (the real 49,280 for the
    hub shapes; 0 = the toy tokenizer's size). Output rows the toy tokenizer cannot decode,
    and its control tokens, get zero logits, so greedy decoding emits ordinary tokens;
    ``never_stop`` silences the end-of-turn token too, so every image costs the full
    ``max_new_tokens`` (an upper bound, for timing).
    """
    import torch
    from transformers import Idefics3Config, Idefics3ForConditionalGeneration, Idefics3Processor
    from transformers.models.idefics3.image_processing_idefics3 import Idefics3ImageProcessor

    folder = Path(folder)
    tokenizer = _tokenizer(recipe)
    ids = {t: tokenizer.convert_tokens_to_ids(t) for t in SPECIAL_TOKENS}
    text = dict(recipe["text"])
    theta = text.pop("rope_theta")
    text["vocab_size"] = text["vocab_size"] or len(tokenizer)
    config = Idefics3Config(
        text_config=dict(text, model_type="llama", rms_norm_eps=1e-5, tie_word_embeddings=False,
                         rope_parameters={"rope_type": "default", "rope_theta": theta},
                         bos_token_id=ids[BOS], eos_token_id=ids[EOS], pad_token_id=ids[PAD]),
        vision_config=dict(recipe["vision"]), scale_factor=recipe["scale_factor"],
        image_token_id=ids["<image>"], tie_word_embeddings=False, pad_token_id=ids[PAD],
    )
    state = torch.random.get_rng_state()
    try:
        torch.manual_seed(recipe.get("seed", 0) if seed is None else seed)
        model = Idefics3ForConditionalGeneration(config).eval()
    finally:
        torch.random.set_rng_state(state)  # building must not disturb the caller's seed
    with torch.no_grad():
        head = model.get_output_embeddings().weight
        head[len(tokenizer):].zero_()
        for token, i in ids.items():
            if token != EOS or never_stop:
                head[i].zero_()
    gen = model.generation_config
    gen.eos_token_id, gen.pad_token_id, gen.bos_token_id = ids[EOS], ids[PAD], ids[BOS]
    side = recipe["max_image_size"]
    image_processor = Idefics3ImageProcessor(
        do_image_splitting=True, max_image_size={"longest_edge": side},
        size={"longest_edge": recipe["size"]}, image_mean=[0.5] * 3, image_std=[0.5] * 3,
        resample=1,
    )
    processor = Idefics3Processor(image_processor=image_processor, tokenizer=tokenizer,
                                  image_seq_len=recipe["image_seq_len"], chat_template=CHAT_TEMPLATE)
    model.save_pretrained(folder)
    processor.save_pretrained(folder)
    return folder


def main(argv: list[str] | None = None) -> None:
    """``python -m clipdistill.offline.tiny_smolvlm OUT [--shape REPO]``: write a stand-in
    folder (for a local imitation of the hub to serve under the real repo id)."""
    import argparse

    ap = argparse.ArgumentParser(description=main.__doc__)
    ap.add_argument("out", help="folder to write (created)")
    ap.add_argument("--shape", choices=sorted(SMOLVLM_SHAPES), default=None,
                    help="a real checkpoint's shape (default: the tiny recipe)")
    ap.add_argument("--never-stop", action="store_true",
                    help="silence the end-of-turn token: every image costs max_new_tokens (timing)")
    a = ap.parse_args(argv)
    recipe = SMOLVLM_SHAPES[a.shape] if a.shape else TINY_RECIPE
    print(build_once(Path(a.out), lambda tmp: write_smolvlm(tmp, recipe, never_stop=a.never_stop)))


if __name__ == "__main__":
    main()
