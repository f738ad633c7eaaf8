"""Code a chapter prints as the package's own is the package's own, to the character.

Chapters 02, 04 and 05 show the functions at the heart of their experiments in code cells,
use them live, then run the package, which calls the same functions (d2l's habit: the
reader sees the code once, then the package reuses it). These tests keep each such cell
equal to ``inspect.getsource`` of the package functions, so the two can never drift.
"""

from __future__ import annotations

import difflib
import inspect
from pathlib import Path

import nbformat
import pytest

from clipdistill import contrastive, ensembles, zeroshot
from clipdistill.distill import train

NOTEBOOKS = Path(__file__).resolve().parents[1] / "notebooks"
COLUMN = 80  # the book's code column

# chapter -> the cells that print package code: each cell holds these functions, in order.
SHOWN = {
    "02_zero_shot_clip": [[contrastive.clip_loss], [zeroshot.zero_shot_classifier],
                          [zeroshot.knn_vote]],
    "04_prompt_ensembles": [[ensembles.ensemble]],
    "05_distillation": [[train.cosine_loss, train.train_one_epoch, train.mean_cosine]],
}
CELLS = [(chapter, functions) for chapter, cells in SHOWN.items() for functions in cells]
IDS = [f"{chapter}:{functions[0].__name__}" for chapter, functions in CELLS]


def _source(functions: list) -> str:
    return "\n\n".join(inspect.getsource(f) for f in functions).rstrip("\n")


def _code_cells(chapter: str) -> list[str]:
    nb = nbformat.read(NOTEBOOKS / f"{chapter}.ipynb", as_version=4)
    return [c.source.rstrip("\n") for c in nb.cells if c.cell_type == "code"]


@pytest.mark.parametrize(("chapter", "functions"), CELLS, ids=IDS)
def test_the_printed_functions_are_the_package_source(chapter, functions):
    expected = _source(functions)
    cells = _code_cells(chapter)
    if expected not in cells:
        first = f"def {functions[0].__name__}("
        near = next((c for c in cells if first in c), "")
        diff = "\n".join(difflib.unified_diff(near.splitlines(), expected.splitlines(),
                                              "notebook cell", "package", lineterm=""))
        pytest.fail(f"{chapter}: no code cell equals the package source of "
                    f"{', '.join(f.__name__ for f in functions)}; copy it over:\n{diff}")


@pytest.mark.parametrize(("chapter", "functions"), CELLS, ids=IDS)
def test_the_printed_functions_fit_the_book_column(chapter, functions):
    long = [line for line in _source(functions).splitlines() if len(line) > COLUMN]
    assert not long, f"lines over {COLUMN} characters in code {chapter} prints: {long}"


@pytest.mark.parametrize("backend", ["open_clip", "transformers"])
def test_chapter_02s_one_image_cell_computes_what_the_package_computes(backend, tmp_path):
    """The cell that runs one image through CLIP by hand (encode_image, encode_text,
    normalise, scaled cosines, softmax) gives the package's probabilities for that image:
    the embedding engine's row and zeroshot's classifier and logits."""
    import numpy as np
    import pandas as pd
    import torch

    from clipdistill import embed, models, templates
    from clipdistill.data import open_rgb
    from tiny_clip import TINY, TINY_HF, make_images, register

    register()
    # fp32: the hand computation and the engine agree to float rounding (in bf16, to bf16's)
    clip = (models.load_clip(TINY, "openai", random_weights=True, cpu_dtype="float32")
            if backend == "open_clip" else models.load_clip(TINY_HF, random_weights=True, cpu_dtype="float32"))
    path = make_images(tmp_path / "img", 1)[0]
    classes = ["cat", "dog", "bird"]
    styles = {name: templates.TEMPLATE_SETS[name][0] for name in ("raw", "standard", "pets")}
    cell = next(c for c in _code_cells("02_zero_shot_clip")
                if "x = clip.encode_image(pixels)" in c)
    space = {"clip": clip, "image": open_rgb(path)[0], "classes": classes, "styles": styles,
             "templates": templates, "torch": torch, "pd": pd}
    exec(cell, space)  # noqa: S102 - the chapter's own cell, on a tiny model

    x = embed.embed_images(clip, [path], cache_dir=tmp_path / "cache", progress=False)
    for name, template in styles.items():
        W = zeroshot.build_zero_shot_classifier(clip, classes, [template])
        ours = zeroshot.softmax(zeroshot.zero_shot_logits(x, W, clip.logit_scale))[0]
        np.testing.assert_allclose(space["probs"][templates.LABELS[name]], ours, atol=1e-4)
