"""A reader's first real run, against stand-ins for the hub and the dataset hosts.

clipdistill.offline.hub_server serves random weights in the real file names and formats under the
real repo ids (the ``quick`` profile's ViT-B-32/openai at its real shapes, a Hugging Face
CLIP, the VLM ids of every profile at a tiny size); tests/dataset_archives.py
serves Oxford-IIIT Pet, CIFAR-10 and MNIST archives to torchvision's own download code.
The model checks run in child processes with a reader's environment (HF_ENDPOINT,
HF_HOME, HF_HUB_OFFLINE), exactly as ``clipdistill run`` would see it; this process
stays offline.
"""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
import time
from pathlib import Path

import nbformat
import pytest
from dataset_archives import CIFAR_CLASSES, PET_BREEDS, PET_IMAGES_PER_BREED, serve_torchvision_sets
from clipdistill.offline.hub_repos import hf_clip_repo, open_clip_repo, qwen_vl_repo
from clipdistill.offline.hub_server import Blackhole, FileServer, HubStandIn, reader_env

from clipdistill.cli import main
from clipdistill.offline.tiny_smolvlm import build_tiny_smolvlm
from clipdistill.config import ConfigError, resolve

QWEN_IDS = ("Qwen/Qwen2.5-VL-3B-Instruct", "Qwen/Qwen2.5-VL-7B-Instruct")
SMOLVLM_ID = "HuggingFaceTB/SmolVLM-256M-Instruct"  # the CPU runs' VLM
VLM_IDS = (*QWEN_IDS, SMOLVLM_ID)
HF_CLIP = "openai/clip-vit-base-patch32"
MOBILECLIP = ("MobileCLIP2-S0/dfndr2b",)  # what chapter 02 compares on a CPU


@pytest.fixture(scope="module")
def stand_in(tmp_path_factory):
    """The hub stand-in with every repo a real run of ``quick`` or ``paper`` needs."""
    root = tmp_path_factory.mktemp("hub-repos")
    clip_id, clip_folder = open_clip_repo(root, "ViT-B-32", "openai")
    rn50_id, rn50_folder = open_clip_repo(root, "RN50", "openai")  # chapter 02 compares it
    vlm = qwen_vl_repo(root)
    repos = {clip_id: clip_folder, rn50_id: rn50_folder, HF_CLIP: hf_clip_repo(root, HF_CLIP),
             SMOLVLM_ID: build_tiny_smolvlm(root / "smolvlm")}
    for spec in MOBILECLIP:  # chapter 02 compares them with ViT-B-32, at their real shapes
        repo_id, folder = open_clip_repo(root, *spec.split("/"))
        repos[repo_id] = folder
    vlm_ids = {resolve(p, accelerator=gpu).vlm_model for p in ("quick", "paper") for gpu in (True, False)}
    assert vlm_ids == set(VLM_IDS)  # a profile's new VLM needs its stand-in here
    repos.update({repo_id: vlm for repo_id in QWEN_IDS})
    with HubStandIn(repos) as server:
        yield server


def run_python(code: str, env: dict[str, str], *args: str, timeout: float = 300) -> dict:
    """Run ``code`` in a fresh interpreter; its last line of output is JSON."""
    out = subprocess.run([sys.executable, "-c", code, *args], env=env, capture_output=True,
                         text=True, timeout=timeout)
    assert out.returncode == 0, out.stderr[-3000:]
    return json.loads(out.stdout.strip().splitlines()[-1])


# What a quick run loads, from a reader's process: auto's verdict, the CLIP of the profile
# (weights compared with the served file), a Hugging Face CLIP, the VLM of each profile.
LOAD_EVERYTHING = r"""
import json, sys
import torch
from PIL import Image
from safetensors.torch import load_file
from huggingface_hub import hf_hub_download
from clipdistill import models
from clipdistill.config import resolve
from clipdistill.vlm import make_describer

auto = resolve("auto", accelerator=False)
quick = resolve("quick", {"clip_cpu_kernels": "torch"}, accelerator=False)
clip = models.load_clip_from_config(quick)
served = load_file(hf_hub_download("timm/vit_base_patch32_clip_224.openai", "open_clip_model.safetensors"))
same = all(torch.equal(v, clip.model.state_dict()[k]) for k, v in served.items())
with torch.no_grad():
    text = clip.encode_text(clip.tokenize(["a photo of a cat"]), normalize=True)[0, :4].tolist()
compared = [spec for spec in dict.fromkeys(quick.explore_models + quick.ensemble_models
                                           + quick.compare_models)
            if spec != "ViT-B-32/openai"]
dims = {spec: models.load_clip(*models.parse_spec(spec), cpu_kernels="torch").embed_dim
        for spec in compared}
hf = models.load_clip("openai/clip-vit-base-patch32", cpu_kernels="torch")
with torch.no_grad():
    hf_text = hf.encode_text(hf.tokenize(["a photo of a cat"]), normalize=True)[0, :4].tolist()
image = sys.argv[1]
Image.new("RGB", (64, 48), (200, 120, 40)).save(image)
said = {}
for repo_id in sys.argv[2:]:
    # The CPU run's image settings are SmolVLM's (one tile); a Qwen id takes its own.
    settings = {} if "SmolVLM" in repo_id else {"vlm_image_processor": {}}
    describer = make_describer(resolve("quick", {"vlm_model": repo_id, **settings},
                                       accelerator=False))
    said[repo_id] = describer.describe([image], "describe this image in a sentence.")[0]
print(json.dumps({"auto": auto.profile, "note": auto.profile_note, "same": same,
                  "quick_gelu": clip.info["quick_gelu"], "text": text, "hf_text": hf_text,
                  "hf_embed_dim": hf.embed_dim, "said": said, "dims": dims}))
"""


@pytest.mark.slow
def test_quick_downloads_through_a_mirror_then_runs_offline_from_the_cache(stand_in, tmp_path):
    online = reader_env(tmp_path / "hf-home", HF_ENDPOINT=stand_in.url)
    first = run_python(LOAD_EVERYTHING, online, str(tmp_path / "a.png"), *VLM_IDS)
    # auto sees the weights through the mirror and becomes quick
    assert first["auto"] == "quick", first["note"]
    assert first["note"] == f"auto -> quick: the hub at {stand_in.url} has ViT-B-32/openai"
    # the CLIP is exactly the served file, built as the OpenAI tag was trained (QuickGELU)
    assert first["same"] and first["quick_gelu"] and first["hf_embed_dim"] == 512
    assert all(isinstance(t, str) for t in first["said"].values())
    got = stand_in.downloads()
    clip_blob = stand_in.repos["timm/vit_base_patch32_clip_224.openai"].files["open_clip_model.safetensors"]
    assert f"/cdn/{clip_blob['lfs']}" in got  # the weights came from the CDN side, as on the hub
    assert not any("open_clip_pytorch_model.bin" in p for _, p in stand_in.requests)  # no .bin detour
    assert set(first["said"]) == set(VLM_IDS)
    assert first["dims"] == {"RN50/openai": 1024, **{spec: 512 for spec in MOBILECLIP}}
    for repo_id in (HF_CLIP, *VLM_IDS):
        assert any(p.startswith(f"/{repo_id}/resolve/") and p.endswith("/config.json") for p in got)
    shards = [f["lfs"] for name, f in stand_in.repos[QWEN_IDS[0]].files.items() if name.startswith("model-")]
    assert len(shards) > 1 and all(f"/cdn/{sha}" in got for sha in shards)  # a sharded checkpoint

    # Offline, from the cache alone: auto still says quick, and everything is identical.
    before = len(stand_in.requests)
    offline = reader_env(tmp_path / "hf-home", HF_ENDPOINT=stand_in.url, HF_HUB_OFFLINE="1")
    again = run_python(LOAD_EVERYTHING, offline, str(tmp_path / "b.png"), *VLM_IDS)
    assert again["auto"] == "quick"
    assert "every model the quick profile needs is in the Hugging Face cache" in again["note"]
    assert {k: again[k] for k in ("same", "text", "hf_text", "said")} == \
        {k: first[k] for k in ("same", "text", "hf_text", "said")}
    assert len(stand_in.requests) == before  # not one request


@pytest.mark.slow
def test_a_network_that_swallows_packets_fails_a_quick_run_fast(tmp_path, repo_root):
    """The blackhole accepts connections and never answers: ~13 minutes of retries before.
    (The loaders and auto meet the same blackhole in test_hub.py.)"""
    project = tmp_path / "project"
    project.mkdir()
    shutil.copy(repo_root / "_config.yml", project)
    shutil.copytree(repo_root / "notebooks", project / "notebooks",
                    ignore=shutil.ignore_patterns(".ipynb_checkpoints"))
    with Blackhole() as hole:
        env = reader_env(tmp_path / "hf-home", HF_ENDPOINT=hole.url)  # huggingface_hub's own timeouts
        start = time.monotonic()
        run = subprocess.run([sys.executable, "-m", "clipdistill.cli", "run", "--profile", "quick",
                              "--root", str(project)], env=env, capture_output=True, text=True,
                             timeout=300)
        elapsed = time.monotonic() - start
    # ~13 minutes of retries before; now one 10 s probe plus imports (on a quiet machine
    # ~20 s in all; the bound leaves room for a busy one)
    assert run.returncode == 1 and elapsed < 90, (elapsed, run.stderr[-2000:])
    error = run.stderr.strip().splitlines()[-1]
    assert "Traceback" not in run.stderr
    assert error == (
        f"error: Cannot download ViT-B-32/openai (timm/vit_base_patch32_clip_224.openai): the hub "
        f"at {hole.url} did not answer within 10 s (ReadTimeout), so the network or HF_ENDPOINT "
        "is the problem; fix it, run with --profile smoke (random weights, nothing downloaded), "
        "or set HF_HUB_OFFLINE=1 once the weights are cached.")
    assert not (project / "book" / "chapters").exists()  # failed before chapter 01 started


# -- auto never replaces a real book with a smoke one ----------------------------------------

def _executed(path: Path, profile: str) -> None:
    nb = nbformat.v4.new_notebook()
    nb.cells = [nbformat.v4.new_markdown_cell("a chapter with real results")]
    nb.metadata["papermill"] = {"parameters": {"profile": profile, "overrides": {}}}
    path.parent.mkdir(parents=True, exist_ok=True)
    nbformat.write(nb, path)


def test_auto_falling_back_to_smoke_keeps_a_real_book(tmp_path, repo_root, monkeypatch, capsys):
    from test_runner import make_chapter

    from clipdistill import config
    from clipdistill.runner import _keep_real_chapters, run_chapters

    shutil.copy(repo_root / "_config.yml", tmp_path)
    (tmp_path / "notebooks").mkdir()
    make_chapter(tmp_path / "notebooks" / "02_zero_shot_clip.ipynb")
    real = tmp_path / "book" / "chapters" / "02_zero_shot_clip.ipynb"
    _executed(real, "quick")
    before = real.read_bytes()
    why = "HF_HUB_OFFLINE is set and ViT-B-32/openai is not in the Hugging Face cache"
    monkeypatch.setattr(config, "pretrained_weights_reachable", lambda cfg=None: (False, why))

    with pytest.warns(UserWarning, match="fell back"), pytest.raises(ConfigError) as info:
        run_chapters("auto", root=tmp_path, only=["02"])
    msg = str(info.value)
    assert "\n" not in msg and real.read_bytes() == before
    for needle in ("1 chapter(s) executed with the quick profile (02_zero_shot_clip)",
                   f"fell back to 'smoke' (random weights) because {why}",
                   "run with --profile smoke to overwrite them on purpose"):
        assert needle in msg
    with pytest.warns(UserWarning, match="fell back"):
        assert main(["run", "--only", "02", "--root", str(tmp_path)]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert err[-1].startswith("error: ") and "--profile smoke" in err[-1]

    # auto's smoke may replace a smoke chapter, and --profile smoke overwrites on purpose
    _executed(tmp_path / "book" / "chapters" / "01_data_prep.ipynb", "smoke")
    _keep_real_chapters(resolve("smoke"), [tmp_path / "notebooks" / "01_data_prep.ipynb"],
                        tmp_path / "book" / "chapters")
    run_chapters("smoke", root=tmp_path, only=["02"], overrides={"data_root": str(tmp_path / "none")})
    assert nbformat.read(real, as_version=4).metadata["papermill"]["parameters"]["profile"] == "smoke"


# -- torchvision's downloads ------------------------------------------------------------------

def test_torchvision_downloads_run_their_real_code_against_local_archives(tmp_path, monkeypatch):
    """Oxford-IIIT Pet, CIFAR-10 and MNIST as data/sources.py fetches them: torchvision's own
    download, checksum and extract code, the archives on 127.0.0.1."""
    from clipdistill.data.sources import labelled_source, resolve_pets_source

    archives = tmp_path / "archives"
    with FileServer(archives) as server:
        patches = serve_torchvision_sets(archives, lambda folder: server.url)
        for cls, attrs in patches.items():
            for name, value in attrs.items():
                monkeypatch.setattr(cls, name, value)
        for var in ("NO_PROXY", "no_proxy"):
            monkeypatch.setenv(var, "127.0.0.1,localhost")
        cfg = resolve("quick", {"work_dir": str(tmp_path / "work")}, accelerator=False)
        pets = resolve_pets_source(cfg)
        breeds = labelled_source(cfg, "oxford_pets_37", 0)
        cifar = labelled_source(cfg, "cifar10", 2)
        digits = labelled_source(cfg, "mnist", 2)
    per_species = PET_IMAGES_PER_BREED * 2
    assert {c: len(f) for c, f in pets.files.items()} == {"cat": per_species, "dog": per_species}
    assert breeds.classes == sorted(b.lower() for b in PET_BREEDS)
    assert cifar.classes == sorted(CIFAR_CLASSES) and all(len(f) == 2 for f in cifar.files.values())
    assert digits.classes == [str(d) for d in range(10)] and digits.found == 20
    fetched = sorted({p.rsplit("/", 1)[-1] for m, p in server.requests if m == "GET"})
    assert fetched == sorted(["annotations.tar.gz", "cifar-10-python.tar.gz", "images.tar.gz",
                              "t10k-images-idx3-ubyte.gz", "t10k-labels-idx1-ubyte.gz",
                              "train-images-idx3-ubyte.gz", "train-labels-idx1-ubyte.gz"])
    from PIL import Image

    for source in (pets, cifar, digits):
        path = next(iter(next(iter(source.files.values())).values()))
        with Image.open(path) as im:
            im.load()
