"""The model table of chapter 02: parameters per tower, resolution, context, vocabulary.

Only the architecture is needed, so models are built on the meta device: no memory, no
weights, no download for open_clip names.
"""

from __future__ import annotations

import warnings
from typing import Any, Sequence

import torch

from .clip_model import tower_params
from .hf_backend import hf_config
from .loading import load_clip
from .names import open_clip_module, parse_spec, resolve_source
from .open_clip_backend import as_int_size, open_clip_tag_cfg, quiet_random_init

__all__ = ["describe", "model_table"]


def describe(spec: str, random_weights: bool = True) -> dict[str, Any]:
    """One row of :func:`model_table`, built on the meta device (no memory, no weights)."""
    name, tag = parse_spec(spec)
    kind, name, tag = resolve_source(name, tag)
    if kind == "open_clip":
        tag_cfg = open_clip_tag_cfg(name, tag, True)
        overlay = {k: v for k, v in tag_cfg.items() if k in ("mean", "std", "interpolation", "resize_mode")}
        with warnings.catch_warnings(), torch.device("meta"), quiet_random_init():  # shapes only
            warnings.simplefilter("ignore")
            model = open_clip_module().create_model(
                name, pretrained=None, load_weights=False, device="meta",
                force_quick_gelu=bool(tag_cfg.get("quick_gelu", False)), pretrained_image=False,
                pretrained_text=False, force_preprocess_cfg=overlay)
        from open_clip.model import get_model_preprocess_cfg

        pp = get_model_preprocess_cfg(model)
        model_cfg = open_clip_module().get_model_config(name) or {}
        row = {
            "image params (M)": tower_params(model, "open_clip")["image"] / 1e6,
            "text params (M)": tower_params(model, "open_clip")["text"] / 1e6,
            "resolution": as_int_size(pp.get("size")),
            "context length": int(getattr(model, "context_length", 0) or 0) or None,
            "vocab size": getattr(model, "vocab_size", None) or getattr(getattr(model, "text", None), "vocab_size", None),
            "embed dim": model_cfg.get("embed_dim"),
            "QuickGELU": bool(tag_cfg.get("quick_gelu", False)),
            "normalisation": _normalisation_name(pp),
        }
    elif kind in ("hf", "hf_dir"):
        from transformers import CLIPModel

        config = hf_config(kind, name, random_weights)
        with torch.device("meta"):
            model = CLIPModel(config)
        row = {
            "image params (M)": tower_params(model, "transformers")["image"] / 1e6,
            "text params (M)": tower_params(model, "transformers")["text"] / 1e6,
            "resolution": int(config.vision_config.image_size),
            "context length": int(config.text_config.max_position_embeddings),
            "vocab size": int(config.text_config.vocab_size),
            "embed dim": int(config.projection_dim),
            "QuickGELU": config.text_config.hidden_act == "quick_gelu",
            "normalisation": "OpenAI",
        }
    else:
        clip = load_clip(name, tag, random_weights=True)
        p = clip.info["params"]
        row = {"image params (M)": p["image"] / 1e6, "text params (M)": p["text"] / 1e6,
               "resolution": clip.info["image_size"], "context length": clip.info["context_length"],
               "vocab size": clip.info["vocab_size"], "embed dim": clip.embed_dim,
               "QuickGELU": clip.info["quick_gelu"],
               "normalisation": _normalisation_name(clip.info["preprocess"])}
    row["total params (M)"] = row["image params (M)"] + row["text params (M)"]
    return {"model": spec, "weights": "random" if random_weights else (tag or "checkpoint"), **row}


def _normalisation_name(pp: dict[str, Any]) -> str:
    from open_clip.constants import OPENAI_DATASET_MEAN

    mean, std = tuple(pp.get("mean", ()) or ()), tuple(pp.get("std", ()) or ())
    if mean == tuple(OPENAI_DATASET_MEAN):
        return "OpenAI"
    if mean == (0.0, 0.0, 0.0) and std == (1.0, 1.0, 1.0):
        return "none (0-1)"
    return f"mean {mean[0]:g}, std {std[0]:g}" if mean and std else "?"


def model_table(specs: Sequence[str], random_weights: bool = False):
    """A pandas DataFrame: parameters per tower, resolution, context, vocabulary, embed dim.

    Only the architecture is needed, so nothing is downloaded for open_clip names; for HF
    ids ``random_weights`` says whether the config may come from the hub or must be built in.
    """
    import pandas as pd

    rows = [describe(spec, random_weights) for spec in specs]
    df = pd.DataFrame(rows).set_index("model")
    sizes = ["image params (M)", "text params (M)", "total params (M)"]
    df[sizes] = df[sizes].round(1)
    rest = [c for c in df.columns if c not in sizes and c != "weights"]
    return df[["weights", *sizes, *rest]]  # the sizes side by side
