"""Chapter 04's experiment: zero-shot accuracy of models x template sets x datasets.

Every expensive step is cached: image and prompt embeddings (chapter 02's store), class
embeddings (:func:`.prototypes.class_embeddings`) and the per-template rankings, so a
rerun, or a run after an interruption, only computes what is missing. The datasets are
chapter 01's labelled sets, ImageNetV2 (``imagenetv2``: downloaded by the profiles that
list it, :mod:`clipdistill.data.imagenetv2`), and ImageNet-1k val when
``cfg.imagenet_root`` points at it.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any, Callable, Sequence

import numpy as np

from ..classnames import all_published
from ..io import array_digest, atomic_write_json, atomic_write_text, stable_hash
from ..templates import TemplateSet, get_template_set
from .prototypes import (class_cache_path, class_embeddings, encode_prompts, predict,
                         resolve_template_set, template_ranking)

__all__ = ["CHAPTER", "imagenetv2_origin", "sweep", "sweep_datasets", "load_dataset", "load_model",
           "supervised_baseline", "IMAGENET_SETS"]

CHAPTER = "04_prompt_ensembles"


def _ensemble_dir(cfg: Any) -> Path:
    return Path(cfg.work_dir) / "ensembles"


def _embed_cache(cfg: Any) -> Path:
    """The per-text / per-image cache shared with chapter 02 (clipdistill.embed)."""
    from ..embed import cache_dir_for

    return cache_dir_for(cfg)


def load_model(cfg: Any, spec: str) -> Any:
    """The CLIP model a spec such as ``"ViT-B-32/openai"`` names, as the sweep loads it."""
    from .. import models

    name, tag = models.parse_spec(spec)
    return models.load_clip_from_config(cfg, name, tag)


def load_dataset(cfg: Any, dataset: str) -> tuple[list[str], np.ndarray, list[str]]:
    """(paths, labels, class names for prompts) of one sweep dataset, at
    ``cfg.ensemble_per_class`` images per class and cut to ``cfg.ensemble_max_classes``.

    The prompt names are the published ones where a published figure exists
    (:func:`clipdistill.classnames.prompt_names`: "centered face", not "faces easy").
    """
    from .. import data
    from ..classnames import prompt_names
    from ..suggest import did_you_mean

    valid = [*data.LABELLED_SETS, *IMAGENET_SETS]
    if dataset not in valid:
        raise data.DataError(f"Unknown dataset {dataset!r}.{did_you_mean(dataset, valid)}")
    if dataset == "imagenet":
        paths, labels, classes = _imagenet_val(cfg, cfg.ensemble_per_class)
    elif dataset == "imagenetv2":
        paths, labels, classes = _imagenetv2(cfg, cfg.imagenetv2_per_class)
    else:
        split = data.load_labelled(cfg, dataset, cfg.ensemble_per_class)
        paths, labels, classes = [str(p) for p in split.paths], np.asarray(split.labels), list(split.classes)
    names = prompt_names(dataset, classes)
    if cfg.ensemble_max_classes and len(names) > cfg.ensemble_max_classes:
        keep = labels < cfg.ensemble_max_classes
        paths = [p for p, k in zip(paths, keep) if k]
        labels, names = labels[keep], names[: cfg.ensemble_max_classes]
    return paths, labels, names


def _imagenet_val(cfg: Any, per_class: int) -> tuple[list[str], np.ndarray, list[str]]:
    """A seeded ``per_class`` sample of ImageNet-1k val in ``cfg.imagenet_root``.

    The folder holds one sub-folder per WordNet id (``n01440764/`` ...), the usual layout of
    the val set; sorted ids are the standard class order, so class ``i`` is keyed
    ``imagenet_key(i)`` and prompted with open_clip's ImageNet name ``i``.
    """
    from ..classnames import IMAGENET_CLASSNAMES, imagenet_key
    from ..data.sources import DataError, scan_class_folders
    from ..data.splits import seeded_order

    root = Path(cfg.imagenet_root)
    if not cfg.imagenet_root or not root.is_dir():
        raise DataError(f"imagenet_root {cfg.imagenet_root!r} is not a folder: point it at ImageNet-1k val "
                        "(one n######## folder per class).")
    files = scan_class_folders(root)
    if len(files) != len(IMAGENET_CLASSNAMES):
        raise DataError(f"{root} holds {len(files)} class folders, ImageNet-1k val has "
                        f"{len(IMAGENET_CLASSNAMES)} (n01440764/ ... n15075141/).")
    paths: list[str] = []
    labels: list[int] = []
    for i, wnid in enumerate(sorted(files)):
        take = seeded_order(list(files[wnid]), cfg.seed, f"imagenet/{wnid}")[:per_class]
        paths += [str(files[wnid][k]) for k in take]
        labels += [i] * len(take)
    return paths, np.asarray(labels, dtype=np.int64), [imagenet_key(i) for i in range(len(files))]


def _imagenetv2(cfg: Any, per_class: int) -> tuple[list[str], np.ndarray, list[str]]:
    """A seeded, class-balanced ``per_class`` of ImageNetV2's 10 images per class (all of
    them at 10), straight from the unpacked archive: the files the published figures
    were measured on, not re-encoded copies. Label ``i`` is ImageNet class ``i``."""
    from ..classnames import imagenet_key
    from ..data import imagenetv2, manifests
    from ..data.sources import DataError
    from ..data.splits import seeded_order

    folder, _note, synthetic = imagenetv2.locate(cfg)
    files = imagenetv2.class_files(folder)
    keys = sorted(files)
    if keys != [imagenet_key(i) for i in range(len(keys))] or (
            not synthetic and len(keys) != imagenetv2.ARCHIVE["classes"]):
        raise DataError(f"{folder} holds {len(keys)} class folders, ImageNetV2 has "
                        f"{imagenetv2.ARCHIVE['classes']} (0/ ... 999/).")
    paths: list[str] = []
    labels: list[int] = []
    rows: list[tuple[str, str]] = []
    for i, key in enumerate(keys):
        take = seeded_order(list(files[key]), cfg.seed, f"imagenetv2/{key}")[:per_class]
        paths += [str(files[key][k]) for k in take]
        labels += [i] * len(take)
        rows += [(key, k) for k in take]
    downloaded = not synthetic and Path(folder).parent == Path(cfg.work_dir) / "downloads"
    archive = {k: imagenetv2.ARCHIVE[k] for k in ("file", "sha256")}
    manifests.record(f"imagenetv2 ({per_class} a class)", "imagenetv2", cfg.seed, rows,
                     archives=[{**archive, "verified_by": "its published SHA-256"}] if downloaded else None,
                     synthetic=synthetic)
    return paths, np.asarray(labels, dtype=np.int64), keys


def imagenetv2_origin(used: Sequence[dict[str, Any]] | None = None) -> str | None:
    """Where this process's ImageNetV2 images came from, as a sentence for the chapter:
    the downloaded archive, a copy in ``data_root``, or a generated stand-in (a smoke
    run's, which measures nothing about ImageNetV2). Read from the split records
    (:func:`clipdistill.data.manifests.used`, or ``used``); None when none was used."""
    from ..data import manifests

    entries = [e for e in (manifests.used() if used is None else used)
               if e.get("source") == "imagenetv2"]
    if not entries:
        return None
    entry = entries[-1]
    if entry.get("synthetic"):
        return ("These images are a generated stand-in in ImageNetV2's layout "
                "(shapes drawn from the run's seed), not ImageNetV2, which a smoke run "
                "does not download: no number in this section measures ImageNetV2.")
    if entry.get("archives"):
        return ("These images are ImageNetV2's own, from the archive this run "
                "downloaded and checked against its published SHA-256.")
    return ("These images are ImageNetV2's own, read from the copy in "
            "`data_root`.")


def _embed_all_images(cfg: Any, clip: Any, splits: dict[str, tuple[list[str], np.ndarray, list[str]]],
                      progress: bool) -> dict[str, np.ndarray]:
    """Every dataset's images in one pass (one DataLoader start-up), then cut per dataset."""
    from .. import embed

    paths = [p for ps, _, _ in splits.values() for p in ps]
    x = np.asarray(embed.embed_images(clip, paths, cache_dir=_embed_cache(cfg), batch_size=cfg.batch_size,
                                      num_workers=cfg.num_workers, progress=progress), dtype=np.float32)
    bounds = np.cumsum([len(ps) for ps, _, _ in splits.values()])[:-1]
    return dict(zip(splits, np.split(x, bounds)))


def _check_sets(template_sets: Sequence[str], datasets: Sequence[str]) -> None:
    """Fail in a second on a bad set name or file, not after the first model's images."""
    for spec in template_sets:
        for ds in datasets:
            get_template_set(spec, ds)


def _text_batch(cfg: Any) -> int:
    return int(getattr(cfg, "embed_text_batch_size", 256))  # chapter 02's knob


def _text_encoder(cfg: Any, clip: Any, progress: bool) -> Callable[[list[str]], np.ndarray]:
    from .. import embed

    return lambda texts: embed.embed_texts(clip, texts, cache_dir=_embed_cache(cfg),
                                           batch_size=_text_batch(cfg), progress=progress)


def _ranking_rows(cfg: Any, clip: Any, tset: TemplateSet, classnames: list[str], image_emb: np.ndarray,
                  labels: np.ndarray, progress: bool) -> list[dict[str, Any]]:
    """template_ranking for one (model, dataset), cached as JSON beside the class embeddings."""
    images = array_digest(image_emb)
    key = stable_hash("ranking", clip.key, tset.fingerprint(), classnames, images, labels)
    path = _ensemble_dir(cfg) / "rankings" / f"{key}.json"
    if path.is_file():
        return json.loads(path.read_text())
    per_class = encode_prompts(_text_encoder(cfg, clip, progress), tset.prompts(classnames))
    rows = template_ranking(np.stack(per_class), tset.templates, image_emb, labels)
    atomic_write_json(path, rows)
    return rows


def sweep(cfg: Any, models: Sequence[str] | None = None, template_sets: Sequence[str] | None = None,
          datasets: Sequence[str] | None = None, *, rank_set: str | None = None,
          write: bool = True, progress: bool = True) -> "pd.DataFrame":  # noqa: F821
    """Zero-shot top-1 accuracy for every model x template set x dataset.

    Defaults come from cfg (ensemble_models, template_sets, ensemble_datasets). Every
    expensive step is cached (image and prompt embeddings, class embeddings, rankings),
    so a rerun or an interrupted run picks up where it was. With ``rank_set`` (default
    ``cfg.ensemble_rank_set`` when it is among the sets) each of that set's templates is
    also ranked; the ranking is in ``df.attrs["ranking"]``. On the 1,000-class ImageNet
    sets, ``cfg.supervised_model`` (torchvision's ResNet-50) is measured on the same images:
    ``df.attrs["supervised"]`` (:func:`supervised_baseline`). With ``write`` the tables go to
    ``results/<profile>/04_prompt_ensembles_{sweep,ranking,supervised}.csv``.
    """
    import pandas as pd

    models = list(models or cfg.ensemble_models)
    template_sets = list(template_sets or cfg.template_sets)
    datasets = list(datasets or sweep_datasets(cfg))
    if rank_set is None and cfg.ensemble_rank_set in template_sets:
        rank_set = cfg.ensemble_rank_set
    _check_sets(template_sets + ([rank_set] if rank_set else []), datasets)

    splits = {ds: load_dataset(cfg, ds) for ds in datasets}
    rows: list[dict[str, Any]] = []
    ranking: list[dict[str, Any]] = []
    predictions: dict[tuple[str, str, str], np.ndarray] = {}
    for spec in models:
        clip = load_model(cfg, spec)
        image_emb = _embed_all_images(cfg, clip, splits, progress)
        sets = {(ds, s): resolve_template_set(s, ds, cfg.ensemble_max_templates)
                for ds in datasets for s in dict.fromkeys(template_sets + ([rank_set] if rank_set else []))}
        # One text pass for every prompt not yet in a class-embedding cache: big batches, one bar.
        todo = [p for (ds, _), t in sets.items()
                if not class_cache_path(clip, t, splits[ds][2], _ensemble_dir(cfg)).is_file()
                for per_class in t.prompts(splits[ds][2]) for p in per_class]
        if todo:
            _text_encoder(cfg, clip, progress)(list(dict.fromkeys(todo)))
        for ds, (_, labels, names) in splits.items():
            base = {"model": spec, "dataset": ds, "classes": len(names), "images": len(labels),
                    "published_names": all_published(ds, names)}
            for s in template_sets:
                w = class_embeddings(clip, sets[ds, s], names, cache_dir=_ensemble_dir(cfg),
                                     text_cache_dir=_embed_cache(cfg), batch_size=_text_batch(cfg),
                                     progress=progress)
                pred = predict(image_emb[ds], w)
                predictions[spec, ds, s] = pred
                rows.append({**base, "template_set": s, "templates": sets[ds, s].name,
                             "n_templates": len(sets[ds, s]),
                             "accuracy": float((pred == labels).mean())})
            tset = sets.get((ds, rank_set))
            if tset is not None and not tset.is_per_class and len(tset) > 1:
                ranking += [{**base, "template_set": rank_set, **r}
                            for r in _ranking_rows(cfg, clip, tset, names, image_emb[ds], labels, progress)]
        del clip
    df = pd.DataFrame(rows)
    df.attrs["ranking"] = pd.DataFrame(ranking)
    df.attrs["supervised"] = supervised_baseline(cfg, splits, progress=progress)
    # Per-image predictions, for paired intervals of the gaps between template sets.
    df.attrs["predictions"] = predictions
    df.attrs["labels"] = {ds: labels for ds, (_, labels, _) in splits.items()}
    if write:
        out = Path(cfg.profile_dir())
        for name in ("sweep", "ranking", "supervised"):
            table = df if name == "sweep" else df.attrs[name]
            atomic_write_text(out / f"{CHAPTER}_{name}.csv", table.to_csv(index=False))
    return df


IMAGENET_SETS = ("imagenet", "imagenetv2")  # label i is ImageNet class i: a classifier's own


def supervised_baseline(cfg: Any, splits: dict[str, tuple[list[str], np.ndarray, list[str]]],
                        *, progress: bool = True) -> "pd.DataFrame":  # noqa: F821
    """``cfg.supervised_model``'s top-1 on the ImageNet sets among ``splits`` (the images the
    zero-shot models saw), one row a dataset; empty without such a set or a model."""
    import pandas as pd

    from .. import supervised

    sets = [ds for ds in splits if ds in IMAGENET_SETS]
    if not sets or not cfg.supervised_model:
        return pd.DataFrame(columns=["model", "dataset", "classes", "images", "correct",
                                     "accuracy"])
    clf = supervised.load_supervised(cfg)
    rows = []
    for ds in sets:
        paths, labels, names = splits[ds]
        res = supervised.evaluate(clf, paths, labels, cache_dir=_embed_cache(cfg),
                                  batch_size=cfg.batch_size, num_workers=cfg.num_workers,
                                  progress=progress)
        rows.append({"model": clf.name, "dataset": ds, "classes": len(names),
                     "images": res["images"], "correct": res["correct"], "accuracy": res["accuracy"]})
    return pd.DataFrame(rows)


def sweep_datasets(cfg: Any) -> list[str]:
    """cfg.ensemble_datasets, plus ImageNet-1k val when cfg.imagenet_root points at it."""
    extra = ["imagenet"] if cfg.imagenet_root and "imagenet" not in cfg.ensemble_datasets else []
    return [*cfg.ensemble_datasets, *extra]
