"""Building a model with open_clip: a tag's weights, a checkpoint, a folder or random weights.

QuickGELU: OpenAI trained CLIP with ``x * sigmoid(1.702 x)``, not exact GELU. In
open_clip 3.x a bare ``create_model("ViT-B-32", pretrained="openai")`` keeps the config's
plain GELU and only *warns* about the mismatch, which costs accuracy silently. Every
pretrained tag records which activation it was trained with, so the model is always built
with the tag's setting (OpenAI tags: QuickGELU on; LAION, DataComp, WebLI: off).
"""

from __future__ import annotations

import contextlib
import warnings
from pathlib import Path
from typing import Any, Callable

import torch

from .clip_model import ClipModel, UnknownModelError, tower_params
from .names import open_clip_module, unknown_tag

__all__ = ["load_open_clip", "open_clip_tag_cfg", "seeded", "quiet_random_init", "as_int_size"]


@contextlib.contextmanager
def seeded(seed: int):
    """Seed the initialisation without disturbing the caller's random streams."""
    devices = list(range(torch.cuda.device_count())) if torch.cuda.is_available() else []
    with torch.random.fork_rng(devices=devices):
        torch.manual_seed(seed)
        yield


class _DropRandomInitNotice:
    """open_clip logs "No pretrained weights loaded ... initialized randomly" on the root
    logger; for random_weights=True that is the request, not news."""

    def filter(self, record) -> bool:  # logging.Filter protocol
        return "initialized randomly" not in record.getMessage()


@contextlib.contextmanager
def quiet_random_init():
    import logging

    notice = _DropRandomInitNotice()
    root = logging.getLogger()
    root.addFilter(notice)
    try:
        yield
    finally:
        root.removeFilter(notice)


def open_clip_tag_cfg(name: str, pretrained: str | None, random_weights: bool) -> dict[str, Any]:
    """The tag's record (preprocessing, QuickGELU); a file path or no tag gives {}."""
    oc = open_clip_module()
    if not pretrained:
        if not random_weights:
            tags = oc.list_pretrained_tags_by_model(name)
            raise UnknownModelError(
                f"Model {name!r} needs pretrained weights: pass a tag (valid: "
                f"{', '.join(tags) or 'none released'}), a checkpoint path, or random_weights=True."
            )
        return {}
    if Path(pretrained).expanduser().is_file():
        return {}
    if not oc.pretrained.is_pretrained_cfg(name, pretrained):
        raise unknown_tag(name, pretrained)
    return dict(oc.pretrained.get_pretrained_cfg(name, pretrained))


def load_open_clip(kind: str, name: str, pretrained: str | None, random_weights: bool,
                    device: torch.device, seed: int, precision: str,
                    quick_gelu: bool | None = None, checkpoint: Path | None = None,
                    tokenizer_revision: str | None = None) -> ClipModel:
    """``checkpoint``: the tag's weights file, already fetched at its pinned commit
    (:mod:`clipdistill.weights`); it is built exactly as open_clip builds the tag (the
    tag's preprocessing and activation), but from that file, not from the repo's main.
    ``tokenizer_revision``: the commit of a tokenizer that lives on the hub (SigLIP's)."""
    oc = open_clip_module()
    from open_clip.transform import PreprocessCfg, image_transform_v2

    tag_cfg = open_clip_tag_cfg(name, pretrained, random_weights) if kind == "open_clip" else {}
    if quick_gelu is None:
        quick_gelu = bool(tag_cfg.get("quick_gelu", False))
    # Everything a tag sets of the preprocessing but the size (the tower's own, as open_clip does)
    preprocess_overlay = {k: v for k, v in tag_cfg.items()
                          if k in PreprocessCfg.__dataclass_fields__ and k != "size"}
    kwargs: dict[str, Any] = dict(precision=precision, device=device, force_quick_gelu=quick_gelu,
                                  pretrained_image=False, pretrained_text=not random_weights)
    if kind == "open_clip_hub" and random_weights:
        raise UnknownModelError(f"{name!r} reads its architecture from the hub: random weights need a "
                                "built-in open_clip name or a local folder.")
    with seeded(seed), warnings.catch_warnings(), quiet_random_init():
        warnings.filterwarnings("ignore", message=".*QuickGELU mismatch.*")
        if random_weights:
            # Same architecture and preprocessing as the tag, no weights fetched.
            model = oc.create_model(name, pretrained=None, load_weights=False,
                                    force_preprocess_cfg=preprocess_overlay, **kwargs)
        else:
            weights = str(checkpoint) if checkpoint is not None else pretrained
            model = oc.create_model(name, pretrained=weights, require_pretrained=True,
                                    force_preprocess_cfg=preprocess_overlay, **kwargs)
    from open_clip.model import get_model_preprocess_cfg

    pp_cfg = get_model_preprocess_cfg(model)
    preprocess = image_transform_v2(PreprocessCfg(**pp_cfg), is_train=False)
    model_cfg = oc.get_model_config(name) or {}
    embed_dim = int(model_cfg.get("embed_dim") or _probe_embed_dim(model))
    context_length = int(getattr(model, "context_length", 0) or model_cfg.get("text_cfg", {}).get("context_length", 77))
    vocab = getattr(model, "vocab_size", None) or getattr(getattr(model, "text", None), "vocab_size", None)

    def make_tokenizer() -> Callable[[list[str]], torch.Tensor]:
        try:
            pinned = {"revision": tokenizer_revision} if tokenizer_revision else {}
            return oc.get_tokenizer(name, context_length=context_length, **pinned)
        except Exception as exc:  # noqa: BLE001 - an HF tokenizer that is not cached
            raise RuntimeError(
                f"Cannot build the tokenizer of {name!r} ({type(exc).__name__}): it is a Hugging Face "
                "tokenizer that needs the hub or its local cache."
            ) from None

    info = {
        "quick_gelu": bool(model_cfg.get("quick_gelu", False)) or quick_gelu,
        "preprocess": {k: (list(v) if isinstance(v, tuple) else v) for k, v in pp_cfg.items()},
        "image_size": as_int_size(pp_cfg.get("size")),
        "context_length": context_length,
        "vocab_size": int(vocab) if vocab else None,
        "params": tower_params(model, "open_clip"),
        "model_class": type(model).__name__,
    }
    return ClipModel(model=model, preprocess=preprocess, name=name, pretrained=pretrained,
                     random_weights=random_weights, device=device, precision=precision,
                     embed_dim=embed_dim, key="", backend="open_clip", info=info,
                     _tokenizer_factory=make_tokenizer)


def as_int_size(size: Any) -> int | None:
    if size is None:
        return None
    if isinstance(size, (list, tuple)):
        return int(size[0]) if len(set(size)) == 1 else int(max(size))
    return int(size)


def _probe_embed_dim(model: torch.nn.Module) -> int:
    proj = getattr(model, "text_projection", None)
    if isinstance(proj, torch.Tensor):
        return int(proj.shape[-1])
    if isinstance(proj, torch.nn.Linear):
        return int(proj.out_features)
    return int(getattr(model.visual, "output_dim"))
