"""Offline stand-ins for hub checkpoints: real architectures, random weights, toy tokenizers.

Each stand-in is written as an ordinary checkpoint folder in the hub's layout
(``config.json``, ``model.safetensors``, tokenizer, processor and chat-template files), so
the package loads it with the same ``from_pretrained`` calls as the real repository, and a
local imitation of the hub can serve it under the real repo id. Their text is gibberish;
everything around the model (batching, generation, caching, resuming) is the real code.

- :mod:`.tiny_smolvlm`: SmolVLM (Idefics3 architecture), the CPU profiles' VLM.
- :mod:`.folders`: building a checkpoint folder once, atomically.
- :mod:`.toy_tokenizer`: a byte-level BPE trained here, with a model's special tokens.
"""

from .folders import build_once
from .tiny_smolvlm import (
    SMOLVLM_SHAPES,
    TINY_SMOLVLM,
    build_tiny_smolvlm,
    tiny_smolvlm_dir,
    write_smolvlm,
)

__all__ = ["build_once", "SMOLVLM_SHAPES", "TINY_SMOLVLM", "build_tiny_smolvlm",
           "tiny_smolvlm_dir", "write_smolvlm"]
