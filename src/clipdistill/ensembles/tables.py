"""Chapter 04's tables: the sweep's accuracies in the reference layout, beside the
published ImageNet numbers (:data:`clipdistill.published.IMAGENET_TEMPLATE_SETS`), and
the per-template ranking averaged over models and datasets."""

from __future__ import annotations

from typing import TYPE_CHECKING, Sequence

from ..published import IMAGENET_TEMPLATE_SETS, IMAGENET_TEMPLATE_SETS_SOURCE
from ..templates import LABELS

if TYPE_CHECKING:
    import pandas as pd

__all__ = ["accuracy_table", "published_table", "ranking_summary", "metrics", "model_label"]

# The reference table's column names: published numbers first, then a column a set.
REPORTED = {"reported_clip": "Reported ~ CLIP", "reported_siglip": "Reported ~ SigLIP"}


def _results_column(template_set: str) -> str:
    return f"Results ~ {LABELS.get(template_set, template_set)}"


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


def published_table() -> pd.DataFrame:
    """The reference table itself (ImageNet-1k top-1, %); its source in ``attrs``."""
    import pandas as pd

    cols = {**REPORTED, **{s: _results_column(s) for s in ("openai80", "standard", "raw")}}
    rows = IMAGENET_TEMPLATE_SETS.values()
    table = pd.DataFrame([{cols[k]: row[k] for k in cols} for row in rows],
                         index=[row["label"] for row in rows], dtype=float)
    table.index.name = "Model"
    table.attrs["source"] = IMAGENET_TEMPLATE_SETS_SOURCE
    return table


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
