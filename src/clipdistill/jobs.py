"""The long work of a profile as batch jobs: ``clipdistill describe`` and ``clipdistill embed``.

Chapters 03 and 05 describe every image they use under their prompts, and chapters
02 and 05 embed them; in the ``paper`` profile that is ~120,000 images, hours of GPU
time. These jobs do the same work outside the notebooks, on whatever machines have the
GPUs, into the same caches, so the chapters then find every description and embedding
made and compute nothing new:

    clipdistill describe --profile paper                 # everything chapters 03 and 05 describe
    clipdistill describe --profile paper --shard 3/8     # the fourth of eight workers' share
    clipdistill embed --profile paper --shard 3/8        # the same for CLIP image embeddings

Each worker writes its own part of each cache (safe on a shared filesystem), resumes
where it stopped when run again, and leaves what it did to the chapters. Prepare the data
once before starting workers (``clipdistill run --profile paper --only 01``): every
worker would otherwise prepare it at the same time.
"""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Any, Iterable, Iterator, Sequence

__all__ = ["SPLIT_ALL", "work_list", "describe_jobs", "run_describe", "run_embed", "read_path_list"]

SPLIT_ALL = "all"
OTHER = "other"  # the pool of unlabelled non-pet images chapter 05 adds (max(extra_images))


def _valid_splits(cfg: Any) -> list[str]:
    return [f"{f}/{p}" for f in cfg.splits for p in cfg.splits[f]] + [OTHER]


def work_list(cfg: Any, name: str) -> list[Path]:
    """The images of one named split (``knn/train``, ``cat_dog_10k/validate``, ...) or of
    ``other`` (the extra pool at its largest size), preparing them if needed."""
    from . import data

    if name == OTHER:
        return data.load_other_pool(cfg, max(cfg.extra_images, default=0))
    family, _, part = name.partition("/")
    if family not in cfg.splits or part not in cfg.splits[family]:
        raise ValueError(f"Unknown split {name!r} for profile {cfg.profile!r}. "
                         f"Valid: {', '.join(_valid_splits(cfg))}, {SPLIT_ALL}.")
    return list(data.load_split(cfg, family, part).paths)


def _chapter_05_splits(cfg: Any) -> list[str]:
    """What chapter 05's sweep embeds and describes: knn, each training family's train
    and validate, and the extra pool."""
    names = ["knn/train", "knn/test"]
    for family in cfg.distill_splits:
        names += [f"{family}/train", f"{family}/validate"]
    if max(cfg.extra_images, default=0) > 0:
        names.append(OTHER)
    return list(dict.fromkeys(names))


def describe_jobs(cfg: Any, splits: Sequence[str] | None = None,
                  prompts: Sequence[str] | None = None) -> dict[str, list[Path]]:
    """Prompt name -> the images to describe with it (each image once).

    By default exactly what the chapters will ask for: chapter 03 describes ``knn/train``
    and ``knn/test`` (``vlm_max_images`` per class) under every prompt; chapter 05
    describes its training images under the prompts named in ``teachers``. Named
    ``splits`` are described whole, under ``prompts`` (default: every prompt).
    """
    from .vlm import cap_per_class, prompt_text

    for name in prompts or []:
        prompt_text(cfg, name)  # an unknown prompt fails here, in one sentence
    jobs: dict[str, dict[Path, None]] = {}
    if splits:
        paths = [p for s in splits for p in work_list(cfg, s)]
        for name in prompts or cfg.vlm_prompts:
            jobs.setdefault(name, {}).update(dict.fromkeys(paths))
    else:
        from . import data

        for part in ("train", "test"):
            split = data.load_split(cfg, "knn", part)
            capped, _ = cap_per_class(split.paths, split.labels, cfg.vlm_max_images)
            for name in prompts or cfg.vlm_prompts:
                jobs.setdefault(name, {}).update(dict.fromkeys(capped))
        teachers = [t for t in cfg.teachers if t != "image" and (not prompts or t in prompts)]
        if teachers:
            paths = [p for s in _chapter_05_splits(cfg) for p in work_list(cfg, s)]
            for name in teachers:
                jobs.setdefault(name, {}).update(dict.fromkeys(paths))
    return {name: list(paths) for name, paths in jobs.items()}


def _say(text: str) -> None:
    print(text, file=sys.stderr, flush=True)


def run_describe(cfg: Any, *, splits: Sequence[str] | None = None, prompts: Sequence[str] | None = None,
                 shard: tuple[int, int] = (0, 1), progress: bool = True) -> dict[str, int]:
    """Describe this shard's share of :func:`describe_jobs`; return prompt -> images."""
    from . import vlm
    from .shards import take_shard

    jobs = describe_jobs(cfg, splits, prompts)
    describer = vlm.make_describer(cfg)
    done = {}
    for name, paths in jobs.items():
        mine = list(take_shard(paths, *shard))
        cache = vlm.description_cache_path(cfg, name, describer)
        _say(f"{name}: {len(mine):,} of {len(paths):,} images (shard {shard[0]}/{shard[1]}) -> {cache}")
        vlm.describe_images(describer, mine, vlm.prompt_text(cfg, name), cache_path=cache,
                            batch_size=cfg.vlm_batch_size, progress=progress)
        done[name] = len(mine)
    return done


def read_path_list(path: str | Path) -> Iterator[str]:
    """One image path per line (blank lines and ``#`` comments skipped), read lazily;
    relative paths are taken from the list's folder."""
    base = Path(path).resolve().parent
    with open(path, encoding="utf-8") as fh:
        for line in fh:
            line = line.strip()
            if line and not line.startswith("#"):
                p = Path(line).expanduser()
                yield str(p if p.is_absolute() else base / p)


def _count_lines(path: str | Path) -> int:
    return sum(1 for _ in read_path_list(path))


def run_embed(cfg: Any, *, splits: Sequence[str] | None = None, images_from: str | None = None,
              shard: tuple[int, int] = (0, 1), progress: bool = True) -> dict[str, int]:
    """Embed this shard's share of the images (CLIP ``cfg.clip_model``) into the
    chapters' cache; return counts."""
    from . import embed, models

    if images_from:
        paths: Iterable[str] = read_path_list(images_from)
        total = _count_lines(images_from)
        where = images_from
    else:
        names = list(splits) if splits else _chapter_05_splits(cfg)
        listed = list(dict.fromkeys(p for s in names for p in work_list(cfg, s)))
        paths, total, where = [str(p) for p in listed], len(listed), ", ".join(names)
    clip = models.load_clip_from_config(cfg)
    cache = embed.cache_dir_for(cfg)
    _say(f"{clip.name}: {total:,} images ({where}), shard {shard[0]}/{shard[1]} -> {cache / clip.key}")
    return embed.embed_to_cache(clip, paths, cache_dir=cache, batch_size=cfg.batch_size,
                                num_workers=cfg.num_workers, progress=progress, shard=shard,
                                total=total)
