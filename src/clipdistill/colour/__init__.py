"""Chapter 07: what CLIP knows about colour, from rendered patches and offline ground truth.

One concept per module, nothing heavy imported here (``clipdistill colour --help`` must not
import torch):

- ``terms``             xkcd survey names -> the 11 basic colour terms of Berlin & Kay
- ``patches``           solid colour patches rendered to PNG files the embedding cache keys
- ``prompts``           the four prompt styles, kept as data
- ``associations``      the concepts (with their canonical colours) and colour-concept matrices
- ``discriminability``  semantic distance (Schloss et al.) and the palettes a matrix implies
- ``remote``            models whose code lives on the hub (LLM2CLIP): explicit opt-in only
- ``experiment``        models x prompt styles x tasks -> one tidy CSV in results/<profile>/
- ``analysis``          the CSV read back: summary tables and chapter 06's headline
- ``figures``           the chapter's figures
- ``command``           ``clipdistill colour``: its arguments and what it runs
"""

CHAPTER = "07_colour"

from ..config import ConfigError


class ColourError(ConfigError):
    """Bad input to chapter 07 (a model, prompt style, task or concept): one sentence.

    A ConfigError, so ``clipdistill colour`` reports it like any bad ``--set`` value.
    """
