"""Chapter 06's verdict table: each of our numbers, its interval, and the published ones.

One row per (our number, published figure of the same metric). What makes two numbers
comparable is decided here, from what the results files record, before any value is
looked at:

- the same model (the published figures are looked up by our model's name);
- the same metric: a class-balanced sample of an unbalanced test set (MNIST, Pets,
  Caltech-101) estimates the *mean per-class recall*, so it is set beside that; a
  balanced test set (CIFAR-10, ImageNet) has one number for both, reported as top-1;
- all the classes (``not comparable: 5 of 37 classes`` otherwise: fewer classes is an
  easier test), the source's prompts (chapter 04's dataset-specific set, uncut) and its
  class names (:mod:`clipdistill.classnames`; ``class names`` otherwise);
- a sample of the test images is fine: that is what the interval is for.

Chapter 05's distillation headline compares students with their teacher, not with a
published figure, and has its own section in chapter 06.
"""

from __future__ import annotations

import re
from typing import Any, Mapping, Sequence

import pandas as pd

from .published import (CALTECH_TEST_IMAGES, METRICS, REFERENCE_EXPERIMENT, REFERENCE_SPEEDS,
                        REFERENCE_SPEED_MODELS, REFERENCES, SOURCES, TEST_SETS, Reference,
                        references_for)
from .findings import number_text
from .verdicts import Estimate, from_counts, from_report, verdict

__all__ = ["comparison_table", "display_table", "sources_markdown", "plot_comparison",
           "COLUMNS"]

COLUMNS = ["experiment", "model", "ours", "low", "high", "n", "metric", "published",
           "source", "verdict"]
METRIC_LABELS = {"top1": "top-1", "mean_per_class_recall": "mean recall",
                 "macro_f1": "macro F1", "images/s": "images/s"}


def _get(d: Mapping[str, Any] | None, *keys: str) -> Any:
    for key in keys:
        if not isinstance(d, Mapping) or key not in d:
            return None
        d = d[key]
    return d


def _rows(experiment: str, model: str | None, metric: str, ours: Estimate | None,
          value: Any, refs: Sequence[tuple[Reference, str | None]], smoke: bool,
          n: int | None = None) -> list[dict[str, Any]]:
    """The table rows for one of our numbers: one per reference (one row if none)."""
    value = ours.value if ours is not None else (float(value) if isinstance(value, (int, float)) else None)
    base = {"experiment": experiment, "model": model, "ours": value,
            "low": ours.low if ours else None, "high": ours.high if ours else None,
            "n": ours.n if ours else n, "metric": metric}
    if not refs:
        return [{**base, "published": None, "source": "", "verdict": ""}]
    return [{**base, "published": ref.value, "source": SOURCES[ref.source]["short"],
             "verdict": verdict(ours, ref.value, smoke=smoke, not_comparable=why)}
            for ref, why in refs]


def _metric_for(dataset: str) -> str:
    return "top1" if TEST_SETS[dataset]["balanced"] else "mean_per_class_recall"


def _why(*reasons: str | None) -> str | None:
    return ", ".join(r for r in reasons if r) or None


def _classes(ours: int | None, dataset: str) -> str | None:
    total = TEST_SETS[dataset]["classes"]
    return f"{ours} of {total} classes" if ours is not None and ours < total else None


def _published(model: str | None, dataset: str, metric: str,
               why: str | None) -> list[tuple[Reference, str | None]]:
    """Every source's figure for this model, dataset and metric (never another metric)."""
    return [(r, why) for r in references_for(model, dataset) if r.metric == metric]


def _spec(res: Mapping[str, Any] | None) -> str | None:
    cfg = _get(res, "config") or {}
    return f"{cfg['clip_model']}/{cfg['clip_pretrained']}" if "clip_model" in cfg else None


# -- chapters 02 and 03 -----------------------------------------------------------------
def _earlier(key: str, models: Mapping[str, str | None], data: str | None,
             ) -> list[tuple[Reference, str | None]]:
    """The earlier cats-vs-dogs experiment's figure, comparable with the same models and images."""
    entry = REFERENCE_EXPERIMENT[key]
    ref = next(r for r in REFERENCES if r.source == "reference_experiment" and r.model == entry["model"])
    model = any(models.get(k) != v for k, v in entry["models"].items())
    return [(ref, _why("model" if model else None, "images" if data != entry["data"] else None))]


def _chapter02(r02: Mapping[str, Any] | None) -> list[dict[str, Any]]:
    if r02 is None:
        return []
    from .templates import DATASET_TEMPLATE_SET, TEMPLATE_SETS

    smoke, m, clip = bool(r02.get("smoke")), r02.get("metrics", {}), _get(r02, "models", "clip")
    cfg = r02.get("config", {})
    reports = m.get("reports") or {}
    knn = from_report(m.get("knn_report"), "macro_f1")
    rows = _rows("cats vs dogs, image kNN (ch. 2)", clip, "macro_f1", knn, m.get("knn_macro_f1"),
                 _earlier("clip_image_knn", {"clip": clip}, cfg.get("pets_source")), smoke)
    rows += _rows("cats vs dogs, random floor (ch. 2)", clip, "macro_f1", None,
                  m.get("random_floor_macro_f1"), [], smoke, knn.n if knn else None)
    rows += _rows("cats vs dogs, zero-shot (ch. 2)", clip, "top1",
                  from_report(reports.get("zero_shot"), "top1"), m.get("zero_shot_accuracy"), [], smoke)
    prompts = {"cifar10": list(cfg.get("zero_shot_templates") or []),
               "mnist": [t for s in (cfg.get("mnist_prompts") or {}).values() for t in s["templates"]]}
    for dataset, label in (("cifar10", "CIFAR-10, one prompt (ch. 2)"),
                           ("mnist", "MNIST, prompt mix (ch. 2)")):
        metric = _metric_for(dataset)
        ours = from_report(reports.get(dataset), metric)
        same = prompts[dataset] == list(TEMPLATE_SETS[DATASET_TEMPLATE_SET[dataset]])
        why = _why(None if same else "prompts", _classes(ours.classes if ours else None, dataset))
        rows += _rows(label, clip, metric, ours, m.get(f"{dataset}_accuracy"),
                      _published(clip, dataset, metric, why), smoke)
    rows += _speed("image embedding speed (ch. 2)", clip, m.get("throughput_cold_images_per_s"),
                   "clip_vit_b16_images_per_s", smoke)
    return rows


def _same_model(ours: str | None, theirs: str) -> bool:
    """``ViT-B-16/openai`` is ViT-B-16; ``Qwen/Qwen2.5-VL-7B-Instruct`` is Qwen2.5-VL-7B."""
    def squash(name: str) -> str:
        return "".join(c for c in name.lower() if c.isalnum())

    return ours is None or squash(theirs) in squash(ours)


def _speed(experiment: str, model: str | None, value: Any, key: str, smoke: bool) -> list[dict[str, Any]]:
    differs = _why(None if _same_model(model, REFERENCE_SPEED_MODELS[key]) else "model",
                   "hardware")
    row = {"experiment": experiment, "model": model,
           "ours": float(value) if isinstance(value, (int, float)) else None, "low": None,
           "high": None, "n": None, "metric": "images/s", "published": REFERENCE_SPEEDS[key],
           "source": SOURCES["reference_experiment"]["short"],
           "verdict": verdict(None, REFERENCE_SPEEDS[key], smoke=smoke, not_comparable=differs)}
    return [row]


def _chapter03(r03: Mapping[str, Any] | None) -> list[dict[str, Any]]:
    if r03 is None:
        return []
    smoke, m = bool(r03.get("smoke")), r03.get("metrics", {})
    vlm, clip = _get(r03, "models", "vlm"), _spec(r03)
    rows = []
    for prompt in ("generic", "specific"):
        ours = from_report(_get(m, "knn_reports", prompt), "macro_f1")
        refs = (_earlier("vlm_generic_description_knn", {"vlm": vlm, "clip": clip},
                         _get(r03, "config", "pets_source")) if prompt == "generic" else [])
        rows += _rows(f"cats vs dogs, VLM {prompt} kNN (ch. 3)", vlm, "macro_f1", ours,
                      _get(m, "knn_macro_f1", prompt), refs, smoke)
    rows += _speed("VLM description speed (ch. 3)", vlm, _get(m, "images_per_s", "generic"),
                   "qwen25_vl_7b_images_per_s", smoke)
    return rows


# -- chapter 04 -------------------------------------------------------------------------
def _chapter04(r04: Mapping[str, Any] | None, sweep: pd.DataFrame | None) -> list[dict[str, Any]]:
    """The dataset-specific prompt set: the prompts CLIP_benchmark and DataComp use.

    Chosen because it is the published protocol, not because it scores best.
    """
    if r04 is None or sweep is None or sweep.empty:
        return []
    from .templates import DATASET_TEMPLATE_SET, TEMPLATE_SETS

    smoke, per_class = bool(r04.get("smoke")), _get(r04, "config", "ensemble_per_class")
    rows = []
    for r in sweep[sweep["template_set"] == "dataset"].itertuples(index=False):
        if r.dataset not in TEST_SETS:
            continue
        name, metric = TEST_SETS[r.dataset]["name"].split(" (")[0], _metric_for(r.dataset)
        n, classes = int(r.images), int(r.classes)
        balanced = per_class is not None and n == classes * int(per_class)
        # Equal class sizes: the accuracy *is* the mean per-class recall (module docstring).
        ours = from_counts(round(r.accuracy * n), n, metric, classes) if balanced or metric == "top1" else None
        full = len(TEMPLATE_SETS[DATASET_TEMPLATE_SET[r.dataset]])
        named = getattr(r, "published_names", True)  # older sweep files lack the column
        named = True if pd.isna(named) else bool(named)
        why = _why(_classes(classes, r.dataset),
                   f"{r.n_templates} of {full} prompts" if int(r.n_templates) < full else None,
                   None if named else "class names",
                   None if ours else "unequal class sizes")
        rows += _rows(f"{name}, dataset prompts (ch. 4)", r.model, metric, ours, r.accuracy,
                      _published(r.model, r.dataset, metric, why), smoke, n)
    return rows


def _supervised04(r04: Mapping[str, Any] | None, sweep: pd.DataFrame | None) -> list[dict[str, Any]]:
    """Chapter 04's supervised baseline (``sweep.attrs["supervised"]``) beside the published
    figures for the same weights: the yardstick the zero-shot rows are read against."""
    table = None if sweep is None else sweep.attrs.get("supervised")
    if r04 is None or table is None or len(table) == 0:
        return []
    smoke, rows = bool(r04.get("smoke")), []
    for r in table.itertuples(index=False):
        if r.dataset not in TEST_SETS:
            continue
        n, classes = int(r.images), int(r.classes)
        ours = from_counts(int(r.correct), n, "top1", classes) if n else None
        why = _why(_classes(classes, r.dataset))
        name = TEST_SETS[r.dataset]["name"].split(" (")[0]
        rows += _rows(f"{name}, supervised (ch. 4)", r.model, "top1", ours, r.accuracy,
                      _published(r.model, r.dataset, "top1", why), smoke, n)
    return rows


def comparison_table(results: Mapping[str, dict[str, Any] | None],
                     sweep: pd.DataFrame | None = None) -> pd.DataFrame:
    """Every headline number of chapters 02-04 beside every published figure it matches.

    ``sweep`` is chapter 04's ``04_prompt_ensembles_sweep.csv`` (it records the images
    and classes behind each accuracy), with its supervised baseline in
    ``attrs["supervised"]`` (:func:`clipdistill.report.ensemble_sweep` reads both). Numeric columns stay numeric (see COLUMNS);
    :func:`display_table` formats them for the page.
    """
    r04 = results.get("04_prompt_ensembles")
    rows = (_chapter02(results.get("02_zero_shot_clip")) + _chapter03(results.get("03_vlm_descriptions"))
            + _supervised04(r04, sweep) + _chapter04(r04, sweep))
    return pd.DataFrame(rows, columns=COLUMNS)


def display_table(table: pd.DataFrame):
    """The table as the book shows it: short columns, the interval as one cell, the model
    under its experiment (a column of its own pushed the verdicts off a 688-pixel page),
    and each of our numbers written once above the references it is compared with."""
    import html

    def named(experiment: str, model: Any) -> str:
        model = "" if model is None or pd.isna(model) else str(model)
        return html.escape(str(experiment)) + (
            f'<br><span style="font-size:smaller">{html.escape(model)}</span>' if model else "")

    first = ~table[["experiment", "model"]].eq(table[["experiment", "model"]].shift()).all(axis=1)
    out = pd.DataFrame({
        "experiment": [named(e, m) for e, m in zip(table["experiment"], table["model"])],
        "ours": [number_text(v, 1 if m == "images/s" else 3)
                 for v, m in zip(table["ours"], table["metric"])],
        "95% interval": [f"{lo:.3f}–{hi:.3f}" if pd.notna(lo) and pd.notna(hi) else "–"
                         for lo, hi in zip(table["low"], table["high"])],
        "n": [number_text(v, 0) for v in table["n"]],
        "metric": table["metric"].map(METRIC_LABELS),
        "published": [number_text(v, 1 if m == "images/s" else 3)
                      for v, m in zip(table["published"], table["metric"])],
        "source": table["source"].replace("", "–"), "verdict": table["verdict"].replace("", "–"),
    })
    out.loc[~first.to_numpy(), ["experiment", "ours", "95% interval", "n", "metric"]] = ""
    return out.style.hide(axis="index")


def sources_markdown() -> str:
    """The legend under the table: sources (with file and commit), metrics, verdicts."""
    lines = ["**Sources**", ""]
    for src in SOURCES.values():
        where = (f" ({src['repo']}, `{src['path']}` at commit `{src['commit'][:12]}`)"
                 if src["repo"] else (f" ({src['path']})" if src["path"] else ""))
        lines.append(f"- **{src['short']}**{where}: {src['what']}.")
    sizes = ", ".join(f"{t['name'].split(' (')[0]} {t['images']:,}" for k, t in TEST_SETS.items()
                      if k not in ("cats_dogs", "caltech101"))
    lines.append(f"- **Test sets** behind the published figures: {sizes}; Caltech-101 "
                 f"{CALTECH_TEST_IMAGES['clip_benchmark']:,} (CLIP_benchmark) or "
                 f"{CALTECH_TEST_IMAGES['open_clip']:,} (DataComp), 102 classes with "
                 f"\"background\"; the earlier experiment 200.")
    lines += ["", "**Metrics**", ""]
    for key, text in METRICS.items():
        name, what = text.split(": ", 1)
        lines.append(f"- **{METRIC_LABELS[key]}** ({name}): {what}.")
    lines += ["", "**Verdicts** compare the published value with our 95% interval: "
              "*consistent* when it lies inside, *below* or *above* when our whole interval "
              "lies below or above it. *not comparable* names what differs (model, images, "
              "classes, prompts, hardware); a smoke run gets no verdict, only that list. "
              "Our images are a seeded sample of each test set (Oxford-IIIT Pet: its "
              "trainval and test images pooled; Caltech-101: all images, without the "
              "background class, so its rows are for reference only: the published "
              "figures score that class as a 102nd, and our 101 never get a verdict), "
              "and *n* is the number of test images behind each of our "
              "numbers: a smaller sample gives a wider interval, so it more often says "
              "*consistent*; being small never makes a sample *not comparable*."]
    return "\n".join(lines)


def plot_comparison(table: pd.DataFrame, title: str = "", *, smoke: bool = False):
    """Ours (with its 95% interval) beside each published figure of the same metric."""
    import matplotlib.pyplot as plt
    import numpy as np

    both = table[table["metric"].isin(list(METRICS)) & table["published"].notna()
                 & table["ours"].notna()]
    # Each row's label takes two or three lines (experiment; model and source), so the labels and
    # the axes share the book's 7-inch column at 8 pt instead of being shrunk into it.
    fig, ax = plt.subplots(figsize=(6.4, 0.55 * max(len(both), 2) + 1.4))
    if both.empty:
        ax.text(0.5, 0.5, "no result has a published counterpart yet", ha="center", va="center")
        ax.axis("off")
        return fig
    y = np.arange(len(both))
    ours = both["ours"].to_numpy(float)
    low = np.where(both["low"].notna(), both["low"].to_numpy(float, na_value=np.nan), ours)
    high = np.where(both["high"].notna(), both["high"].to_numpy(float, na_value=np.nan), ours)
    label = "ours, 95% interval" + (" (RANDOM WEIGHTS: not a result)" if smoke else "")
    ax.errorbar(ours, y, xerr=[ours - low, high - ours], fmt="o", capsize=3,
                color="#e53935" if smoke else "#1e88e5", label=label)
    ax.scatter(both["published"], y, marker="D", color="#37474f", zorder=3, label="published")
    def label(experiment: str, model: Any, source: str) -> str:  # one sweep row per model
        import textwrap

        short = "" if model is None or pd.isna(model) else f"{str(model).split('/')[0]} · "
        kept = re.sub(r"\(ch\. (\d)\)", "(ch.\u00a0\\1)", experiment)  # never "(ch." | "4)"
        return f"{textwrap.fill(kept, 40)}\n{short}{source}"

    ax.set_yticks(y, [label(*row) for row in zip(both["experiment"], both["model"],
                                                   both["source"])], fontsize=8)
    ax.invert_yaxis()
    ax.set_xlim(-0.02, 1.02)  # a point at 0 stays whole
    ax.set_xlabel("accuracy / mean recall / macro F1")
    # Above the axes, not inside: any corner of the plot can hold a row's points.
    ax.legend(loc="lower left", bbox_to_anchor=(0, 1.0), ncol=2, fontsize=8, frameon=False)
    ax.set_title(title or "Our numbers beside the published ones", pad=22)
    fig.tight_layout()
    return fig
