"""The whole CPU ``quick`` run at real shapes: every chapter, as a reader without a GPU runs it.

What it costs does not depend on the weights' values, so the weights are random: every
model the CPU ``quick`` profile downloads (``hub.profile_weights``) is written at its real
shape and served under its real repo id by a local imitation of the Hugging Face hub
(``clipdistill.offline.hub_server``, through ``HF_ENDPOINT``), into a fresh ``HF_HOME``.
SmolVLM never stops early (its end-of-turn token is silenced), so every description costs
the full ``vlm_max_new_tokens``: the VLM chapters' times are upper bounds. The images are
``--data-root``'s (PetImages for the pets, CIFAR-10, MNIST and Caltech-101 from the same
folder, and PetImages photos laid out as Oxford-IIIT Pet for chapter 04's 37 breeds; an
unpacked ImageNetV2 of dogs-vs-cats originals in its real layout, ``bench_imagenetv2_cpu``'s
stand-in), and torchvision's ResNet-50 checkpoint is written, random, where torchvision's
downloader caches it; so nothing is downloaded: download times are not in the figure.

The run is ``clipdistill run --profile quick`` then ``clipdistill book`` in a child
process with a reader's environment, in ``work/bench-cpu-quick/`` (kept, so its results
can be recorded into the profiles page afterwards with the command it prints). Target: the
whole run under an hour; ratio = time over 3600 s. Took 36.6 min on 2 AMD Zen 4 cores in
bf16 and 53.1 in fp32 (2026-12-03). The run uses the CPU precision a reader gets (bf16
where the processor has bf16 matrix units); ``cpu_quick_fp32`` (bench_cpu_quick_fp32) runs
it again with every CPU precision forced to float32, today's path, for the ratio between
the two. ``cpu_paper`` (bench_cpu_paper) runs ``paper`` the same way, with its CPU
adjustments.
"""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

from . import REPO, Context, Row, machine_info
from .bench_smoke_run import copy_skeleton

NAME = "cpu_quick"

BUDGET_S = 3600.0
REPOS_DIR = REPO / "work" / "bench-hub-repos"  # real-shape random weights, built once


def build_repos(dest: Path, profile: str = "quick") -> dict[str, Path]:
    """``{repo_id: folder}`` for every hub download of ``profile`` on a CPU, real shapes."""
    from clipdistill import hub
    from clipdistill.config import resolve
    from clipdistill.offline import build_once
    from clipdistill.offline.hub_repos import hf_clip_repo, open_clip_repo
    from clipdistill.offline.random_clip import HF_RANDOM_ARCHS
    from clipdistill.offline.tiny_smolvlm import SMOLVLM_SHAPES, write_smolvlm

    cfg = resolve(profile, accelerator=False)
    repos: dict[str, Path] = {}
    for weights in hub.profile_weights(cfg):
        folder = dest / weights.repo_id.replace("/", "--")
        if weights.repo_id in SMOLVLM_SHAPES:
            shape = SMOLVLM_SHAPES[weights.repo_id]
            build_once(folder, lambda tmp, s=shape: write_smolvlm(tmp, s, never_stop=True))
        elif weights.repo_id in HF_RANDOM_ARCHS:
            build_once(folder, lambda tmp, r=weights.repo_id: _move_into(hf_clip_repo(tmp, r), tmp))
        elif "/" in weights.label:  # an open_clip model/tag
            model, tag = weights.label.split("/")
            if not (folder / "open_clip_config.json").is_file():
                repo_id, built = open_clip_repo(dest, model, tag)
                assert built == folder, (built, folder)
        else:
            raise ValueError(f"No real-shape stand-in for {weights.label}: add one here.")
        repos[weights.repo_id] = folder
    return repos


# Oxford-IIIT Pet's 37 breeds (cats capitalised, dogs not, as in its file names).
OXFORD_CATS = ("Abyssinian", "Bengal", "Birman", "Bombay", "British_Shorthair", "Egyptian_Mau",
               "Maine_Coon", "Persian", "Ragdoll", "Russian_Blue", "Siamese", "Sphynx")
OXFORD_DOGS = ("american_bulldog", "american_pit_bull_terrier", "basset_hound", "beagle",
               "boxer", "chihuahua", "english_cocker_spaniel", "english_setter",
               "german_shorthaired", "great_pyrenees", "havanese", "japanese_chin", "keeshond",
               "leonberger", "miniature_pinscher", "newfoundland", "pomeranian", "pug",
               "saint_bernard", "samoyed", "scottish_terrier", "shiba_inu",
               "staffordshire_bull_terrier", "wheaten_terrier", "yorkshire_terrier")


def oxford_pets_from_petimages(petimages: Path, dest: Path, per_breed: int = 100) -> None:
    """Oxford-IIIT Pet as torchvision leaves it after a download (``images/``,
    ``annotations/trainval.txt`` and ``test.txt``), filled with PetImages photos of the
    right species: chapter 04 costs the same on them, and no archive has to be served.
    The breeds are names only, so what the chapter *scores* on them means nothing."""
    if (dest / "annotations" / "test.txt").is_file():
        return
    rows: dict[str, list[str]] = {"trainval": [], "test": []}
    (dest / "images").mkdir(parents=True, exist_ok=True)
    breed_id = 0
    for species, (folder, breeds) in enumerate([("Cat", OXFORD_CATS), ("Dog", OXFORD_DOGS)], 1):
        photos = iter(sorted((petimages / folder).glob("*.jpg"), key=lambda p: p.name))
        for breed in breeds:
            breed_id += 1
            for n in range(1, per_breed + 1):
                shutil.copyfile(next(photos), dest / "images" / f"{breed}_{n}.jpg")
                part = "test" if n == per_breed else "trainval"
                rows[part].append(f"{breed}_{n} {breed_id} {species} {n}")
    (dest / "annotations").mkdir(exist_ok=True)
    for part in ("trainval", "test"):  # test.txt last: its presence means "complete"
        (dest / "annotations" / f"{part}.txt").write_text("\n".join(rows[part]) + "\n")


def resnet50_checkpoint(folder: Path) -> Path:
    """torchvision's ResNet-50 (IMAGENET1K_V1) file, random values at the real shapes, where
    its downloader looks first: a cached file is loaded without a download."""
    import torch
    import torchvision
    from torchvision.models import ResNet50_Weights

    path = folder / ResNet50_Weights.IMAGENET1K_V1.url.rsplit("/", 1)[-1]
    if not path.is_file():
        folder.mkdir(parents=True, exist_ok=True)
        torch.save(torchvision.models.resnet50().state_dict(), path)
    return path


def _move_into(built: Path, tmp: Path) -> None:
    """hf_clip_repo writes a subfolder; build_once wants the files in ``tmp`` itself."""
    for item in built.iterdir():
        item.rename(tmp / item.name)
    built.rmdir()


# Today's path before bf16 (and what "auto" still picks on a CPU without bf16 units):
# ``cpu_quick_fp32`` runs the same profile with these, for the side-by-side ratio.
FP32 = {"clip_cpu_dtype": "float32", "vlm_dtype": "float32", "distill_cpu_dtype": "float32"}


def bench(ctx: Context) -> dict[str, Any]:
    return measure(ctx, "quick")


def precision_label(fp32: bool) -> str:
    """What the run's CPU precision was: "float32", or "bfloat16 (amx)" and the like."""
    from clipdistill.device import cpu_bf16_units, cpu_dtype

    dtype = "float32" if fp32 else cpu_dtype("auto")[0]
    return dtype if dtype == "float32" else f"{dtype} ({cpu_bf16_units()})"


def measure(ctx: Context, profile: str, fp32: bool = False) -> dict[str, Any]:
    """The whole CPU run of ``profile`` through the hub stand-in, in ``work/bench-cpu-<profile>``
    (``fp32``: with every CPU precision forced to float32, in ``...-fp32``)."""
    from clipdistill import pins
    from clipdistill.offline.hub_server import HubStandIn, reader_env

    if ctx.cuda:
        raise SystemExit(f"cpu_{profile} measures the CPU run: run it with --device cpu.")
    repos = build_repos(REPOS_DIR, profile)
    run_dir = REPO / "work" / f"bench-cpu-{profile}{'-fp32' if fp32 else ''}"
    shutil.rmtree(run_dir, ignore_errors=True)
    run_dir.mkdir(parents=True)
    copy_skeleton(run_dir)
    # PetImages has 3,000 photos a species here: 100 a breed (25 dog breeds) fits.
    oxford_pets_from_petimages(Path(ctx.data_root) / "PetImages",
                               run_dir / "work" / "downloads" / "oxford-iiit-pet")
    from clipdistill.data import imagenetv2

    from . import dogs_vs_cats
    from .bench_imagenetv2_cpu import stand_in_copy

    stand_in_copy(run_dir / "work" / "downloads" / imagenetv2.FOLDER, dogs_vs_cats(Path(ctx.data_root)))
    torch_home = run_dir / "torch-home"
    resnet50_checkpoint(torch_home / "hub" / "checkpoints")
    cli = [str(Path(sys.executable).parent / "clipdistill")]
    run = [*cli, "run", "--profile", profile, "--data-root", str(Path(ctx.data_root).resolve()),
           "--set", "pets_source=petimages", "--set", "device=cpu"]
    for key, value in (FP32 if fp32 else {}).items():
        run += ["--set", f"{key}={value}"]
    dtype = precision_label(fp32)
    with HubStandIn(repos, commits=pins.table()) as hub:  # served at the pinned commits
        env = reader_env(run_dir / "hf-home", HF_ENDPOINT=hub.url, CLIPDISTILL_PROGRESS="off",
                         TORCH_HOME=str(torch_home))
        t0 = time.perf_counter()
        subprocess.run(run, cwd=run_dir, env=env, check=True)
        t_run = time.perf_counter() - t0
    subprocess.run([*cli, "book"], cwd=run_dir, env=env, check=True)
    total = time.perf_counter() - t0
    results = run_dir / "results" / profile
    summary = json.loads((results / "run.json").read_text())
    chapters = {c["chapter"]: c["seconds"] for c in summary["chapters"]}
    peaks = {}
    for name in chapters:
        saved = results / f"{name}.json"
        if saved.is_file():
            peaks[name] = json.loads(saved.read_text()).get("provenance", {}).get("peak_rss_mb")
    per = ", ".join(f"{k.split('_', 1)[0]} {v / 60:.1f}" for k, v in chapters.items())
    ratio = total / BUDGET_S
    peak = max((p for p in peaks.values() if p), default=float("nan"))
    info = machine_info("cpu")
    rows = [Row(f"whole CPU {profile} run at real shapes, {info['cpu_count']} cores, {dtype}",
                f"{total / 60:.1f} min (chapter min: {per}; book {(total - t_run) / 60:.1f}); "
                f"peak RSS {peak / 1024:.1f} GiB", ratio, f"< {BUDGET_S / 60:.0f} min (ratio < 1)",
                ratio < 1.0, note="random weights at real shapes; VLM never stops early")]
    record = (f"cd {run_dir} && clipdistill costs record --profile {profile} --hardware "
              f"\"{info['cpu_count']} CPU cores ({info['host_cpu']}), {dtype}\" "
              "--weights \"random, real shapes; the VLM writes every token it may\"")
    print(f"To put this run on the profiles page:\n  {record}", file=sys.stderr)
    return {"rows": rows, "details": {"total_s": total, "run_s": t_run, "chapters_s": chapters,
                                      "peak_rss_mb": peaks, "record": record, "precision": dtype}}
