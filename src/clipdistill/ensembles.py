"""Prompt ensembles: one class embedding from many prompts, cached, swept, ranked.

Why an ensemble helps: one prompt ("a photo of a {}.") is one point near the class in the
text embedding space, with that sentence's quirks. Averaging the unit-length embeddings
of many phrasings ("a sketch of a {}.", "a low resolution photo of the {}.", even "a
tattoo of a {}.") cancels the quirks and leaves a rounder prototype of the class itself;
renormalising puts it back on the sphere where cosine similarity is measured.

The pieces:

- :func:`ensemble` is the math alone, over an array of prompt embeddings (tested by hand);
- :func:`class_embeddings` builds a model's class matrix (template lists through chapter 02's
  :func:`clipdistill.zeroshot.build_zero_shot_classifier`, per-class sentences through
  :func:`ensemble`; :func:`clipdistill.embed.embed_texts` caches each prompt) and caches it
  per (model, template set, class names) under ``work_dir/ensembles/class_embeddings``;
- :func:`sweep` evaluates models x template sets x datasets and writes CSVs;
- :func:`template_ranking` scores each template alone and its effect on the ensemble;
- :data:`PUBLISHED_IMAGENET` and :func:`comparison_table` set our numbers beside the
  published ones in the layout of the reference table.
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path
from typing import Any, Callable, Sequence

import numpy as np

from .io import array_digest, atomic_save_npy, atomic_write_json, atomic_write_text, stable_hash
from .templates import LABELS, TemplateError, TemplateSet, get_template_set
from .vectors import l2_normalize

__all__ = [
    "PUBLISHED_IMAGENET",
    "ensemble",
    "encode_prompts",
    "class_embeddings",
    "top1",
    "template_ranking",
    "resolve_template_set",
    "sweep",
    "comparison_table",
    "ranking_summary",
    "published_table",
    "sweep_datasets",
    "metrics",
    "plot_ranking",
    "plot_accuracy",
    "run_sweep",
    "CHAPTER",
]

CHAPTER = "04_prompt_ensembles"

# ImageNet-1k top-1 accuracy (%) from the reference tutorial's results table (seed 004).
# reported_clip: Table 11 of the CLIP paper (Radford et al., 2021); reported_siglip:
# Table 3 of the SigLIP paper (Zhai et al., 2023); openai80 / standard / raw: the tutorial's
# own runs with the 80 OpenAI templates, "a photo of a {}." and the bare class name.
PUBLISHED_IMAGENET: dict[str, dict[str, Any]] = {
    "RN50/openai": {"label": "CLIP ResNet-50 (224px)", "reported_clip": 59.6, "reported_siglip": None,
                    "openai80": 59.8, "standard": 57.9, "raw": 55.3},
    "ViT-B-32/openai": {"label": "CLIP ViT-B/32 (224px)", "reported_clip": 63.2, "reported_siglip": None,
                        "openai80": 63.3, "standard": 61.9, "raw": 59.0},
    "ViT-B-16/openai": {"label": "CLIP ViT-B/16 (224px)", "reported_clip": 68.6, "reported_siglip": 68.3,
                        "openai80": 68.3, "standard": 66.6, "raw": 64.1},
    "ViT-L-14/openai": {"label": "CLIP ViT-L/14 (224px)", "reported_clip": 75.3, "reported_siglip": 75.5,
                        "openai80": 75.5, "standard": 72.9, "raw": 71.6},
    "ViT-L-14-336/openai": {"label": "CLIP ViT-L/14 (336px)", "reported_clip": 76.2, "reported_siglip": 76.6,
                            "openai80": 76.5, "standard": 74.3, "raw": 73.0},
    "ViT-B-16-SigLIP/webli": {"label": "SigLIP ViT-B/16 (224px)", "reported_clip": None, "reported_siglip": 76.3,
                              "openai80": 76.1, "standard": 75.7, "raw": 74.8},
    "ViT-B-16-SigLIP-256/webli": {"label": "SigLIP ViT-B/16 (256px)", "reported_clip": None,
                                  "reported_siglip": 76.6, "openai80": 76.5, "standard": 76.3, "raw": 75.2},
    "ViT-L-16-SigLIP-256/webli": {"label": "SigLIP ViT-L/16 (256px)", "reported_clip": None,
                                  "reported_siglip": 80.6, "openai80": 80.5, "standard": 79.7, "raw": 78.9},
}
PUBLISHED_SOURCE = (
    "Reported ~ CLIP: Table 11 of the CLIP paper; Reported ~ SigLIP: Table 3 of the SigLIP "
    "paper; both as collected in the reference zero-shot tutorial (seed 004)."
)


# -- the math ---------------------------------------------------------------------------
def ensemble(prompt_embeddings: np.ndarray | Sequence[np.ndarray]) -> np.ndarray:
    """Class embeddings (C, D) from prompt embeddings: (C, T, D), or C arrays (T_c, D).

    Each prompt embedding is L2-normalised, a class's prompts are averaged, and the mean
    is normalised again (a ragged list allows per-class sentence sets).
    """
    if isinstance(prompt_embeddings, np.ndarray):
        if prompt_embeddings.ndim != 3:
            raise ValueError(f"prompt embeddings must be (classes, prompts, dim), got shape {prompt_embeddings.shape}.")
        return l2_normalize(l2_normalize(prompt_embeddings).mean(axis=1))
    return l2_normalize(np.stack([l2_normalize(p).mean(axis=0) for p in prompt_embeddings]))


def encode_prompts(encode: Callable[[list[str]], np.ndarray],
                   prompts: Sequence[Sequence[str]]) -> list[np.ndarray]:
    """Embed all classes' prompts in one call (the encoder batches) and split per class."""
    flat = [p for per_class in prompts for p in per_class]
    emb = np.asarray(encode(flat), dtype=np.float32)
    bounds = np.cumsum([len(p) for p in prompts])[:-1]
    return np.split(emb, bounds)


def top1(image_emb: np.ndarray, class_emb: np.ndarray, labels: np.ndarray) -> float:
    """Zero-shot top-1 accuracy of (C, D) class embeddings; the logit scale does not change the argmax."""
    from .zeroshot import accuracy

    return accuracy(np.asarray(labels), np.argmax(np.asarray(image_emb) @ np.asarray(class_emb).T, axis=1))


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
def _ensemble_dir(cfg: Any) -> Path:
    return Path(cfg.work_dir) / "ensembles"


def _class_cache(clip: Any, tset: TemplateSet, classnames: Sequence[str],
                 cache_dir: str | Path | None) -> Path | None:
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
    1000 classes x 80 templates are embedded once, ever. A template list goes through
    :func:`clipdistill.zeroshot.build_zero_shot_classifier` (chapter 02's classifier, the
    same numbers as open_clip's); per-class sentences through :func:`ensemble`.
    """
    from . import embed, zeroshot

    path = _class_cache(clip, tset, classnames, cache_dir)
    if path is not None and path.is_file():
        return np.load(path)
    prompts = tset.prompts(classnames)
    if tset.is_per_class:
        out = ensemble(encode_prompts(
            lambda texts: embed.embed_texts(clip, texts, cache_dir=text_cache_dir,
                                            batch_size=batch_size, progress=progress),
            prompts))
    else:
        out = zeroshot.build_zero_shot_classifier(clip, list(classnames), list(tset.templates),
                                                  cache_dir=text_cache_dir, batch_size=batch_size,
                                                  progress=progress).T
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


# -- the sweep --------------------------------------------------------------------------
def _embed_cache(cfg: Any) -> Path:
    """The per-text / per-image cache shared with chapter 02 (clipdistill.embed)."""
    from .embed import cache_dir_for

    return cache_dir_for(cfg)


def _load_model(cfg: Any, spec: str) -> Any:
    from . import models

    name, tag = models.parse_spec(spec)
    return models.load_clip_from_config(cfg, name, tag)


def _load_split(cfg: Any, dataset: str) -> tuple[list[str], np.ndarray, list[str]]:
    """(paths, labels, class names for prompts), cut to cfg.ensemble_max_classes classes."""
    from . import data

    if dataset == "imagenet":
        paths, labels, names = _imagenet_val(cfg, cfg.ensemble_per_class)
    else:
        split = data.load_labelled(cfg, dataset, cfg.ensemble_per_class)
        paths, labels, names = [str(p) for p in split.paths], np.asarray(split.labels), list(split.classes)
    if cfg.ensemble_max_classes and len(names) > cfg.ensemble_max_classes:
        keep = labels < cfg.ensemble_max_classes
        paths = [p for p, k in zip(paths, keep) if k]
        labels, names = labels[keep], names[: cfg.ensemble_max_classes]
    return paths, labels, names


def _imagenet_val(cfg: Any, per_class: int) -> tuple[list[str], np.ndarray, list[str]]:
    """A seeded ``per_class`` sample of ImageNet-1k val in ``cfg.imagenet_root``.

    The folder holds one sub-folder per WordNet id (``n01440764/`` ...), the usual layout of
    the val set; sorted ids are the standard class order, which is the order of open_clip's
    ImageNet class names used for the prompts.
    """
    from .data.sources import DataError, scan_class_folders
    from .data.splits import seeded_order
    from .templates import IMAGENET_CLASSNAMES

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
    return paths, np.asarray(labels, dtype=np.int64), list(IMAGENET_CLASSNAMES)


def _embed_all_images(cfg: Any, clip: Any, splits: dict[str, tuple[list[str], np.ndarray, list[str]]],
                      progress: bool) -> dict[str, np.ndarray]:
    """Every dataset's images in one pass (one DataLoader start-up), then cut per dataset."""
    from . import embed

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
    from . import embed

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
    also ranked; the ranking is in ``df.attrs["ranking"]``. With ``write`` both tables go to
    ``results/<profile>/04_prompt_ensembles_{sweep,ranking}.csv``.
    """
    import pandas as pd

    models = list(models or cfg.ensemble_models)
    template_sets = list(template_sets or cfg.template_sets)
    datasets = list(datasets or sweep_datasets(cfg))
    if rank_set is None and cfg.ensemble_rank_set in template_sets:
        rank_set = cfg.ensemble_rank_set
    _check_sets(template_sets + ([rank_set] if rank_set else []), datasets)

    splits = {ds: _load_split(cfg, ds) for ds in datasets}
    rows: list[dict[str, Any]] = []
    ranking: list[dict[str, Any]] = []
    for spec in models:
        clip = _load_model(cfg, spec)
        image_emb = _embed_all_images(cfg, clip, splits, progress)
        sets = {(ds, s): resolve_template_set(s, ds, cfg.ensemble_max_templates)
                for ds in datasets for s in dict.fromkeys(template_sets + ([rank_set] if rank_set else []))}
        # One text pass for every prompt not yet in a class-embedding cache: big batches, one bar.
        todo = [p for (ds, _), t in sets.items()
                if not _class_cache(clip, t, splits[ds][2], _ensemble_dir(cfg)).is_file()
                for per_class in t.prompts(splits[ds][2]) for p in per_class]
        if todo:
            _text_encoder(cfg, clip, progress)(list(dict.fromkeys(todo)))
        for ds, (_, labels, names) in splits.items():
            base = {"model": spec, "dataset": ds, "classes": len(names), "images": len(labels)}
            for s in template_sets:
                w = class_embeddings(clip, sets[ds, s], names, cache_dir=_ensemble_dir(cfg),
                                     text_cache_dir=_embed_cache(cfg), batch_size=_text_batch(cfg),
                                     progress=progress)
                rows.append({**base, "template_set": s, "templates": sets[ds, s].name,
                             "n_templates": len(sets[ds, s]), "accuracy": top1(image_emb[ds], w, labels)})
            tset = sets.get((ds, rank_set))
            if tset is not None and not tset.is_per_class and len(tset) > 1:
                ranking += [{**base, "template_set": rank_set, **r}
                            for r in _ranking_rows(cfg, clip, tset, names, image_emb[ds], labels, progress)]
        del clip
    df = pd.DataFrame(rows)
    df.attrs["ranking"] = pd.DataFrame(ranking)
    if write:
        out = Path(cfg.profile_dir())
        atomic_write_text(out / f"{CHAPTER}_sweep.csv", df.to_csv(index=False))
        atomic_write_text(out / f"{CHAPTER}_ranking.csv", df.attrs["ranking"].to_csv(index=False))
    return df


def sweep_datasets(cfg: Any) -> list[str]:
    """cfg.ensemble_datasets, plus ImageNet-1k val when cfg.imagenet_root points at it."""
    extra = ["imagenet"] if cfg.imagenet_root and "imagenet" not in cfg.ensemble_datasets else []
    return [*cfg.ensemble_datasets, *extra]


# -- tables and figures -----------------------------------------------------------------
def _model_label(spec: str) -> str:
    return PUBLISHED_IMAGENET.get(spec, {}).get("label", spec)


def comparison_table(df: "pd.DataFrame", dataset: str, *,  # noqa: F821
                     order: Sequence[str] | None = None, published: bool | None = None) -> "pd.DataFrame":  # noqa: F821
    """One dataset's accuracies (%) in the reference layout: a row a model, a column a set.

    For ImageNet-1k (``dataset == "imagenet"``) the published CLIP and SigLIP numbers are
    set beside ours; elsewhere there is nothing published to compare with.
    """
    import pandas as pd

    sub = df[df["dataset"] == dataset]
    if sub.empty:
        raise ValueError(f"No results for dataset {dataset!r}; have: {', '.join(sorted(df['dataset'].unique()))}.")
    sets = list(order or dict.fromkeys(sub["template_set"]))
    wide = sub.pivot_table(index="model", columns="template_set", values="accuracy", sort=False) * 100
    table = pd.DataFrame(index=list(dict.fromkeys(sub["model"])))
    if published if published is not None else dataset == "imagenet":
        for col, key in (("Reported ~ CLIP", "reported_clip"), ("Reported ~ SigLIP", "reported_siglip")):
            table[col] = [PUBLISHED_IMAGENET.get(m, {}).get(key) for m in table.index]
    for s in sets:
        table[f"Results ~ {LABELS.get(s, s)}"] = wide[s].reindex(table.index) if s in wide else float("nan")
    table.index = [_model_label(m) for m in table.index]
    table.index.name = "Model"
    return table.astype(float).round(1)


def ranking_summary(ranking: "pd.DataFrame") -> "pd.DataFrame":  # noqa: F821
    """Per template, averaged over models and datasets: accuracy alone and leave-one-out delta
    (in points), sorted from most helpful to most harmful to the ensemble."""
    if ranking.empty:
        raise ValueError("The ranking is empty: sweep with a multi-template rank set (e.g. openai80).")
    out = ranking.groupby("template", sort=False)[["single", "loo_delta"]].mean() * 100
    return out.sort_values("loo_delta", ascending=False).round(2)


def published_table() -> "pd.DataFrame":  # noqa: F821
    """The reference table itself (ImageNet-1k top-1, %), as PUBLISHED_IMAGENET holds it."""
    import pandas as pd

    cols = {"reported_clip": "Reported ~ CLIP", "reported_siglip": "Reported ~ SigLIP",
            "openai80": "Results ~ CLIP 80", "standard": "Results ~ Standard", "raw": "Results ~ Raw"}
    table = pd.DataFrame([{cols[k]: row[k] for k in cols} for row in PUBLISHED_IMAGENET.values()],
                         index=[row["label"] for row in PUBLISHED_IMAGENET.values()], dtype=float)
    table.index.name = "Model"
    return table


def metrics(df: "pd.DataFrame") -> dict[str, dict[str, dict[str, float]]]:  # noqa: F821
    """``{model: {dataset: {template_set: accuracy}}}`` for the chapter's results file."""
    out: dict[str, dict[str, dict[str, float]]] = {}
    for row in df.itertuples(index=False):
        out.setdefault(row.model, {}).setdefault(row.dataset, {})[row.template_set] = float(row.accuracy)
    return out


def plot_ranking(summary: "pd.DataFrame", top: int = 15, title: str = ""):  # noqa: F821
    """Bars of the leave-one-out delta (points): the most helpful and most harmful templates."""
    import matplotlib.pyplot as plt

    shown = summary if len(summary) <= 2 * top else summary.iloc[np.r_[:top, len(summary) - top:len(summary)]]
    shown = shown.iloc[::-1]
    fig, ax = plt.subplots(figsize=(7, 0.28 * len(shown) + 1.2))
    colors = ["#2e7d32" if v >= 0 else "#c62828" for v in shown["loo_delta"]]
    ax.barh(range(len(shown)), shown["loo_delta"], color=colors)
    ax.set_yticks(range(len(shown)), shown.index, fontsize=8)
    ax.axvline(0, color="black", lw=0.8)
    ax.set_xlabel("ensemble accuracy minus ensemble without this template (points)")
    ax.set_title(title or "Which templates help (green) or hurt (red) the ensemble")
    fig.tight_layout()
    return fig


def plot_accuracy(df: "pd.DataFrame", title: str = ""):  # noqa: F821
    """Grouped bars: accuracy per template set, a panel a dataset, a group a model."""
    import matplotlib.pyplot as plt

    datasets = list(dict.fromkeys(df["dataset"]))
    sets = list(dict.fromkeys(df["template_set"]))
    models = list(dict.fromkeys(df["model"]))
    fig, axes = plt.subplots(1, len(datasets), figsize=(3.2 * len(datasets) + 1, 3.4), squeeze=False)
    width = 0.8 / len(sets)
    for ax, ds in zip(axes[0], datasets):
        sub = df[df["dataset"] == ds]
        for i, s in enumerate(sets):
            acc = [sub[(sub["model"] == m) & (sub["template_set"] == s)]["accuracy"].mean() * 100 for m in models]
            ax.bar(np.arange(len(models)) + i * width, acc, width, label=LABELS.get(s, s))
        ax.set_xticks(np.arange(len(models)) + 0.4 - width / 2, [_model_label(m) for m in models],
                      rotation=30, ha="right", fontsize=8)
        ax.set_title(ds)
        ax.set_ylim(0, 100)
    axes[0][0].set_ylabel("top-1 accuracy (%)")
    axes[0][-1].legend(fontsize=8, loc="upper left", bbox_to_anchor=(1.0, 1.0))
    if title:
        fig.suptitle(title)
    fig.tight_layout()
    return fig


# -- command line -----------------------------------------------------------------------
def _csv(text: str | None) -> list[str] | None:
    return [t.strip() for t in text.split(",") if t.strip()] if text else None


def run_sweep(args: argparse.Namespace, overrides: dict[str, Any]) -> int:
    """`clipdistill sweep`: run :func:`sweep` and print the tables; returns an exit code.

    ``args`` carries the sweep's own options (defined in :mod:`clipdistill.cli`);
    ``overrides`` the already parsed ``--set``/``--data-root`` values.
    """
    import sys

    from .config import ConfigError
    from .session import setup

    try:
        cfg = setup(CHAPTER, getattr(args, "profile", "auto"), overrides, show=False)
        df = sweep(cfg, _csv(args.models), _csv(args.template_sets), _csv(args.datasets),
                   rank_set=args.rank_set)
    except (ConfigError, TemplateError) as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    if cfg.smoke:
        print("SMOKE RUN: random weights, these numbers are not results.")
    for ds in dict.fromkeys(df["dataset"]):
        print(f"\n{ds}\n{comparison_table(df, ds).to_string()}")
    print(f"\nwritten: {Path(cfg.profile_dir()) / (CHAPTER + '_sweep.csv')}")
    return 0
