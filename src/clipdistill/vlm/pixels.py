"""The pixel budget, applied by the client before an image travels to a server.

A Qwen2.5-VL processor resizes every image to a height and width that are multiples of
28 (14-pixel patches, merged 2x2) with a pixel count between ``min_pixels`` and
``max_pixels`` (``smart_resize``); each 28x28 block becomes one visual token. A local
``transformers`` run with ``vlm_max_pixels`` does exactly that. Sent to a server at full
size, the same image makes the server's processor do the shrinking, on the one CPU
thread that feeds the GPUs, and travels at full size.

So with a budget the client does it: it computes the size the local processor would use
(transformers' own ``smart_resize``), resizes with the same resampling (bicubic with
antialiasing on 8-bit pixels, torchvision's ``resize``, as the processor does) and sends
the result losslessly (PNG). The server's processor then finds nothing to change: its own
``smart_resize`` of a size that is already a multiple of 28 inside its bounds is that
size, and resizing to the same size returns the pixels untouched. An image the budget
does not shrink (or grow) travels as it is, as before: the server's processor rounds it
exactly as the local one would.
"""

from __future__ import annotations

import io
from typing import Any

__all__ = ["QWEN_PIXELS", "budget_size", "fit_to_budget", "png_bytes"]

# Qwen2-VL / Qwen2.5-VL preprocessor_config.json: patch 14, merged 2x2, and the pixel
# bounds a server's processor uses when nothing overrides them.
QWEN_PIXELS = {"factor": 28, "min_pixels": 56 * 56, "max_pixels": 12_845_056}


def budget_size(height: int, width: int, max_pixels: int) -> tuple[int, int]:
    """(height, width) a Qwen processor capped at ``max_pixels`` resizes an image to."""
    from transformers.models.qwen2_vl.image_processing_qwen2_vl import smart_resize

    min_pixels = min(QWEN_PIXELS["min_pixels"], max_pixels)  # as vlm.hf.apply_image_settings
    return smart_resize(height, width, factor=QWEN_PIXELS["factor"], min_pixels=min_pixels,
                        max_pixels=max_pixels)


def _server_size(height: int, width: int) -> tuple[int, int]:
    """What a server's processor at its defaults resizes the original to."""
    from transformers.models.qwen2_vl.image_processing_qwen2_vl import smart_resize

    return smart_resize(height, width, **QWEN_PIXELS)


def fit_to_budget(image: Any, max_pixels: int) -> Any | None:
    """``image`` (8-bit RGB PIL) resized to the budget, or None when the server's own
    rounding of the original gives the same size (then the original can travel)."""
    import numpy as np
    import torch
    from PIL import Image
    from torchvision.transforms.v2 import functional as F

    width, height = image.size
    target = budget_size(height, width, max_pixels)
    if target == _server_size(height, width):
        return None
    pixels = torch.from_numpy(np.asarray(image, dtype=np.uint8).copy()).permute(2, 0, 1)
    resized = F.resize(pixels, list(target), interpolation=F.InterpolationMode.BICUBIC,
                       antialias=True)
    return Image.fromarray(resized.permute(1, 2, 0).contiguous().numpy())


def png_bytes(image: Any) -> bytes:
    """Lossless, and quick to write (zlib level 1): the server must see these exact pixels."""
    buf = io.BytesIO()
    image.save(buf, format="PNG", compress_level=1)
    return buf.getvalue()
