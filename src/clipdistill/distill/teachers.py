"""The three teachers chapter 05 compares, as embeddings of a list of images.

- ``image``:    CLIP's image embedding, ``clip(img)`` (chapter 02).
- ``generic``:  CLIP's *text* embedding of a VLM description written with the generic
                prompt, ``clip(vlm(img, "describe this image in a sentence."))`` (chapter 03).
- ``specific``: the same with the cat/dog/something-else prompt.

Everything goes through the chapters' own caches: ``embed`` keys image rows by the image
bytes and text rows by the exact text, and ``vlm.describe_split`` reads chapter 03's
JSONL file, so a teacher that chapter 02 or 03 already computed is read back, not
recomputed. Images those chapters never saw (the distillation splits, the extra pool) are
described and embedded once, into the same caches.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any, Sequence

import numpy as np

__all__ = ["TEACHERS", "teacher_embeddings", "check_teachers", "Teachers"]

TEACHERS: tuple[str, ...] = ("image", "generic", "specific")


def check_teachers(names: Sequence[str], cfg: Any | None = None) -> None:
    """Fail in one sentence on an unknown teacher name (before any model loads)."""
    for name in names:
        if name not in TEACHERS:
            raise ValueError(f"Unknown teacher {name!r}. Valid: {', '.join(TEACHERS)}.")
        if name != "image" and cfg is not None and name not in cfg.vlm_prompts:
            raise ValueError(f"Teacher {name!r} needs a VLM prompt of that name in cfg.vlm_prompts "
                             f"(have: {', '.join(cfg.vlm_prompts)}).")


def teacher_embeddings(cfg: Any, teacher: str, paths: Sequence[str | os.PathLike], *, clip: Any,
                       describer: Any = None, progress: bool = True) -> np.ndarray:
    """(N, clip.embed_dim) float32 unit vectors: ``teacher``'s embedding of each image."""
    from .. import embed, vlm

    check_teachers([teacher], cfg)
    paths = [Path(p) for p in paths]
    cache = embed.cache_dir_for(cfg)
    if teacher == "image":
        return embed.embed_images(clip, paths, cache_dir=cache, batch_size=cfg.batch_size,
                                  num_workers=cfg.num_workers, progress=progress,
                                  desc="teacher: CLIP image embeddings")
    texts = vlm.describe_split(cfg, paths, teacher, describer=describer, progress=progress)
    return embed.embed_texts(clip, texts, cache_dir=cache,
                             batch_size=getattr(cfg, "embed_text_batch_size", 256),
                             progress=progress, desc=f"teacher: CLIP text of {teacher} descriptions")


class Teachers:
    """One CLIP model and (lazily) one describer, shared by every teacher call of a sweep."""

    def __init__(self, cfg: Any, clip: Any = None, describer: Any = None, progress: bool = True):
        self.cfg = cfg
        self._clip = clip
        self._describer = describer
        self.progress = progress

    @property
    def clip(self) -> Any:
        if self._clip is None:
            from .. import models

            self._clip = models.load_clip_from_config(self.cfg)
        return self._clip

    @property
    def describer(self) -> Any:
        if self._describer is None:
            from .. import vlm

            self._describer = vlm.make_describer(self.cfg)
        return self._describer

    @property
    def dim(self) -> int:
        return int(self.clip.embed_dim)

    def __call__(self, teacher: str, paths: Sequence[str | os.PathLike]) -> np.ndarray:
        check_teachers([teacher], self.cfg)
        return teacher_embeddings(self.cfg, teacher, paths, clip=self.clip,
                                  describer=None if teacher == "image" else self.describer,
                                  progress=self.progress)

    def images_per_second(self, teacher: str) -> float | None:
        """The description teachers' measured VLM speed (chapter 03's timing file), if any."""
        if teacher == "image":
            return None
        from .. import vlm

        t = vlm.throughput(vlm.description_cache_path(self.cfg, teacher, self.describer),
                           self.describer.key)
        return None if t is None else float(t["images_per_s"])
