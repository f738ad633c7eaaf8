"""Class prototypes from prompts: the averaging, its cache, and each template's effect.

Why an ensemble helps: one prompt ("a photo of a {}.") is one point near the class in the
text embedding space, with that sentence's quirks. Averaging the unit-length embeddings
of many phrasings ("a sketch of a {}.", "a low resolution photo of the {}.", even "a
tattoo of a {}.") cancels the quirks and leaves a rounder prototype of the class itself;
renormalising puts it back on the sphere where cosine similarity is measured.

- :func:`ensemble` is the arithmetic alone, over an array of prompt embeddings;
- :func:`class_embeddings` builds a model's class matrix with it (each prompt's
  embedding cached by :func:`clipdistill.embed.embed_texts`) and caches the matrix per
  (model, template set, class names);
- :func:`template_ranking` scores each template alone and its effect on the ensemble.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any, Callable, Sequence

import numpy as np

from ..io import atomic_save_npy, atomic_write_json, stable_hash
from ..templates import TemplateSet, get_template_set
from ..vectors import l2_normalize

__all__ = ["ensemble", "encode_prompts", "predict", "top1", "template_ranking", "class_embeddings",
           "class_cache_path", "resolve_template_set"]


# -- the arithmetic (chapter 04 prints `ensemble`: keep its lines within 80 chars) --
def ensemble(embeddings: np.ndarray | Sequence[np.ndarray]) -> np.ndarray:
    """Class embeddings (C, D) from prompt embeddings (C, T, D), or from C
    arrays (T_c, D) when classes have different numbers of prompts.

    Normalise each prompt embedding, average a class's prompts, and normalise
    the mean again: back on the sphere where cosine similarity is measured.
    """
    if isinstance(embeddings, np.ndarray):
        if embeddings.ndim != 3:
            raise ValueError("prompt embeddings must be (classes, prompts, dim)"
                             f", got shape {embeddings.shape}.")
        return l2_normalize(l2_normalize(embeddings).mean(axis=1))
    return l2_normalize(np.stack([l2_normalize(p).mean(axis=0)
                                  for p in embeddings]))


def encode_prompts(encode: Callable[[list[str]], np.ndarray],
                   prompts: Sequence[Sequence[str]]) -> list[np.ndarray]:
    """Embed all classes' prompts in one call (the encoder batches) and split per class."""
    flat = [p for per_class in prompts for p in per_class]
    emb = np.asarray(encode(flat), dtype=np.float32)
    bounds = np.cumsum([len(p) for p in prompts])[:-1]
    return np.split(emb, bounds)


def predict(image_emb: np.ndarray, class_emb: np.ndarray) -> np.ndarray:
    """Each image's class under (C, D) class embeddings; the logit scale does not change
    the argmax, so it is left out."""
    return np.argmax(np.asarray(image_emb) @ np.asarray(class_emb).T, axis=1)


def top1(image_emb: np.ndarray, class_emb: np.ndarray, labels: np.ndarray) -> float:
    """Zero-shot top-1 accuracy of (C, D) class embeddings."""
    from ..zeroshot import accuracy

    return accuracy(np.asarray(labels), predict(image_emb, class_emb))


def template_ranking(prompt_embeddings: np.ndarray, templates: Sequence[str],
                     image_emb: np.ndarray, labels: np.ndarray) -> list[dict[str, Any]]:
    """Score every template of a (C, T, D) set: alone, and by leaving it out of the ensemble.

    ``single`` is the accuracy of that template on its own; ``loo_delta`` is the full
    ensemble's accuracy minus the ensemble's without it (> 0: the template helps).
    """
    unit = l2_normalize(prompt_embeddings)
    total = unit.sum(axis=1)
    full = top1(image_emb, l2_normalize(total), labels)
    rows = []
    for t, template in enumerate(templates):
        without = top1(image_emb, l2_normalize(total - unit[:, t]), labels) if len(templates) > 1 else float("nan")
        rows.append({"template": template, "single": top1(image_emb, unit[:, t], labels),
                     "ensemble": full, "loo_delta": full - without})
    return rows


# -- the cached class embeddings --------------------------------------------------------
def class_cache_path(clip: Any, tset: TemplateSet, classnames: Sequence[str],
                     cache_dir: str | Path | None) -> Path | None:
    """Where :func:`class_embeddings` keeps this (model, set, class names) matrix."""
    if cache_dir is None:
        return None
    key = stable_hash("class_embeddings", clip.key, tset.fingerprint(), list(classnames))
    return Path(cache_dir) / "class_embeddings" / f"{key}.npy"


def class_embeddings(clip: Any, tset: TemplateSet, classnames: Sequence[str], *,
                     cache_dir: str | Path | None, text_cache_dir: str | Path | None = None,
                     batch_size: int = 256, progress: bool = True) -> np.ndarray:
    """(C, D) ensembled class embeddings for ``clip``, cached per (model, set, class names).

    The cache file is ``<cache_dir>/class_embeddings/<hash>.npy`` with a ``.json`` note of
    what it holds; the hash covers ``clip.key``, the set's content and the class names, so
    1000 classes x 80 templates are embedded once, ever. Template lists and per-class
    sentences both go through :func:`ensemble`, as chapter 02's
    :func:`clipdistill.zeroshot.build_zero_shot_classifier` does (open_clip's numbers).
    """
    from .. import embed

    path = class_cache_path(clip, tset, classnames, cache_dir)
    if path is not None and path.is_file():
        return np.load(path)
    prompts = tset.prompts(classnames)
    out = ensemble(encode_prompts(
        lambda texts: embed.embed_texts(clip, texts, cache_dir=text_cache_dir,
                                        batch_size=batch_size, progress=progress),
        prompts))
    if path is not None:
        atomic_save_npy(path, out)
        atomic_write_json(path.with_suffix(".json"), {
            "model": clip.key, "template_set": tset.name, "source": tset.source,
            "classes": len(classnames), "prompts": sum(map(len, prompts)), "shape": list(out.shape),
        })
    return out


def resolve_template_set(spec: str, dataset: str, max_templates: int = 0) -> TemplateSet:
    """The set ``spec`` means for ``dataset``, cut to its first ``max_templates`` (0 = all)."""
    tset = get_template_set(spec, dataset)
    if max_templates and not tset.is_per_class and len(tset.templates) > max_templates:
        tset = TemplateSet(tset.name, tset.templates[:max_templates], source=tset.source)
    return tset
