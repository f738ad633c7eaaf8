"""clipdistill: zero-shot image classification with CLIP and VLMs, distilled into small students.

Chapters call into small modules, one concept each:

- ``config``    profiles and every parameter (one source of truth)
- ``session``   the first cell of every chapter: ``setup(chapter, profile, overrides)``
- ``hub``       can a run's weights be had: cache, offline, a fast probe of the hub
- ``data``      sources, safe image loading, resizing, seeded splits      (chapter 01)
- ``models``    loading CLIP-family models, model tables                   (chapter 02)
- ``embed``     the batched, cached embedding engine                       (chapter 02)
- ``zeroshot``  text-prompt classifiers and kNN                            (chapters 02, 04)
- ``templates`` prompt template sets, kept as data                         (chapter 04)
- ``vlm``       image describers (transformers, OpenAI-compatible HTTP)    (chapter 03)
- ``distill``   students, training, evaluation                             (chapter 05)
- ``results``   results files and figures that chapter 06 gathers
- ``runner``    papermill execution of the chapters; ``book`` builds the HTML
"""

from .config import Config, ConfigError, resolve
from .results import load_results, save_figure, save_results
from .session import SMOKE_BANNER, say, setup, torch_device

__version__ = "0.1.0"
__all__ = [
    "Config",
    "ConfigError",
    "resolve",
    "setup",
    "say",
    "torch_device",
    "save_results",
    "load_results",
    "save_figure",
    "SMOKE_BANNER",
]
