"""Stand-ins for what a real run downloads: random-weight models and generated data.

Everything here exists so that the ``smoke`` profile, the tests and the benchmarks run
offline with the real architectures and code paths. Nothing here is a result; a run that
uses it labels itself as a smoke run. Each model stand-in is an ordinary checkpoint folder
in the hub's layout (``config.json``, ``model.safetensors``, tokenizer, processor and chat
template), loaded with the same ``from_pretrained`` calls as the real repository, and a
local imitation of the hub can serve it under the real repo id.

- :mod:`.random_clip`: CLIP architectures with seeded random weights, and CLIP's tokenizer.
- :mod:`.tiny_qwen_vl`: Qwen2.5-VL at toy size, the GPU profiles' VLM family.
- :mod:`.tiny_smolvlm`: SmolVLM (Idefics3) at toy or real shape, the CPU profiles' VLM.
- :mod:`.toy_tokenizer`: a byte-level BPE trained here, with a model's special tokens.
- :mod:`.folders`: building a checkpoint folder once, atomically.
- :mod:`.synthetic_data`: a generated class-per-folder image set when no real one is there.
- :mod:`.imagenetv2_archive`: a generated archive in ImageNetV2's layout (smoke runs, tests).
"""

from .folders import build_once
from .tiny_smolvlm import SMOLVLM_SHAPES, TINY_SMOLVLM, build_tiny_smolvlm, write_smolvlm

__all__ = ["build_once", "SMOLVLM_SHAPES", "TINY_SMOLVLM", "build_tiny_smolvlm",
           "write_smolvlm"]
