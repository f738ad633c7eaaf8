"""Chapter 04's tables: the sweep's accuracies in the reference layout, beside the
published ImageNet numbers (:data:`clipdistill.published.IMAGENET_TEMPLATE_SETS`), and
the per-template ranking averaged over models and datasets."""

from __future__ import annotations

import re
from typing import TYPE_CHECKING, Sequence

from ..findings import number_text
from ..published import IMAGENET_TEMPLATE_SETS, IMAGENET_TEMPLATE_SETS_SOURCE
from ..templates import LABELS

if TYPE_CHECKING:
    import pandas as pd

__all__ = ["accuracy_table", "published_table", "published_pattern", "template_gaps",
           "gap_summary", "ranking_summary", "metrics", "model_label", "imagenetv2_table",
           "readable"]

# Column names say whose number it is: the papers', the published tutorial's, or this run's.
REPORTED = {"reported_clip": "CLIP paper", "reported_siglip": "SigLIP paper"}
TUTORIAL, THIS_RUN = "tutorial", "this run"
COMPARED = "top-1 (95% interval)"  # the number set beside the published ones


def _results_column(template_set: str, whose: str = THIS_RUN) -> str:
    return f"{whose}: {LABELS.get(template_set, template_set)}"


def model_label(spec: str) -> str:
    """How the reference table names a model (``RN50/openai`` -> CLIP ResNet-50 (224px))."""
    return IMAGENET_TEMPLATE_SETS.get(spec, {}).get("label", spec)


def accuracy_table(df: pd.DataFrame, dataset: str, *, order: Sequence[str] | None = None,
                   published: bool | None = None) -> pd.DataFrame:
    """One dataset's accuracies (%) in the reference layout: a row a model, a column a set.

    For ImageNet-1k (``dataset == "imagenet"``) the published CLIP and SigLIP numbers are
    set beside ours; elsewhere there is nothing published to compare with.
    """
    import pandas as pd

    sub = df[df["dataset"] == dataset]
    if sub.empty:
        raise ValueError(f"No results for dataset {dataset!r}; have: "
                         f"{', '.join(sorted(df['dataset'].unique()))}.")
    sets = list(order or dict.fromkeys(sub["template_set"]))
    wide = sub.pivot_table(index="model", columns="template_set", values="accuracy",
                           sort=False) * 100
    table = pd.DataFrame(index=list(dict.fromkeys(sub["model"])))
    if published if published is not None else dataset == "imagenet":
        for key, col in REPORTED.items():
            table[col] = [IMAGENET_TEMPLATE_SETS.get(m, {}).get(key) for m in table.index]
    for s in sets:
        table[_results_column(s)] = wide[s].reindex(table.index) if s in wide else float("nan")
    table.index = [model_label(m) for m in table.index]
    table.index.name = "Model"
    return table.astype(float).round(1)


def readable(table: pd.DataFrame, digits: int = 1) -> pd.DataFrame:
    """``table`` for reading: numbers to ``digits`` decimals, "–" where there is none
    (a published table leaves a cell empty when its paper reports no figure)."""
    def cell(value):
        return value if isinstance(value, str) else number_text(value, digits)

    out = table.map(cell) if hasattr(table, "map") else table.applymap(cell)
    out.attrs = dict(table.attrs)
    return out


def published_table() -> pd.DataFrame:
    """The reference table itself (ImageNet-1k top-1, %); its source in ``attrs``."""
    import pandas as pd

    cols = {**REPORTED, **{s: _results_column(s, TUTORIAL) for s in ("openai80", "standard", "raw")}}
    rows = IMAGENET_TEMPLATE_SETS.values()
    table = pd.DataFrame([{cols[k]: row[k] for k in cols} for row in rows],
                         index=[row["label"] for row in rows], dtype=float)
    table.index.name = "Model"
    table.attrs["source"] = IMAGENET_TEMPLATE_SETS_SOURCE
    return table


def _span(values: Sequence[float]) -> str:
    lo, hi = min(values), max(values)
    return f"{lo:.1f}" if round(lo, 1) == round(hi, 1) else f"{lo:.1f} to {hi:.1f}"


def published_pattern() -> list[str]:
    """What the tutorial's ImageNet table shows, computed from its numbers (so no
    sentence about it can drift from the table): each prompt style's gain per family,
    and how close each ensemble lands to its paper's figure."""
    families: dict[str, list[dict]] = {}
    for spec, row in IMAGENET_TEMPLATE_SETS.items():
        families.setdefault("SigLIP" if "SigLIP" in spec else "OpenAI CLIP", []).append(row)
    out = []
    for family, rows in families.items():
        ens = [r["openai80"] - r["standard"] for r in rows]
        std = [r["standard"] - r["raw"] for r in rows]
        out.append(f"For the {len(rows)} {family} models, the 80-template ensemble is "
                   f"{_span(ens)} points above the standard template, and the standard "
                   f"template {_span(std)} points above the bare label.")
    paper = [abs(r["openai80"] - p) for r in IMAGENET_TEMPLATE_SETS.values()
             for p in (r["reported_clip"], r["reported_siglip"]) if p is not None]
    out.append(f"Every ensemble lands within {max(paper):.1f} points of the figure its "
               "paper reports: the check that templates, class names and preprocessing "
               "are the published ones.")
    return out


def template_gaps(df: pd.DataFrame, pairs: Sequence[tuple[str, str]] = (
        ("standard", "raw"), ("openai80", "standard")), *, seed: int = 0) -> pd.DataFrame:
    """Per model, dataset and pair (a, b) of template sets: accuracy(a) - accuracy(b) in
    points on the same images, with a paired-bootstrap 95% interval (the sweep's
    ``attrs["predictions"]``), and whether a is above, below or not told apart from b."""
    import pandas as pd

    from ..findings import paired_gap

    preds, labels = df.attrs.get("predictions", {}), df.attrs.get("labels", {})
    rows = []
    for (model, dataset), _ in df.groupby(["model", "dataset"], sort=False):
        for a, b in pairs:
            if (model, dataset, a) not in preds or (model, dataset, b) not in preds:
                continue
            g = paired_gap(labels[dataset], preds[model, dataset, a], preds[model, dataset, b],
                           metric="accuracy", seed=seed)
            rows.append({"model": model_label(model), "dataset": dataset,
                         "comparison": f"{LABELS.get(a, a)} - {LABELS.get(b, b)}",
                         "points": g.value, "low": g.low, "high": g.high,
                         "verdict": "above" if g.low > 0 else "below" if g.high < 0
                         else "not told apart"})
    return pd.DataFrame(rows, columns=["model", "dataset", "comparison", "points", "low",
                                       "high", "verdict"])


def gap_summary(gaps: pd.DataFrame) -> list[str]:
    """One sentence per comparison: how many model-dataset pairs put it above zero,
    below zero, or could not tell (the counts follow the intervals, whatever they are)."""
    out = []
    for comparison, rows in gaps.groupby("comparison", sort=False):
        a, b = comparison.split(" - ")
        n = rows["verdict"].value_counts()
        out.append(
            f"{a} against {b}, over {len(rows)} model-dataset pairs: above in "
            f"{n.get('above', 0)}, below in {n.get('below', 0)}, and not told apart in "
            f"{n.get('not told apart', 0)} (95% paired intervals); the mean gap was "
            f"{rows['points'].mean():+.1f} points.")
    return out


def ranking_summary(ranking: pd.DataFrame) -> pd.DataFrame:
    """Per template, averaged over models and datasets: accuracy alone and leave-one-out delta
    (in points), sorted from most helpful to most harmful to the ensemble."""
    if ranking.empty:
        raise ValueError("The ranking is empty: sweep with a multi-template rank set "
                         "(e.g. openai80).")
    out = ranking.groupby("template", sort=False)[["single", "loo_delta"]].mean() * 100
    return out.sort_values("loo_delta", ascending=False).round(2)


def metrics(df: pd.DataFrame) -> dict[str, dict[str, dict[str, float]]]:
    """``{model: {dataset: {template_set: accuracy}}}`` for the chapter's results file."""
    out: dict[str, dict[str, dict[str, float]]] = {}
    for row in df.itertuples(index=False):
        out.setdefault(row.model, {}).setdefault(row.dataset, {})[row.template_set] = float(
            row.accuracy)
    return out


def _torchvision_label(spec: str) -> str:
    """``resnet50/IMAGENET1K_V1`` -> ``ResNet-50``: how papers name the network."""
    arch = spec.split("/")[0]
    m = re.fullmatch(r"resnet(\d+)", arch)
    return f"ResNet-{m.group(1)}" if m else arch


def imagenetv2_table(df: pd.DataFrame, *, smoke: bool = False,
                     dataset: str = "imagenetv2") -> pd.DataFrame:
    """ImageNetV2 in the tutorial's layout, every number beside its published figure.

    A row a model, the supervised baseline (``df.attrs["supervised"]``) first: this run's
    top-1 (%) that the published figures measure (the 80-template ensemble, which is how
    OpenCLIP and CLIP_benchmark measure; the classifier's own for the baseline) with its
    95% interval, in one cell; each source's figure (%). Two header rows say whose number
    each column is. The raw-label and standard-template numbers are in
    :func:`accuracy_table`; leaving them out keeps every cell text for reading
    (:func:`readable`: "–" where there is no number) inside the book's column. The
    verdicts, decided as in chapter 06
    (:func:`clipdistill.comparison.comparison_table`), are in ``attrs["verdicts"]``: a
    column of them would make the table too wide to read.
    """
    import pandas as pd

    from ..comparison import comparison_table
    from ..published import SOURCES, TEST_SETS

    name = TEST_SETS[dataset]["name"]
    rows = comparison_table({"04_prompt_ensembles": {"smoke": smoke, "config": {}}}, df)
    rows = rows[rows["experiment"].str.startswith(name)]
    sources = [SOURCES[k]["short"] for k in SOURCES if SOURCES[k]["short"] in set(rows["source"])]
    out, verdicts = [], {}
    for model, group in rows.groupby("model", sort=False):
        first = group.iloc[0]
        supervised = "supervised" in first["experiment"]
        label = f"{_torchvision_label(model)} (supervised)" if supervised else model_label(model)
        row: dict = {"Model": label}
        interval = (f" ({100 * first['low']:.1f}–{100 * first['high']:.1f})"
                    if pd.notna(first["low"]) else "")
        row[(THIS_RUN, COMPARED)] = f"{100 * first['ours']:.1f}{interval}"
        for src in sources:
            hit = group[group["source"] == src]
            row[("published", src)] = 100 * hit["published"].iloc[0] if len(hit) else None
        verdicts[label] = "; ".join(f"{s}: {v}" for s, v in zip(group["source"], group["verdict"])
                                    if s) or "–"
        out.append(row)
    table = pd.DataFrame(out)
    if table.empty:
        return table
    table = table.set_index("Model")
    table.columns = pd.MultiIndex.from_tuples(table.columns)  # whose number, then which
    table = readable(table)
    table.attrs["verdicts"] = pd.Series(verdicts, name="verdict").rename_axis("Model")
    return table
