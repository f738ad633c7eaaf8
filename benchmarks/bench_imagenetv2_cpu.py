"""What ImageNetV2 adds to a CPU run's chapter 04, at real shapes.

Without a GPU, ``quick`` runs chapter 04's sweep on a seeded 2 of each ImageNetV2 class's
10 images (2,000 images, 1,000 classes) with ViT-B-32, and the supervised ResNet-50 on
the same images; ``paper`` adds ViT-B-16. Most of the cost is the text side: 1,000 class
names under the raw label, the standard template and 80 templates (82,000 prompts a model;
the 7 simple templates are among the 80, so their prompts come from the cache).

Every cost here grows linearly with the classes (prompts, class embeddings, template
ranking) or the images, so the run takes ``CLASSES`` of the 1,000 classes (2 images and 82
prompts each) and scales its times by 1,000 / ``CLASSES``; on a shared 2-core machine the
whole of it would take hours. Cost does not depend on the weights' values, so the models are the real architectures
with random weights (a ``smoke`` config with the CPU ``quick`` run's chapter-04 settings:
every template, every class), and the images are a stand-in copy of ImageNetV2's layout
(1,000 folders of 10) hard-linked from ``--data-root``'s dogs-vs-cats originals, whose
sizes are close to ImageNetV2's. Every cache starts empty. Downloads are not included.

Prints minutes per model and for the ResNet-50, and the CPU runs' projected totals: the
whole-run figures on the profiles page (measured on their machine, which may be another)
plus this. ``paper``'s CPU run leaves ImageNetV2 out because of what its row says. Target: under an hour (ratio < 1). On a
shared machine the wall clock says more about the neighbours than about the work, so each
phase's CPU time is recorded too (this process, every thread): divided by the cores, it is
about what the phase takes on an idle machine of the same kind, and the projection uses it.
"""

from __future__ import annotations

import os
import shutil
import time
from pathlib import Path
from typing import Any

from . import REPO, Context, Row, dogs_vs_cats, machine_info

NAME = "imagenetv2_cpu"
CLASSES = 250  # measured; the figures are scaled to ImageNetV2's 1,000
BUDGET_S = 3600.0
# The whole CPU runs as measured before ImageNetV2 (book/profiles.md), in seconds.
MEASURED_BEFORE_S = {"quick": 18.5 * 60, "paper": 35.9 * 60}


def stand_in_copy(dest: Path, photos: list[Path], classes: int = 1000, per_class: int = 10) -> Path:
    """``dest`` in ImageNetV2's unpacked layout, hard links to ``photos`` (copies where a
    link cannot be made)."""
    if (dest / ".complete").is_file():
        return dest
    i = 0
    for c in range(classes):
        (dest / str(c)).mkdir(parents=True, exist_ok=True)
        for n in range(per_class):
            src, out = photos[i % len(photos)], dest / str(c) / f"{n}.jpeg"
            i += 1
            if not out.exists():
                try:
                    os.link(src, out)
                except OSError:
                    shutil.copyfile(src, out)
    (dest / ".complete").write_text("ok\n")
    return dest


def _cfg(work: Path, data: Path, models: list[str], supervised: str) -> Any:
    from clipdistill.config import resolve

    quick = resolve("quick", accelerator=False)
    return resolve("smoke", {
        "work_dir": str(work), "results_dir": str(work / "results"), "data_root": str(data),
        "device": "cpu", "ensemble_models": models, "ensemble_datasets": ["imagenetv2"],
        "template_sets": quick.template_sets, "imagenetv2_per_class": quick.imagenetv2_per_class,
        "ensemble_max_templates": 0, "ensemble_max_classes": 0, "batch_size": quick.batch_size,
        "num_workers": quick.num_workers, "supervised_model": supervised}, accelerator=False)


def bench(ctx: Context) -> dict[str, Any]:
    from clipdistill import ensembles
    from clipdistill.data import imagenetv2

    if ctx.cuda:
        raise SystemExit("imagenetv2_cpu measures the CPU run: run it with --device cpu.")
    root = REPO / "work" / "bench-imagenetv2"
    data = root / f"data-{CLASSES}"
    stand_in_copy(data / imagenetv2.FOLDER, dogs_vs_cats(Path(ctx.data_root)), classes=CLASSES)
    imagenetv2.ARCHIVE["classes"] = CLASSES  # this process only: the copy has CLASSES folders
    scale = 1000 / CLASSES
    wall: dict[str, float] = {}
    cpu: dict[str, float] = {}

    def timed(name: str, fn: Any) -> None:
        t0, c0 = time.perf_counter(), time.process_time()
        fn()
        wall[name], cpu[name] = time.perf_counter() - t0, time.process_time() - c0

    for model in ("ViT-B-32/openai", "ViT-B-16/openai"):
        work = root / f"work-{model.split('/')[0]}"
        shutil.rmtree(work, ignore_errors=True)  # cold caches
        timed(model, lambda: ensembles.sweep(_cfg(work, data, [model], ""), progress=False))
    work = root / "work-resnet50"
    shutil.rmtree(work, ignore_errors=True)
    cfg = _cfg(work, data, [], "resnet50/IMAGENET1K_V1")
    splits = {"imagenetv2": ensembles.load_dataset(cfg, "imagenetv2")}
    timed("resnet50", lambda: ensembles.supervised_baseline(cfg, splits, progress=False))
    cores = max(1, int(machine_info("cpu")["cpu_count"]))
    seconds = {k: scale * v / cores for k, v in cpu.items()}  # an idle machine's wall clock, about
    wall = {k: scale * v for k, v in wall.items()}
    added = {"quick": seconds["ViT-B-32/openai"] + seconds["resnet50"],
             "paper": seconds["ViT-B-32/openai"] + seconds["ViT-B-16/openai"] + seconds["resnet50"]}
    info = machine_info("cpu")
    per = ", ".join(f"{k} {v / 60:.1f} (wall {wall[k] / 60:.1f})" for k, v in seconds.items())
    rows = []
    for profile, extra in added.items():
        total = MEASURED_BEFORE_S[profile] + extra
        rows.append(Row(f"CPU {profile}: ImageNetV2 in chapter 04, {info['cpu_count']} cores",
                        f"+{extra / 60:.1f} min ({per}); projected whole run {total / 60:.1f} min",
                        total / BUDGET_S, f"< {BUDGET_S / 60:.0f} min (ratio < 1)", total < BUDGET_S,
                        note=f"CPU time / cores, measured on {CLASSES} classes and scaled to "
                             "1,000; random weights at real shapes; 2,000 images, 82,000 prompts "
                             "a model"))
    return {"rows": rows, "details": {"cpu_s": cpu, "wall_s_scaled": wall, "cores": cores,
                                      "classes_measured": CLASSES, "scale": scale,
                                      "added_s": added, "before_s": MEASURED_BEFORE_S}}
