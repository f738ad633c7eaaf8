"""Models x prompt styles x tasks -> one tidy CSV, ``results/<profile>/07_colour.csv``.

The same function runs from the command line (``clipdistill colour ... run``) and from
chapter 07, which then reads the CSV back. Every image and prompt goes through the
embedding engine (:mod:`clipdistill.embed`), so a rerun, or a run interrupted halfway,
costs only the similarity arithmetic. Everything is validated before the first model
loads: a typo fails in a second.

One row per measurement (``task``/``measure``); the columns a row does not use are empty:

- ``naming``/``name``: a survey colour: ``colour`` (its name), ``hex``, ``truth`` (its
  basic term), ``predicted`` (the term the model picks), ``score`` (that pick's softmax
  probability).
- ``associations``/``association``: a basic colour x a ``concept``: ``score`` = cosine
  similarity; ``truth`` = the concept's canonical colour, if it has one.
- ``discriminability``/``pair``: ``concept`` and ``concept_b``, with different canonical
  colours ``colour`` and ``colour_b``: ``score`` = delta, > 0 when the associations
  favour the right assignment.
- ``discriminability``/``palette``: a concept of palette ``concept_b`` and the ``colour``
  chosen for it; ``score`` = the palette's weakest-pair delta (the same on each of its rows).
- ``human``/``correlation``: a ``concept`` people rated; ``score`` = Pearson's r between the
  model's associations of the 71 UW-71 colours with it and people's mean ratings
  (:mod:`.human`); ``human``/``chance``: ``concept`` = mean | low | high of the mean r with
  the model's associations shuffled across colours.

``view`` says which tower saw the colour: ``image`` (a patch) or ``text`` (a word, or in
style 4 its RGB values).
"""

from __future__ import annotations

from pathlib import Path
from typing import Any, Sequence

import numpy as np

from . import CHAPTER, ColourError
from . import associations as A
from . import discriminability as D
from . import human as H
from . import remote, terms
from .prompts import STYLES, check_styles

__all__ = ["TASKS", "COLUMNS", "csv_path", "check", "run"]

TASKS: tuple[str, ...] = ("naming", "associations", "discriminability", "human")
COLUMNS: tuple[str, ...] = ("model", "style", "view", "task", "measure", "concept", "concept_b",
                            "colour", "colour_b", "hex", "truth", "predicted", "score")


def csv_path(cfg: Any) -> Path:
    return Path(cfg.profile_dir()) / f"{CHAPTER}.csv"


def _check_tasks(tasks: Sequence[str]) -> list[str]:
    for t in tasks:
        if t not in TASKS:
            raise ColourError(f"Unknown task {t!r}: valid are {', '.join(TASKS)}.")
    if not tasks:
        raise ColourError(f"No task given: valid are {', '.join(TASKS)}.")
    return [t for t in TASKS if t in tasks]


def _check_models(cfg: Any, specs: Sequence[str]) -> list[str]:
    """Every spec loadable in this profile, or one sentence why not (nothing is loaded)."""
    from ..models import UnknownModelError, describe

    if not specs:
        raise ColourError("No model given: pass --models, e.g. openai/clip-vit-base-patch32.")
    remote.check_remote_code(specs, bool(cfg.colour_trust_remote_code), bool(cfg.smoke))
    for spec in specs:
        if remote.needs_remote_code(spec):
            continue
        try:
            describe(spec, random_weights=bool(cfg.smoke))  # shapes only, on the meta device
        except UnknownModelError as exc:
            raise ColourError(f"Model {spec!r}: {exc}") from None
    return list(dict.fromkeys(specs))


def check(cfg: Any) -> dict[str, Any]:
    """The run's plan from cfg, validated: models, styles, tasks, concepts, palettes."""
    concepts = A.concepts_for(cfg.colour_concepts)
    if cfg.colour_patch_size < 8:
        raise ColourError(f"colour_patch_size={cfg.colour_patch_size} is too small: use 8 or more.")
    return {"models": _check_models(cfg, list(cfg.colour_models)),
            "styles": check_styles(cfg.colour_prompt_styles),
            "tasks": _check_tasks(list(cfg.colour_tasks)),
            "concepts": concepts,
            "palettes": A.palettes_for(cfg.colour_palettes, concepts)}


def _load(cfg: Any, spec: str) -> Any:
    from .. import models

    if remote.needs_remote_code(spec):
        return remote.load_remote(cfg, spec)
    name, tag = models.parse_spec(spec)
    return models.load_clip_from_config(cfg, name, tag)


def _row(spec: str, style: int, view: str, task: str, measure: str, **values: Any) -> dict[str, Any]:
    return {"model": spec, "style": style, "view": view, "task": task, "measure": measure, **values}


def _naming_rows(clip: Any, spec: str, style: Any, colours: list, patch_emb: np.ndarray,
                 embed_text: Any, cache: Path) -> list[dict[str, Any]]:
    from ..zeroshot import build_zero_shot_classifier, softmax, zero_shot_logits

    weights = build_zero_shot_classifier(clip, terms.BASIC_TERMS, [style.term_text], cache_dir=cache)
    if style.naming_view == "image":
        x = patch_emb
    else:
        x = embed_text([style.colour_text(c.term, c.rgb) for c in colours])
    probs = softmax(zero_shot_logits(x, weights, clip.logit_scale))
    pred = probs.argmax(axis=1)
    return [_row(spec, style.number, style.naming_view, "naming", "name", colour=c.name, hex=c.hex,
                 truth=c.term, predicted=terms.BASIC_TERMS[p], score=float(probs[k, p]))
            for k, (c, p) in enumerate(zip(colours, pred))]


def _association_rows(spec: str, style: Any, view: str, x: np.ndarray, focal: list, concepts: list,
                      palettes: list, tasks: list) -> list[dict[str, Any]]:
    rows = []
    names = [f.term for f in focal]
    if "associations" in tasks:
        rows += [_row(spec, style.number, view, "associations", "association", concept=o.name,
                      colour=f.term, hex=f.hex, truth=o.colour or "", score=float(x[a, j]))
                 for j, o in enumerate(concepts) for a, f in enumerate(focal)]
    if "discriminability" in tasks:
        for p in D.pair_deltas(x, names, [o.colour for o in concepts]):
            rows.append(_row(spec, style.number, view, "discriminability", "pair",
                             concept=concepts[p["i"]].name, concept_b=concepts[p["j"]].name,
                             colour=names[p["a"]], colour_b=names[p["b"]], score=p["delta"]))
        index = {o.name: j for j, o in enumerate(concepts)}
        for k, palette in enumerate(palettes, 1):
            idx = [index[n] for n in palette]
            chosen = D.choose_palette(x, idx)
            weakest = D.weakest_pair(x, chosen, idx)
            rows += [_row(spec, style.number, view, "discriminability", "palette", concept=n,
                          concept_b=f"palette {k}", colour=names[c], hex=focal[c].hex,
                          truth=concepts[index[n]].colour or "", score=weakest)
                     for n, c in zip(palette, chosen)]
    return rows


def _human_rows(spec: str, style: Any, people: Any, uw71_emb: np.ndarray, embed_text: Any,
                seed: int) -> list[dict[str, Any]]:
    """Per rated concept, r between the model's associations over UW-71 and people's."""
    rated = A.concepts_for(people.concepts)
    concept_emb = embed_text([style.concept_text(o.name, o.phrase) for o in rated])
    view = "text" if style.numbers else "image"
    seen = uw71_emb if view == "image" else embed_text(
        [style.colour_text("", rgb) for rgb in people.rgb])
    model = A.association_matrix(seen, concept_emb).T  # (concepts, colours)
    r = H.concept_correlations(model, people.ratings)
    rows = [_row(spec, style.number, view, "human", "correlation", concept=o.name,
                 score=float(v)) for o, v in zip(rated, r)]
    null = H.chance(model, people.ratings, seed=seed)
    rows += [_row(spec, style.number, view, "human", "chance", concept=k, score=null[f"chance_{k}"]
                  if k != "mean" else null["chance_r"]) for k in ("mean", "low", "high")]
    return rows


def run(cfg: Any, *, progress: bool = True, write: bool = True) -> "Any":
    """Run every model x style x task of cfg; return the tidy DataFrame (and write the CSV)."""
    import pandas as pd

    from ..embed import cache_dir_for, embed_images, embed_texts
    from ..io import atomic_write_text
    from .patches import patch_dir, render_patches

    plan = check(cfg)
    cache = cache_dir_for(cfg)
    colours = terms.sample_colours(terms.survey_colours(), cfg.colour_max_colours, cfg.seed)
    focal = terms.focal_colours()
    paths = render_patches([c.hex for c in colours + focal], patch_dir(cfg), cfg.colour_patch_size)
    concepts, tasks = plan["concepts"], plan["tasks"]
    people = H.load_ratings() if "human" in tasks else None
    uw71 = (render_patches(list(people.hex), patch_dir(cfg), cfg.colour_patch_size)
            if people is not None else [])
    rows: list[dict[str, Any]] = []
    for spec in plan["models"]:
        clip = _load(cfg, spec)

        def embed_text(texts: list[str], clip: Any = clip) -> np.ndarray:
            return embed_texts(clip, texts, cache_dir=cache, batch_size=cfg.embed_text_batch_size,
                               progress=progress)

        emb = embed_images(clip, paths + uw71, cache_dir=cache, batch_size=cfg.batch_size,
                           num_workers=cfg.num_workers, progress=progress, desc=f"patches, {spec.split('/')[-1]}")
        patch_emb, focal_emb = emb[:len(colours)], emb[len(colours):len(paths)]
        uw71_emb = emb[len(paths):]
        for number in plan["styles"]:
            style = STYLES[number]
            if "naming" in tasks:
                rows += _naming_rows(clip, spec, style, colours, patch_emb, embed_text, cache)
            if people is not None:
                rows += _human_rows(spec, style, people, uw71_emb, embed_text, cfg.seed)
            if not {"associations", "discriminability"} & set(tasks):
                continue
            concept_emb = embed_text([style.concept_text(o.name, o.phrase) for o in concepts])
            for view in style.association_views:
                seen = focal_emb if view == "image" else embed_text(
                    [style.colour_text(f.term, f.rgb) for f in focal])
                x = A.association_matrix(seen, concept_emb)
                rows += _association_rows(spec, style, view, x, focal, concepts, plan["palettes"], tasks)
        del clip
    df = pd.DataFrame(rows, columns=list(COLUMNS))
    text = [c for c in COLUMNS if c not in ("style", "score")]
    df[text] = df[text].fillna("")  # as the CSV reads back: an unused column is empty, not NaN
    if write:
        atomic_write_text(csv_path(cfg), df.to_csv(index=False))
    return df
