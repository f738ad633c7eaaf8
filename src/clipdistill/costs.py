"""What a chapter costs per profile: time, peak memory and downloads, from measured runs.

The figures are data (``costs.json`` beside this module), written by
``clipdistill costs record`` from a finished run's ``results/<profile>/`` (the runner
times every chapter; every chapter's results file records its process's peak memory).
Each recorded run keeps its hardware and date, and says when its weights were random
(speed and memory do not depend on the weights' values; generation with random weights
runs to ``max_new_tokens``, so its time is an upper bound). Every chapter shows its own
row at the top, in the box :func:`cost_box_html` draws.
"""

from __future__ import annotations

import datetime as _dt
import html
import json
from pathlib import Path
from typing import Any

from .io import atomic_write_json
from .revision import short

__all__ = ["DOWNLOADS", "COSTS_FILE", "load_costs", "record_run", "profile_label", "cost_box_html",
           "cost_table"]

COSTS_FILE = Path(__file__).with_name("costs.json")

# What each chapter downloads the first time it runs, per profile (nothing in smoke).
# Later runs read the local caches (Hugging Face, torchvision, work/). Weight sizes are
# the files' at their real shapes (fp32), as the hub stand-in writes them.
DOWNLOADS: dict[str, dict[str, str]] = {
    "quick": {
        "01_data_prep": "Oxford-IIIT Pet (about 800 MB), Caltech-101 (130 MB), CIFAR-10 "
                        "(170 MB) and MNIST (12 MB): chapter 4's sets are prepared here",
        "02_zero_shot_clip": "ViT-B-32, RN50 and MobileCLIP2-S0 (about 1.3 GB); on a GPU "
                             "ViT-B-16, MobileCLIP-S1 and SigLIP too (about 2.9 GB in all)",
        "03_vlm_descriptions": "the VLM: SmolVLM on a CPU (about 1 GB), Qwen2.5-VL-3B on a GPU (7.5 GB)",
        "04_prompt_ensembles": "ImageNetV2 (1.26 GB) and torchvision's ResNet-50 (100 MB); on a "
                               "GPU the sweep's ViT-L and SigLIP models (about 7 GB more)",
        "05_distillation": "nothing new (students are trained from scratch)",
        "06_results": "nothing",
        "07_colour": "ViT-B/32 in the Hugging Face format (about 580 MB; on a GPU ViT-B/16 "
                     "too, 1.2 GB)",
    },
    "paper": {
        "01_data_prep": "Kaggle PetImages (about 790 MB), Open Images sample (about 250 KB an "
                        "image), Oxford-IIIT Pet, Caltech-101, CIFAR-10, MNIST",
        "02_zero_shot_clip": "ViT-B-16 and the comparison models (about 3.2 GB)",
        "03_vlm_descriptions": "Qwen2.5-VL-7B on a GPU (about 16 GB); SmolVLM on a CPU (1 GB)",
        "04_prompt_ensembles": "ImageNetV2 on a GPU (1.26 GB), ResNet-50 (100 MB) and the "
                               "sweep's other models (about 7 GB)",
        "05_distillation": "nothing new",
        "06_results": "nothing",
        "07_colour": "ViT-B/32, ViT-B/16, ViT-L/14 from the Hugging Face hub (about 2.9 GB)",
    },
}


def load_costs(path: Path = COSTS_FILE) -> dict[str, Any]:
    """The recorded runs: ``{"runs": [{profile, hardware, date, code, weights, chapters}, ...]}``
    (``code``: the version and git commit the run's chapters recorded; see :mod:`.revision`;
    an optional ``note`` says what the chapters did not yet do when a run was measured)."""
    return json.loads(path.read_text()) if path.is_file() else {"runs": []}


def record_run(profile_dir: str | Path, hardware: str, *, weights: str = "",
               path: Path = COSTS_FILE) -> dict[str, Any]:
    """Add (or replace) the run in ``profile_dir`` for ``hardware`` in ``costs.json``.

    Seconds come from the runner's ``run.json``; peak memory from each chapter's results
    file. A run that did not finish is refused: half a run costs less than a whole one.
    """
    profile_dir = Path(profile_dir)
    run_file = profile_dir / "run.json"
    if not run_file.is_file():
        raise FileNotFoundError(f"No run summary at {run_file}: run `clipdistill run` first.")
    run = json.loads(run_file.read_text())
    if run.get("status") != "ok":
        raise ValueError(f"The run in {profile_dir} did not finish (status {run.get('status')!r}).")
    chapters, code, gpus = {}, None, set()
    for entry in run.get("chapters", []):
        name = entry["chapter"]
        res_file = profile_dir / f"{name}.json"
        made = {}
        if res_file.is_file():
            made = json.loads(res_file.read_text()).get("provenance", {})
        code = code or made.get("code")
        gpus.add((made.get("hardware") or {}).get("cuda"))
        chapters[name] = {"seconds": entry.get("seconds"), "peak_rss_mb": made.get("peak_rss_mb")}
    record = {"profile": run["profile"], "smoke": bool(run.get("smoke")), "hardware": hardware,
              "weights": weights or ("random" if run.get("smoke") else "pretrained"),
              "date": _dt.date.today().isoformat(), "code": code, "chapters": chapters,
              "device": "cuda" if gpus - {None} else "cpu",
              "total_seconds": round(sum(c["seconds"] or 0 for c in chapters.values()), 1)}
    costs = load_costs(path)
    costs["runs"] = [r for r in costs["runs"]
                     if (r["profile"], r["hardware"]) != (record["profile"], hardware)] + [record]
    atomic_write_json(path, costs)
    return record


def profile_label(run: dict[str, Any]) -> str:
    """``quick (CPU)`` for a run without a GPU: on a CPU a profile runs its smaller
    variant (``config.HARDWARE_ADJUSTMENTS``), whose cost is not the full profile's."""
    return run["profile"] + (" (CPU)" if run.get("device", "cpu") == "cpu" else "")


NBSP = "\u00a0"  # a number and its unit never split across lines in a narrow column


def _duration(seconds: float | None) -> str:
    if seconds is None:
        return "-"
    if seconds < 90:
        return f"{seconds:.0f}{NBSP}s"
    return f"{seconds / 60:.0f}{NBSP}min" if seconds < 5400 else f"{seconds / 3600:.1f}{NBSP}h"


def cost_table(chapter: str | None = None, path: Path = COSTS_FILE) -> list[dict[str, str]]:
    """One row per recorded run: profile, hardware, time and peak memory for ``chapter``
    (the whole run when None)."""
    rows = []
    for run in load_costs(path)["runs"]:
        if chapter is None:
            seconds = run.get("total_seconds")
            peaks = [c.get("peak_rss_mb") for c in run["chapters"].values() if c.get("peak_rss_mb")]
            peak = max(peaks) if peaks else None
        else:
            entry = run["chapters"].get(chapter)
            if entry is None:
                continue
            seconds, peak = entry.get("seconds"), entry.get("peak_rss_mb")
        rows.append({"profile": profile_label(run), "hardware": run["hardware"],
                     "note": run.get("note", ""),
                     "weights": run["weights"], "time": _duration(seconds),
                     "peak memory": f"{peak / 1024:.1f}{NBSP}GB" if peak else "-", "date": run["date"],
                     "code": short(run.get("code"))})
    return rows


def cost_box_html(chapter: str, path: Path = COSTS_FILE) -> str:
    """A small box for the top of a chapter: measured time and memory, and downloads.
    Each row keeps its date and commit: a run measured before the chapter grew is not
    today's cost."""
    esc = html.escape
    rows = "".join(
        f"<tr><td><code>{esc(r['profile'])}</code></td><td>{esc(r['hardware'])}"
        + (f"<br><small><i>{esc(r['note'])}</i></small>" if r["note"] else "") + "</td>"
        f"<td>{esc(r['time'])}</td><td>{esc(r['peak memory'])}</td>"
        f"<td>{esc(r['date'])}</td><td><code>{esc(r['code'])}</code></td></tr>"
        for r in cost_table(chapter, path))
    heads = "".join(f"<th>{h}</th>" for h in ("profile", "measured on", "time", "peak memory",
                                              "date", "code"))
    measured = (f"<table><tr>{heads}</tr>{rows}</table>" if rows
                else "<p>No measured run recorded yet.</p>")
    downloads = "".join(f"<li><code>{p}</code>: {esc(d[chapter])}</li>"
                        for p, d in DOWNLOADS.items() if chapter in d)
    return ('<details class="clipdistill-cost"><summary><b>What this chapter costs</b></summary>'
            f"{measured}<p>First-run downloads (none in <code>smoke</code>):</p><ul>{downloads}</ul>"
            "<p>Later runs read every download and result from local caches.</p></details>")
