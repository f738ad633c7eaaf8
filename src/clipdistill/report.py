"""Chapter 06: gather every chapter's results file and set each number beside its reference.

Everything here reads ``results/<profile>/*.json``; nothing is recomputed. A missing
chapter (not run yet) simply leaves its rows empty.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any, Mapping

import pandas as pd

from .config import Config
from .published import CLIP_BENCHMARK, CLIP_PAPER, PLAN_REPORTS, PLAN_SPEEDS, SOURCES
from .results import CHAPTERS, load_results

__all__ = ["gather", "comparison_table", "sources_markdown", "provenance_table", "timing_table",
           "plot_comparison", "colour_table"]


def gather(cfg: Config) -> dict[str, dict[str, Any] | None]:
    """Every chapter's results (None where a chapter has not been run for this profile)."""
    return {chapter: load_results(cfg, chapter) for chapter in CHAPTERS}


def _get(d: Mapping[str, Any] | None, *keys: str) -> Any:
    for key in keys:
        if not isinstance(d, Mapping) or key not in d:
            return None
        d = d[key]
    return d


def _row(experiment: str, ours: Any, ours_model: str | None, published: float | None,
         published_model: str | None, source: str | None, unit: str = "") -> dict[str, Any]:
    ours = float(ours) if isinstance(ours, (int, float)) else None
    reference = SHORT_SOURCES.get(source, source or "")
    if published is not None and ours_model and published_model and ours_model != published_model:
        reference += f" ({published_model})"
    return {"experiment": f"{experiment} ({unit})" if unit else experiment, "ours": ours,
            "published": published,
            "difference": (ours - published) if ours is not None and published is not None else None,
            "our model": ours_model, "reference": reference, "fraction": unit == ""}


SHORT_SOURCES: dict[str, str] = {"plan": "plan", "clip_benchmark": "CLIP_benchmark",
                                 "clip_paper": "CLIP paper", "teacher": "its teacher"}


def sources_markdown() -> str:
    """The legend for the table's *reference* column."""
    return "\n".join(f"- **{SHORT_SOURCES[k]}**: {v}" for k, v in SOURCES.items())


def comparison_table(results: Mapping[str, dict[str, Any] | None]) -> pd.DataFrame:
    """One row per headline number: ours, the published figure, and where it comes from."""
    r02, r03, r04, r05 = (results.get(c) for c in CHAPTERS[1:5])
    clip = _get(r02, "models", "clip")
    rows = [
        _row("CLIP image kNN on knn/test, macro F1", _get(r02, "metrics", "knn_macro_f1"), clip,
             PLAN_REPORTS["clip_image_knn"]["macro_f1"], PLAN_REPORTS["clip_image_knn"]["model"], "plan"),
        _row("random-embedding kNN floor, macro F1", _get(r02, "metrics", "random_floor_macro_f1"), clip,
             None, None, None),
        _row("text-prompt zero-shot, cats vs dogs, accuracy", _get(r02, "metrics", "zero_shot_accuracy"),
             clip, None, None, None),
    ]
    for dataset, key in (("CIFAR-10", "cifar10"), ("MNIST", "mnist")):
        ours = _get(r02, "metrics", f"{key}_accuracy")
        ref_model, ref, src = _reference(clip, key)
        rows.append(_row(f"{dataset} zero-shot accuracy", ours, clip, ref, ref_model, src))
    vlm = _get(r03, "models", "vlm")
    for prompt in ("generic", "specific"):
        published = PLAN_REPORTS["vlm_generic_description_knn"] if prompt == "generic" else None
        rows.append(_row(f"VLM {prompt}-prompt descriptions, kNN macro F1",
                         _get(r03, "metrics", "knn_macro_f1", prompt), vlm,
                         published["macro_f1"] if published else None,
                         published["model"].split(" + ")[0] if published else None,
                         "plan" if published else None))
    rows.append(_row("image embedding throughput (cold cache)",
                     _get(r02, "metrics", "throughput_cold_images_per_s"), clip,
                     PLAN_SPEEDS["clip_vit_b16_images_per_s"], "ViT-B-16/openai", "plan", "images/s"))
    rows.append(_row("VLM description throughput", _get(r03, "metrics", "images_per_s", "generic"), vlm,
                     PLAN_SPEEDS["qwen25_vl_7b_images_per_s"], "Qwen/Qwen2.5-VL-7B-Instruct", "plan",
                     "images/s"))
    rows += _ensemble_rows(r04)
    rows += _distill_rows(r05)
    return pd.DataFrame(rows).set_index("experiment")


def _reference(model: str | None, dataset: str) -> tuple[str | None, float | None, str | None]:
    """The published figure for ``model`` on ``dataset``: same model if listed, else ViT-B-16."""
    for candidate in (model, "ViT-B-16/openai"):
        if candidate in CLIP_BENCHMARK and dataset in CLIP_BENCHMARK[candidate]:
            return candidate, CLIP_BENCHMARK[candidate][dataset], "clip_benchmark"
    return None, None, None


def _ensemble_rows(r04: Mapping[str, Any] | None) -> list[dict[str, Any]]:
    """Chapter 04: the best template set per model and dataset beside CLIP_benchmark/paper."""
    acc = _get(r04, "metrics", "accuracy") or {}
    rows = []
    for model, by_dataset in acc.items():
        for dataset, by_set in (by_dataset or {}).items():
            if not by_set:
                continue
            best = max(by_set, key=lambda s: by_set[s])
            ref_model, ref, src = (None, None, None)
            if dataset == "imagenet" and model in CLIP_PAPER:
                ref_model, ref, src = model, CLIP_PAPER[model].get("imagenet"), "clip_paper"
            elif model in CLIP_BENCHMARK and dataset in CLIP_BENCHMARK[model]:
                ref_model, ref, src = model, CLIP_BENCHMARK[model][dataset], "clip_benchmark"
            rows.append(_row(f"prompt ensemble, {dataset}, best set ({best})", by_set[best], model,
                             ref, ref_model, src))
    return rows


def _distill_rows(r05: Mapping[str, Any] | None) -> list[dict[str, Any]]:
    """Chapter 05's headline: the smallest student within 1 F1 point of its teacher."""
    headline = _get(r05, "metrics", "headline") or {}
    rows = []
    for teacher, h in headline.items():
        if not isinstance(h, Mapping):
            continue
        rows.append(_row(f"distillation ({teacher} teacher): student kNN macro F1",
                         h.get("student_f1"), h.get("student"), h.get("teacher_f1"), "teacher", "teacher"))
        if h.get("speedup") is not None:
            rows.append(_row(f"distillation ({teacher} teacher): student speed-up over teacher",
                             h.get("speedup"), h.get("student"), None, None, None, "x"))
    return rows


def provenance_table(results: Mapping[str, dict[str, Any] | None]) -> pd.DataFrame:
    """Profile, models, versions, hardware and date of each chapter's run."""
    rows = []
    for chapter, res in results.items():
        if res is None:
            rows.append({"chapter": chapter, "profile": "not run"})
            continue
        prov = res.get("provenance", {})
        versions = prov.get("versions", {})
        hw = prov.get("hardware", {})
        rows.append({
            "chapter": chapter,
            "profile": res.get("profile"),
            "random weights": bool(res.get("smoke")),
            "models": _models_text(res.get("models")),
            "torch": versions.get("torch"),
            "open_clip": versions.get("open_clip_torch"),
            "transformers": versions.get("transformers"),
            "hardware": hw.get("cuda") or f"CPU x{hw.get('cpu_count', '?')} ({hw.get('machine', '?')})",
            "date (UTC)": (prov.get("date") or "")[:16].replace("T", " "),
        })
    return pd.DataFrame(rows).set_index("chapter")


def _models_text(models: Any) -> str:
    if isinstance(models, Mapping):
        keep = {k: v for k, v in models.items() if isinstance(v, str) and k not in ("key",)}
        return ", ".join(f"{k}: {v}" for k, v in keep.items())
    if isinstance(models, (list, tuple)):
        return ", ".join(map(str, models))
    return str(models or "")


def timing_table(cfg: Config) -> pd.DataFrame:
    """Seconds per chapter from the runner's ``run.json`` (empty when run by hand)."""
    path = Path(cfg.profile_dir()) / "run.json"
    if not path.is_file():
        return pd.DataFrame(columns=["seconds", "status"])
    run = json.loads(path.read_text())
    return pd.DataFrame(run.get("chapters", [])).set_index("chapter")[["seconds", "status"]]


def plot_comparison(table: pd.DataFrame, title: str = "", *, smoke: bool = False):
    """Ours beside published for every row that has both and is a fraction (F1, accuracy)."""
    import matplotlib.pyplot as plt
    import numpy as np

    both = table.dropna(subset=["ours", "published"])
    both = both[both["fraction"]]
    fig, ax = plt.subplots(figsize=(8, 0.45 * max(len(both), 2) + 1.2))
    if both.empty:
        ax.text(0.5, 0.5, "no result has a published counterpart yet", ha="center", va="center")
        ax.axis("off")
        return fig
    y = np.arange(len(both))
    ax.barh(y - 0.2, both["published"], height=0.4, label="published", color="#90a4ae")
    ours = "ours (RANDOM WEIGHTS: not a result)" if smoke else "ours"
    ax.barh(y + 0.2, both["ours"], height=0.4, label=ours, color="#e53935" if smoke else "#1e88e5")
    ax.set_yticks(y, both.index)
    ax.invert_yaxis()
    ax.set_xlim(0, 1.05)
    ax.set_xlabel("accuracy / macro F1")
    ax.legend(loc="lower right")
    ax.set_title(title or "Our numbers beside the published ones")
    fig.tight_layout()
    return fig


def colour_table(results: Mapping[str, dict[str, Any] | None]) -> pd.DataFrame:
    """Chapter 07's headline per model beside chance (nothing comparable is published).

    Empty when chapter 07 has not been run for this profile.
    """
    columns = ["model", "measure", "prompt style", "value", "chance"]
    rows = _get(results.get("07_colour"), "metrics", "headline") or []
    return pd.DataFrame(rows, columns=columns).set_index(["model", "measure"])
