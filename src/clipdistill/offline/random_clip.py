"""Hugging Face CLIP ids built offline with random weights, for the ``smoke`` profile.

There is no hub offline, so the three OpenAI CLIP ids below are described here by their
configuration alone, and the tokenizer is rebuilt from open_clip's bundled copy of OpenAI's
BPE vocabulary (the same vocabulary and merges as the hub's). The architecture, the
preprocessing and every code path are real; only the weights are seeded noise.
"""

from __future__ import annotations

import json
import tempfile
from pathlib import Path
from typing import Any

__all__ = ["HF_RANDOM_ARCHS", "random_clip_config", "openai_bpe_tokenizer"]

# Hugging Face CLIP ids we can build with random weights offline (the smoke profile has
# no hub): CLIPConfig overrides per id. The defaults of CLIPConfig are ViT-B/32.
HF_RANDOM_ARCHS: dict[str, dict[str, Any]] = {
    "openai/clip-vit-base-patch32": {"vision": {"patch_size": 32}, "text": {}, "projection_dim": 512},
    "openai/clip-vit-base-patch16": {"vision": {"patch_size": 16}, "text": {}, "projection_dim": 512},
    "openai/clip-vit-large-patch14": {
        "vision": {"patch_size": 14, "hidden_size": 1024, "intermediate_size": 4096,
                   "num_attention_heads": 16, "num_hidden_layers": 24},
        "text": {"hidden_size": 768, "intermediate_size": 3072, "num_attention_heads": 12},
        "projection_dim": 768,
    },
}


def random_clip_config(name: str):
    """The CLIPConfig of ``name`` (one of HF_RANDOM_ARCHS), built without the hub."""
    from transformers import CLIPConfig

    from ..models.clip_model import UnknownModelError

    if name not in HF_RANDOM_ARCHS:
        raise UnknownModelError(
            f"No offline architecture for Hugging Face id {name!r} with random weights. Known: "
            f"{', '.join(HF_RANDOM_ARCHS)} (or load it with pretrained weights from the hub/cache)."
        )
    arch = HF_RANDOM_ARCHS[name]
    return CLIPConfig(text_config=arch["text"], vision_config=arch["vision"],
                      projection_dim=arch["projection_dim"])


def openai_bpe_tokenizer(context_length: int = 77):
    """A transformers CLIPTokenizer built offline from open_clip's bundled OpenAI BPE.

    It is the same vocabulary and the same merges as ``openai/clip-vit-*``'s tokenizer,
    so random-weight HF models tokenize exactly like the real ones.
    """
    from open_clip.tokenizer import SimpleTokenizer
    from transformers import CLIPTokenizer

    simple = SimpleTokenizer()
    rename = {"<start_of_text>": "<|startoftext|>", "<end_of_text>": "<|endoftext|>"}
    vocab = {rename.get(tok, tok): idx for tok, idx in simple.encoder.items()}
    pairs = sorted(simple.bpe_ranks, key=simple.bpe_ranks.get)
    merges = [" ".join(m) for m in pairs]
    try:  # transformers >= 5: vocabulary and merge pairs in memory
        tok = CLIPTokenizer(vocab=vocab, merges=[tuple(m) for m in pairs], model_max_length=context_length)
    except TypeError:  # transformers 4.x reads them from files
        with tempfile.TemporaryDirectory() as tmp:
            (Path(tmp) / "vocab.json").write_text(json.dumps(vocab), encoding="utf-8")
            (Path(tmp) / "merges.txt").write_text("#version: 0.2\n" + "\n".join(merges) + "\n",
                                                  encoding="utf-8")
            tok = CLIPTokenizer(vocab_file=str(Path(tmp) / "vocab.json"),
                                merges_file=str(Path(tmp) / "merges.txt"), model_max_length=context_length)
    return tok
