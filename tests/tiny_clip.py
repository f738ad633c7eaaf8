"""Tiny CLIP-family models and images for fast offline tests (importable by any test file).

``register()`` adds a 2-layer, width-64 open_clip architecture called ``tiny-clip`` (32 px
images, 16-token context, 32-d embeddings, the real OpenAI BPE vocabulary) with three fake
pretrained tags that differ the way real tags do (QuickGELU, normalisation), plus a tiny
Hugging Face CLIP under the id ``tiny/clip-test``. Load them with random weights::

    from tiny_clip import TINY, TINY_HF, register
    register()
    clip = models.load_clip(TINY, "openai", random_weights=True)
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

TINY = "tiny-clip"
TINY_HF = "tiny/clip-test"

TINY_CFG = {
    "embed_dim": 32,
    "vision_cfg": {"image_size": 32, "layers": 2, "width": 64, "head_width": 32, "patch_size": 8},
    "text_cfg": {"context_length": 16, "vocab_size": 49408, "width": 64, "heads": 2, "layers": 2},
}

TINY_HF_ARCH = {
    "vision": {"hidden_size": 64, "intermediate_size": 128, "num_attention_heads": 2,
               "num_hidden_layers": 2, "image_size": 32, "patch_size": 8},
    "text": {"hidden_size": 64, "intermediate_size": 128, "num_attention_heads": 2,
             "num_hidden_layers": 2, "max_position_embeddings": 16},
    "projection_dim": 32,
}


def register() -> None:
    """Idempotent: make ``tiny-clip`` (open_clip) and ``tiny/clip-test`` (HF) loadable."""
    import copy

    import open_clip.factory as factory
    import open_clip.pretrained as pretrained

    from clipdistill import models

    factory._MODEL_CONFIGS[TINY] = copy.deepcopy(TINY_CFG)
    pretrained._PRETRAINED[TINY] = {
        "openai": pretrained._pcfg(quick_gelu=True),  # trained with QuickGELU, OpenAI mean/std
        "laion": pretrained._pcfg(),  # plain GELU
        "webli": pretrained._slpcfg(),  # SigLIP-style 0.5 normalisation, squash resize
    }
    models.HF_RANDOM_ARCHS[TINY_HF] = copy.deepcopy(TINY_HF_ARCH)


def make_images(folder: Path, n: int, *, size: int = 40, seed: int = 0, prefix: str = "img") -> list[Path]:
    """``n`` distinct small RGB PNGs (noise plus a per-image colour), in a stable order."""
    from PIL import Image

    folder.mkdir(parents=True, exist_ok=True)
    rng = np.random.default_rng(seed)
    paths = []
    for i in range(n):
        arr = rng.integers(0, 256, size=(size, size, 3), dtype=np.uint8)
        arr[: size // 2] = (37 * i) % 256  # make every image clearly different
        path = folder / f"{prefix}_{i:03d}.png"
        Image.fromarray(arr).save(path)
        paths.append(path)
    return paths
