"""clipdistill: zero-shot image classification with CLIP and VLMs, distilled into small students.

Chapters call into small modules, one concept each:

- ``config``, ``profiles``  every parameter; the named profiles, as data (one source of truth)
- ``session``    the first cell of every chapter: ``setup(chapter, profile, overrides)``
- ``hub``        can a run's weights be had: cache, offline, a fast probe of the hub
- ``io``, ``progress``, ``vectors``, ``suggest``, ``device``: one helper per job
  (atomic writes, the progress bar, normalising, "did you mean", the device)
- ``data``       sources, safe image loading, resizing, seeded splits    (chapter 01)
- ``models``     loading CLIP-family models, model tables                 (chapter 02)
- ``embed``      the batched, cached embedding engine                     (chapter 02)
- ``zeroshot``   text-prompt classifiers and kNN                          (chapters 02, 04)
- ``vlm``        image describers (transformers, OpenAI-compatible HTTP)  (chapter 03)
- ``templates``, ``ensembles``  prompt template sets; prompt ensembles    (chapter 04)
- ``distill``    students, the training loop, evaluation, the sweep       (chapter 05)
- ``published``, ``verdicts``, ``comparison``, ``report``  our numbers beside published ones (chapter 06)
- ``colour``     what CLIP knows about colour                             (chapter 07)
- ``results``, ``costs``  results files and figures; measured run costs
- ``runner``, ``book``, ``cli``  papermill execution, the HTML book, the command line
- ``offline``    stand-ins for downloads: random weights, generated data, a local hub
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
