"""The loaded model: a CLIP-family network with its own preprocessing and tokenizer."""

from __future__ import annotations

import contextlib
from dataclasses import dataclass, field
from typing import Any, Callable, Sequence

import torch

from . import short_text  # below this module: text without its padding, transformers' pooling
from .short_text import pooled as _pooled

__all__ = ["ClipModel", "UnknownModelError", "PRECISIONS", "tower_params"]

PRECISIONS = ("fp32", "fp16", "bf16")


class UnknownModelError(ValueError):
    """A model name or pretrained tag that does not exist; the message lists the closest."""


@dataclass
class ClipModel:
    """A loaded CLIP-family model with its own preprocessing and tokenizer.

    ``model`` is exactly the module open_clip or transformers built: hook it, fine-tune it,
    probe it. ``key`` names everything that changes an embedding (architecture, weights,
    seed for random weights, preprocessing, precision, autocast, and the CPU kernels the
    embedding engine runs it with): the embedding cache is keyed by it.
    """

    model: torch.nn.Module
    preprocess: Callable[[Any], torch.Tensor]
    name: str
    pretrained: str | None
    random_weights: bool
    device: torch.device
    precision: str
    embed_dim: int
    key: str
    backend: str  # "open_clip" | "transformers"
    amp_dtype: torch.dtype | None = None
    cpu_kernels: str = "torch"  # what clipdistill.embed runs it with on a CPU: onednn | torch
    info: dict[str, Any] = field(default_factory=dict)
    _tokenizer_factory: Callable[[], Callable[[list[str]], torch.Tensor]] | None = field(default=None, repr=False)
    _tokenizer: Callable[[list[str]], torch.Tensor] | None = field(default=None, repr=False)
    _inference: tuple[Any, torch.nn.Module] | None = field(default=None, repr=False)  # the engine's copy
    _short_text: bool | None = field(default=None, repr=False)  # None: not checked yet

    # -- text ---------------------------------------------------------------------------
    def tokenize(self, texts: Sequence[str]) -> torch.Tensor:
        """Token ids (N, context) on the CPU. Built on first use: SigLIP's needs the hub."""
        if self._tokenizer is None:
            assert self._tokenizer_factory is not None
            self._tokenizer = self._tokenizer_factory()
        return self._tokenizer(list(texts))

    def encode_text(self, tokens: torch.Tensor, normalize: bool = False, *,
                    module: torch.nn.Module | None = None, full_length: bool = False) -> torch.Tensor:
        """Text features; ``module`` runs another copy of the same network (the engine's).

        The padding after the batch's last end-of-text token is cut off where that gives the
        same features (:mod:`clipdistill.models.short_text`); ``full_length`` runs all of it.
        """
        net = self.model if module is None else module
        tokens = tokens.to(self.device, non_blocking=True)
        out = None if full_length or self._short_text is False else self._encode_short(net, tokens)
        if out is None:
            out = self._encode_full(net, tokens)
        return torch.nn.functional.normalize(out, dim=-1) if normalize else out

    def _encode_full(self, net: torch.nn.Module, tokens: torch.Tensor) -> torch.Tensor:
        if self.backend == "open_clip":
            return net.encode_text(tokens)
        return _pooled(net.get_text_features(input_ids=tokens))

    def _encode_short(self, net: torch.nn.Module, tokens: torch.Tensor) -> torch.Tensor | None:
        out = short_text.encode_short(net, tokens, self.backend)
        if self._short_text is None:  # first batch: the cut forward must match the full one
            full = None if out is None else self._encode_full(net, tokens[:4])
            self._short_text = full is not None and short_text.same_features(
                out[:4], full, self._rounding_dtype())
            if not self._short_text:
                return None
        return out

    def _rounding_dtype(self) -> torch.dtype:
        """The precision a forward runs in now: the caller's autocast, else the weights'."""
        kind = self.device.type
        if torch.is_autocast_enabled(kind):
            return torch.get_autocast_dtype(kind)
        return self._param_dtype()

    # -- images -------------------------------------------------------------------------
    def encode_image(self, pixels: torch.Tensor, normalize: bool = False, *,
                     module: torch.nn.Module | None = None) -> torch.Tensor:
        """Image features of preprocessed pixels; ``module`` as in :meth:`encode_text`."""
        net = self.model if module is None else module
        pixels = pixels.to(self.device, dtype=self._param_dtype(), non_blocking=True)
        if self.backend == "open_clip":
            out = net.encode_image(pixels)
        else:
            out = _pooled(net.get_image_features(pixel_values=pixels))
        return torch.nn.functional.normalize(out, dim=-1) if normalize else out

    # -- the rest -----------------------------------------------------------------------
    @property
    def logit_scale(self) -> float:
        """exp(learned log-scale): 100 for the OpenAI weights (temperature 0.01)."""
        return float(self.model.logit_scale.detach().float().exp().item())

    def autocast(self) -> contextlib.AbstractContextManager:
        """Mixed precision as chosen at load time: bf16/fp16 on a GPU, bf16 on a CPU with
        bf16 matrix units (``info["cpu_dtype"]``); a no-op otherwise."""
        if self.amp_dtype is None:
            return contextlib.nullcontext()
        return torch.autocast(device_type=self.device.type, dtype=self.amp_dtype)

    def _param_dtype(self) -> torch.dtype:
        return {"fp16": torch.float16, "bf16": torch.bfloat16}.get(self.precision, torch.float32)

    def __repr__(self) -> str:  # the dataclass repr would print the whole network
        weights = f"random(seed={self.info.get('seed')})" if self.random_weights else self.pretrained
        # one field a line: the book's column holds about 80 characters
        fields = {"weights": weights, "backend": self.backend, "embed_dim": self.embed_dim,
                  "device": self.device.type, "key": self.key}
        body = "".join(f"\n    {k}={v!r}," for k, v in fields.items())
        return f"ClipModel({self.name!r},{body}\n)"


def tower_params(model: torch.nn.Module, backend: str) -> dict[str, int]:
    """Parameters of the image tower and of everything text-side (the scale excluded)."""
    if backend == "open_clip":
        image = sum(p.numel() for p in model.visual.parameters())
    else:
        image = sum(p.numel() for p in model.vision_model.parameters()) + \
            sum(p.numel() for p in model.visual_projection.parameters())
    scalars = sum(getattr(model, n).numel() for n in ("logit_scale", "logit_bias")
                  if isinstance(getattr(model, n, None), torch.Tensor))
    total = sum(p.numel() for p in model.parameters())
    return {"image": int(image), "text": int(total - image - scalars), "total": int(total)}
