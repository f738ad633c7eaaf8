"""Building a model with transformers: a Hugging Face CLIP id or folder, or random weights.

Hugging Face CLIP configs carry ``hidden_act="quick_gelu"`` themselves, so no activation
needs fixing here; the image processor and tokenizer come with the checkpoint.
"""

from __future__ import annotations

import json
from typing import Any, Callable

import torch

from ..offline.random_clip import HF_RANDOM_ARCHS, openai_bpe_tokenizer, random_clip_config
from .clip_model import ClipModel, UnknownModelError, tower_params
from .open_clip_backend import seeded

__all__ = ["load_hf", "hf_config", "HFPreprocess"]


def hf_config(kind: str, name: str, random_weights: bool, **hub_args: Any):
    if random_weights and kind == "hf":
        return random_clip_config(name)
    from transformers import AutoConfig

    try:
        config = AutoConfig.from_pretrained(name, **hub_args)
    except Exception as exc:  # noqa: BLE001 - offline, private or a typo: say which
        raise UnknownModelError(
            f"Cannot load Hugging Face model {name!r} ({type(exc).__name__}): not on the hub or "
            f"not in the local cache. Offline, use random_weights=True with one of "
            f"{', '.join(HF_RANDOM_ARCHS)}, or an open_clip name."
        ) from None
    if getattr(config, "model_type", "") != "clip":
        raise UnknownModelError(f"{name!r} is a {config.model_type!r} model, not CLIP.")
    return config


class HFPreprocess:
    """PIL image -> pixel tensor with the model's own image processor. A class, not a
    closure, so DataLoader workers can pickle it where processes are spawned (macOS)."""

    def __init__(self, processor: Any) -> None:
        self.processor = processor

    def __call__(self, image: Any) -> torch.Tensor:
        return self.processor(images=image, return_tensors="pt")["pixel_values"][0]

    def __repr__(self) -> str:
        return f"HFPreprocess({type(self.processor).__name__})"


def load_hf(kind: str, name: str, random_weights: bool, device: torch.device, seed: int,
             precision: str, **hub_args: Any) -> ClipModel:
    """``hub_args``: ``revision`` (the pinned commit) and ``local_files_only`` for a hub id."""
    from transformers import CLIPImageProcessor, CLIPModel, CLIPTokenizer

    config = hf_config(kind, name, random_weights, **hub_args)
    dtype = {"fp16": torch.float16, "bf16": torch.bfloat16}.get(precision, torch.float32)
    with seeded(seed):
        if random_weights:
            model = CLIPModel(config)
        else:
            model = CLIPModel.from_pretrained(name, dtype=dtype, **hub_args)
    model = model.to(device=device, dtype=dtype)
    res = int(config.vision_config.image_size)
    if random_weights:
        processor = CLIPImageProcessor(size={"shortest_edge": res}, crop_size={"height": res, "width": res})
    else:
        processor = CLIPImageProcessor.from_pretrained(name, **hub_args)
    context_length = int(config.text_config.max_position_embeddings)

    preprocess = HFPreprocess(processor)

    def make_tokenizer() -> Callable[[list[str]], torch.Tensor]:
        tok = (openai_bpe_tokenizer(context_length) if random_weights
               else CLIPTokenizer.from_pretrained(name, **hub_args))

        def tokenize(texts: list[str]) -> torch.Tensor:
            # Padding sits after the end token, so the causal mask makes it inert.
            return tok(texts, padding="max_length", truncation=True, max_length=context_length,
                       return_tensors="pt")["input_ids"]

        return tokenize

    pp = {k: v for k, v in processor.to_dict().items() if not k.startswith("_")}
    info = {
        "quick_gelu": config.text_config.hidden_act == "quick_gelu",
        "preprocess": json.loads(json.dumps(pp, default=str)),
        "image_size": res,
        "context_length": context_length,
        "vocab_size": int(config.text_config.vocab_size),
        "params": tower_params(model, "transformers"),
        "model_class": type(model).__name__,
    }
    return ClipModel(model=model, preprocess=preprocess, name=name, pretrained=None,
                     random_weights=random_weights, device=device, precision=precision,
                     embed_dim=int(config.projection_dim), key="", backend="transformers",
                     info=info, _tokenizer_factory=make_tokenizer)
