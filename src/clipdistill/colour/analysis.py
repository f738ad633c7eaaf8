"""The tidy CSV read back: summary tables, per-model matrices, and chapter 06's headline.

Nothing here embeds anything: every function takes the DataFrame that
:func:`clipdistill.colour.experiment.run` wrote (``load`` reads it from disk), so the
command line's ``analyze`` step and chapter 07 show the same numbers.
"""

from __future__ import annotations

from typing import Any

import numpy as np
import pandas as pd

from . import ColourError
from .terms import BASIC_TERMS

__all__ = ["load", "naming_summary", "association_summary", "discriminability_summary",
           "summary", "confusion", "association_table", "palettes", "headline", "best",
           "findings", "CHANCE", "human_summary", "people_table"]

KEYS = ["model", "style", "view"]
# What a model that knows nothing about colour scores, on average.
CHANCE: dict[str, float] = {
    "naming accuracy": 1 / len(BASIC_TERMS),
    "canonical colour top-1": 1 / len(BASIC_TERMS),
    "pair accuracy": 0.5,
}


def load(cfg: Any) -> pd.DataFrame:
    """The CSV of this profile's run; one sentence saying how to make it when absent."""
    from .experiment import csv_path

    path = csv_path(cfg)
    if not path.is_file():
        raise ColourError(f"No colour results at {path}: run `clipdistill colour --profile "
                          f"{cfg.profile} run` (or chapter 7) first.")
    return pd.read_csv(path, keep_default_na=False, na_values={"score": [""]})


def _task(df: pd.DataFrame, task: str, measure: str) -> pd.DataFrame:
    return df[(df["task"] == task) & (df["measure"] == measure)]


def naming_summary(df: pd.DataFrame) -> pd.DataFrame:
    """Per model, style and view: accuracy, balanced accuracy (mean per-term recall), colours."""
    rows = []
    for key, g in _task(df, "naming", "name").groupby(KEYS, sort=False):
        correct = g["truth"] == g["predicted"]
        rows.append({**dict(zip(KEYS, key)), "naming accuracy": float(correct.mean()),
                     "balanced accuracy": float(correct.groupby(g["truth"]).mean().mean()),
                     "colours": len(g)})
    return pd.DataFrame(rows, columns=[*KEYS, "naming accuracy", "balanced accuracy", "colours"])


def association_summary(df: pd.DataFrame) -> pd.DataFrame:
    """How each concept's canonical colour ranks among the basic colours (1 = first)."""
    rows = []
    for key, g in _task(df, "associations", "association").groupby(KEYS, sort=False):
        ranks = []
        for _, c in g[g["truth"] != ""].groupby("concept", sort=False):
            mine = c["colour"] == c["truth"].iloc[0]
            if mine.any():  # ties count against the canonical colour, as in canonical_ranks
                ranks.append(1 + int((c.loc[~mine, "score"] >= c.loc[mine, "score"].iloc[0]).sum()))
        ranks = np.asarray(ranks)
        rows.append({**dict(zip(KEYS, key)),
                     "canonical colour top-1": float((ranks == 1).mean()) if len(ranks) else np.nan,
                     "mean canonical rank": float(ranks.mean()) if len(ranks) else np.nan,
                     "concepts": len(ranks)})
    return pd.DataFrame(rows, columns=[*KEYS, "canonical colour top-1", "mean canonical rank",
                                       "concepts"])


def discriminability_summary(df: pd.DataFrame) -> pd.DataFrame:
    """Pair accuracy (delta > 0), mean semantic distance, and each palette's weakest pair.

    A run whose concepts give no pair (fewer than two canonical colours) can still have
    palettes, so a style and view with either gets a row.
    """
    from .discriminability import pair_accuracy

    rows = []
    pairs = _task(df, "discriminability", "pair")
    pals = _task(df, "discriminability", "palette")
    keys = dict.fromkeys(tuple(k) for part in (pairs, pals) for k in part[KEYS].itertuples(index=False))
    for key in keys:
        g, mine = pairs, pals
        for k, v in zip(KEYS, key):
            g, mine = g[g[k] == v], mine[mine[k] == v]
        weakest = mine.groupby("concept_b", sort=False)["score"].first()
        rows.append({**dict(zip(KEYS, key)), "pair accuracy": pair_accuracy(g["score"]),
                     "mean semantic distance": float(g["score"].abs().mean()) if len(g) else np.nan,
                     "pairs": len(g), "palettes read right": int((weakest > 0).sum()),
                     "palettes": len(weakest)})
    return pd.DataFrame(rows, columns=[*KEYS, "pair accuracy", "mean semantic distance", "pairs",
                                       "palettes read right", "palettes"])


def summary(df: pd.DataFrame) -> pd.DataFrame:
    """One row per model, style and view: every task's headline numbers side by side."""
    out = None
    for part in (naming_summary(df), association_summary(df), discriminability_summary(df)):
        if part.empty:
            continue
        out = part if out is None else out.merge(part, on=KEYS, how="outer")
    if out is None:
        return pd.DataFrame(columns=KEYS)
    for count in ("colours", "concepts", "pairs", "palettes read right", "palettes"):
        if count in out:
            out[count] = out[count].astype("Int64")  # counts stay whole where a view lacks a task
    return out.sort_values(KEYS, kind="stable").set_index(KEYS)


def confusion(df: pd.DataFrame, model: str, style: int) -> pd.DataFrame:
    """Counts of true basic term (rows) by the term the model picked (columns)."""
    g = _task(df, "naming", "name")
    g = g[(g["model"] == model) & (g["style"] == style)]
    table = pd.crosstab(pd.Categorical(g["truth"], BASIC_TERMS),
                        pd.Categorical(g["predicted"], BASIC_TERMS), dropna=False)
    table.index.name, table.columns.name = "true term", "named"
    return table


def association_table(df: pd.DataFrame, model: str, style: int, view: str) -> pd.DataFrame:
    """The association matrix back from its rows: concepts (rows) x basic colours (columns)."""
    g = _task(df, "associations", "association")
    g = g[(g["model"] == model) & (g["style"] == style) & (g["view"] == view)]
    table = g.pivot(index="concept", columns="colour", values="score")
    return table.loc[list(dict.fromkeys(g["concept"])), [t for t in BASIC_TERMS if t in table.columns]]


def palettes(df: pd.DataFrame, model: str, style: int, view: str) -> pd.DataFrame:
    """The palettes chosen from one matrix: palette, concept, colour, hex, weakest-pair delta."""
    g = _task(df, "discriminability", "palette")
    g = g[(g["model"] == model) & (g["style"] == style) & (g["view"] == view)]
    return g.rename(columns={"concept_b": "palette", "score": "weakest delta"})[
        ["palette", "concept", "colour", "hex", "truth", "weakest delta"]].reset_index(drop=True)


def headline(df: pd.DataFrame) -> list[dict[str, Any]]:
    """Chapter 06's rows: per model, naming (patches, and RGB digits), canonical top-1, pairs.

    Each number comes from the first prompt style the run used for that view, a choice
    fixed before looking (the best style on these same colours would flatter the model).
    """
    table = summary(df).reset_index()
    rows = []
    wanted = [("naming accuracy", "image", "colour naming, patches"),
              ("naming accuracy", "text", "colour naming, RGB digits in text"),
              ("canonical colour top-1", "image", "canonical colour ranked first, patches"),
              ("pair accuracy", "image", "concept pairs read right, patches")]
    for model, g in table.groupby("model", sort=False):
        for column, view, label in wanted:
            mine = g[(g["view"] == view)].dropna(subset=[column]) if column in g else g.iloc[:0]
            if mine.empty:
                continue
            first = mine.iloc[0]
            rows.append({"model": model, "measure": label, "prompt style": int(first["style"]),
                         "value": float(first[column]), "chance": CHANCE[column]})
    people = human_summary(df)
    for model, g in people.groupby("model", sort=False):
        first = g[g["view"] == "image"].iloc[:1]
        if len(first):
            rows.append({"model": model, "measure": "agreement with people's ratings (mean r), "
                         "patches", "prompt style": int(first["prompt style"].iloc[0]),
                         "value": float(first["mean_r"].iloc[0]),
                         "chance": float(first["chance_r"].iloc[0])})
    return rows


def human_summary(df: pd.DataFrame) -> pd.DataFrame:
    """Per model, prompt style and view: the mean correlation with people's ratings over the
    rated concepts, its 95% interval, and chance (:func:`clipdistill.colour.human.agreement_table`)."""
    from .human import agreement_table

    return agreement_table(df)


def best(rows: pd.DataFrame, measure: str) -> tuple[pd.Series, int, str]:
    """The row of ``rows`` (one model's, with ``style`` and ``view``) that scored highest on
    ``measure``, how many rows share that score, and where it was reached, in words.

    ``idxmax`` alone would name the first of tied rows as if it had won, so a shared top
    score is said to be shared: "reached by 2 of the 4 style/view combinations".
    """
    rows = rows.dropna(subset=[measure])
    if rows.empty:
        raise ColourError(f"No {measure} to rank: this run did not measure it.")
    values = rows[measure].astype(float)
    top = rows.loc[values.idxmax()]
    tied = int((values == values.max()).sum())
    if tied == 1:
        where = f"with prompt style {top['style']}, {top['view']} view"
    elif tied == len(rows):
        where = (f"reached by all {tied} style/view combinations" if tied > 2
                 else "reached by both style/view combinations")
    else:
        where = f"reached by {tied} of the {len(rows)} style/view combinations"
    return top, tied, where


def _counted(n: int, what: str) -> str:
    """'11 colours', '1 concept': a count with its noun."""
    return f"{n} {what}" if n != 1 else f"{n} {what.removesuffix('s')}"


def _pair_interval(df: pd.DataFrame, model: str, reached: pd.DataFrame) -> tuple[float, float, int]:
    """The pair-accuracy interval over resampled concepts (``discriminability.pair_interval``);
    where several style/view combinations share the top score, one interval that covers each."""
    from .discriminability import pair_interval

    pairs = _task(df, "discriminability", "pair")
    pairs = pairs[pairs["model"] == model]
    lows, highs, concepts = [], [], 0
    for _, r in reached.iterrows():
        g = pairs[(pairs["style"] == r["style"]) & (pairs["view"] == r["view"])]
        lo, hi = pair_interval(g["concept"], g["concept_b"], g["score"])
        lows.append(lo)
        highs.append(hi)
        concepts = max(concepts, len(set(g["concept"]) | set(g["concept_b"])))
    return min(lows), max(highs), concepts


def people_table(people: pd.DataFrame, digits: int = 2) -> pd.DataFrame:
    """:func:`human_summary` for reading: one row per model, style and view, the mean r and
    its 95% interval beside the same with the colours shuffled, rounded as the sentences
    round them (``findings.rounded``). The model loses its hub owner ("openai/") and the
    count of concepts is left to the sentence beside the table, so it fits a book's text
    column (the raw field names and a 0-3 index did not)."""
    from ..findings import number_text, rounded

    def span(low: pd.Series, high: pd.Series) -> list[str]:
        return [f"{number_text(a, digits)} to {number_text(b, digits)}" for a, b in zip(low, high)]

    table = pd.DataFrame({
        "model": [str(m).split("/")[-1] for m in people["model"]],
        "style": people["prompt style"], "view": people["view"],
        "mean r": people["mean_r"].astype(float), "95% interval": span(people["low"], people["high"]),
        "shuffled r": people["chance_r"].astype(float),
        "shuffled 95%": span(people["chance_low"], people["chance_high"]),
    })
    return rounded(table.set_index(["model", "style", "view"]), digits)


# measure -> (the count it is a share of, what that count counts)
_COUNTED = {"naming accuracy": ("colours", "colours"),
            "canonical colour top-1": ("concepts", "concepts"),
            "pair accuracy": ("pairs", "concept pairs")}


def findings(df: pd.DataFrame) -> list[str]:
    """Chapter 07's findings, per model: for each measure, the prompt style and view that
    scored highest (or how many shared it), with a 95% interval, beside chance, and how
    far the other styles and views fell from it. Colours and concepts are independent
    draws, so theirs is a Wilson interval; concept pairs share concepts, so theirs
    resamples the concepts (:func:`clipdistill.colour.discriminability.pair_interval`)."""
    from ..findings import interval_text
    from ..verdicts import wilson_interval

    table = summary(df).reset_index()
    out = []
    for model, g in table.groupby("model", sort=False):
        for measure, (count, what) in _COUNTED.items():
            rows = g.dropna(subset=[measure]) if measure in g else g.iloc[:0]
            if rows.empty:
                continue
            top, tied, where = best(rows, measure)
            values = rows[measure].astype(float)
            n = int(top[count])
            if measure == "pair accuracy":
                lo, hi, k = _pair_interval(df, model, rows[values == values.max()])
                counted = f"{_counted(n, what)} of {_counted(k, 'concepts')}"
            else:
                lo, hi = wilson_interval(round(float(top[measure]) * n), n)
                counted = _counted(n, what)
            rest = values.drop(top.name)
            spread = (f"; the others scored {rest.min():.2f} to {rest.max():.2f}"
                      if tied == 1 and len(rest) else "")
            out.append(f"{model}, {measure}: {float(top[measure]):.2f} at best, {where} "
                       f"({interval_text(lo, hi, 2)}, {counted}), against "
                       f"{CHANCE[measure]:.2f} by chance{spread}.")
    return out
