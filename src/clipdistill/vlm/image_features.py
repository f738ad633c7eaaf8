"""A VLM's image features, computed once per image and reused for every prompt.

Why: the vision tower costs the same whatever the prompt, and on a CPU it is most of a
description's cost (SmolVLM-256M on two cores: about 2.3 of 2.8 seconds). Chapter 03
describes every image under two prompts, so keeping each image's features for the second
prompt saves most of a second pass. transformers lets ``generate`` take the features
precomputed (``mm_encoder_outputs``); where a model's encoder needs more than pixels (Qwen2.5-VL
also needs the image grid for its position ids) or the installed version cannot take
them, nothing is kept and every call encodes its pixels, as before.
"""

from __future__ import annotations

import inspect
import os
from collections import OrderedDict
from pathlib import Path
from typing import Any, Mapping, Sequence

__all__ = ["FeatureMemo", "image_key"]

PIXEL_KEYS = frozenset({"pixel_values", "pixel_attention_mask"})


def image_key(path: str | os.PathLike) -> tuple:
    """Which image this is, cheaply: the file's path, size and modification time."""
    st = os.stat(path)
    return (str(Path(path).resolve()), st.st_size, st.st_mtime_ns)


class FeatureMemo:
    """Per-image features of one model, most recent first, up to ``max_bytes``."""

    def __init__(self, max_bytes: int = 512 << 20):
        self.max_bytes = int(max_bytes)
        self._store: OrderedDict[tuple, Any] = OrderedDict()
        self._bytes = 0
        self.hits = self.misses = 0
        self.enabled: bool | None = None  # decided on the first batch

    def _encoder(self, model: Any) -> Any:
        supports = getattr(model, "_supports_mm_encoder_outputs", None)
        encoder = getattr(getattr(model, "base_model", None), "get_image_features", None)
        if not (callable(supports) and supports() and callable(encoder)):
            return None
        return encoder

    def generate_inputs(self, model: Any, inputs: Mapping[str, Any], keys: Sequence[tuple]) -> dict:
        """``inputs`` for ``model.generate``, with the pixels replaced by features (reused
        when every image of the batch was seen, else computed now and kept)."""
        encoder = self._encoder(model) if self.enabled is not False else None
        wanted = [k for k in inspect.signature(encoder).parameters if k in inputs] if encoder else []
        if encoder is None or not set(wanted) <= PIXEL_KEYS or "pixel_values" not in wanted:
            self.enabled = False
            return dict(inputs)
        if all(k in self._store for k in keys):
            self.hits += len(keys)
            per_image = [self._store[k] for k in keys]
            for k in keys:
                self._store.move_to_end(k)
        else:
            per_image = encoder(**{k: inputs[k] for k in wanted}, return_dict=True).pooler_output
            if not isinstance(per_image, (list, tuple)) or len(per_image) != len(keys):
                self.enabled = False  # a layout we do not know: pixels, every time
                return dict(inputs)
            self.misses += len(keys)
            for k, f in zip(keys, per_image):
                self._keep(k, f)
        self.enabled = True
        from transformers.modeling_outputs import BaseModelOutputWithPooling

        rest = {k: v for k, v in inputs.items() if k not in wanted}
        rest["mm_encoder_outputs"] = {"image": BaseModelOutputWithPooling(pooler_output=list(per_image))}
        return rest

    def _keep(self, key: tuple, features: Any) -> None:
        if key in self._store:
            return
        self._store[key] = features
        self._bytes += features.numel() * features.element_size()
        while self._bytes > self.max_bytes and len(self._store) > 1:
            _, old = self._store.popitem(last=False)
            self._bytes -= old.numel() * old.element_size()
