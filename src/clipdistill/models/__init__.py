"""Load any CLIP-family model behind one small interface, with the preprocessing it was
trained with (chapter 02).

- :func:`load_clip` / :func:`load_clip_from_config`: open_clip tags, checkpoints and
  folders, Hugging Face ids and folders, or seeded random weights (``loading``);
- :class:`ClipModel`: the framework's own module plus its preprocessing, tokenizer and
  cache key (``clip_model``); its text encoder skips CLIP's padding where that changes
  nothing (``short_text``);
- :func:`parse_spec`: ``"ViT-B-32/openai"`` -> name and tag, with "did you mean" errors
  (``names``);
- :func:`model_table`: parameters, resolution, context and vocabulary (``table``);
- :func:`compare_models`: accuracy on the same images and speed side by side (``compare``).
"""

from __future__ import annotations

import os

from ..offline.random_clip import HF_RANDOM_ARCHS
from .clip_model import ClipModel, UnknownModelError
from .compare import compare_models
from .loading import load_clip, load_clip_from_config
from .names import parse_spec
from .table import describe, model_table

__all__ = [
    "ClipModel",
    "UnknownModelError",
    "load_clip",
    "load_clip_from_config",
    "model_table",
    "parse_spec",
    "describe",
    "compare_models",
    "HF_RANDOM_ARCHS",
]

os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")  # DataLoader workers fork after tokenizing
