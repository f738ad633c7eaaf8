"""`clipdistill describe` and `clipdistill embed`: a profile's long work as sharded batch
jobs, after which the chapters' own calls find everything and compute nothing new."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from clipdistill import data, embed, jobs, models, resolve, vlm
from clipdistill.offline.synthetic_data import make_shapes_dataset
from clipdistill.offline.vlm_server import StandInVLM, stand_in_text
from test_embed import Counting

REPO = Path(__file__).resolve().parents[1]
SPLITS = {"knn": {"train": 4, "test": 3}, "cat_dog_1k": {"train": 5, "validate": 2, "test": 2}}


@pytest.fixture(scope="module")
def server():
    with StandInVLM(mean_s=0.005) as s:
        yield s


@pytest.fixture(scope="module")
def overrides(tmp_path_factory, server) -> dict:
    root = tmp_path_factory.mktemp("jobs")
    make_shapes_dataset(root / "pets", ["circle", "square"], 20, seed=4)  # two classes
    return {"work_dir": str(root / "work"), "results_dir": str(root / "results"),
            "pets_source": "folder", "pets_dir": str(root / "pets"), "other_source": "synthetic",
            "splits": SPLITS, "distill_splits": ["cat_dog_1k"], "extra_images": [0, 3],
            "teachers": ["image", "generic"], "image_size": 32, "pets_per_class_limit": 0,
            "num_workers": 1, "vlm_max_images": 2, "vlm_backend": "openai",
            "vlm_api_base": server.base_url, "vlm_model": "stand-in-vlm", "vlm_concurrency": 3}


@pytest.fixture(scope="module")
def cfg(overrides):
    cfg = resolve("smoke", overrides)
    jobs.describe_jobs(cfg)  # prepare the data once, as the docs say, before any worker
    return cfg


def cli(overrides: dict, *args: str) -> subprocess.Popen:
    sets = [x for k, v in overrides.items()
            for x in ("--set", f"{k}={v if isinstance(v, str) else json.dumps(v)}")]
    return subprocess.Popen([sys.executable, "-m", "clipdistill.cli", *args, "--profile", "smoke", *sets],
                            cwd=REPO, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)


def finish(proc: subprocess.Popen) -> dict:
    out, err = proc.communicate(timeout=300)
    assert proc.returncode == 0, err[-2000:]
    return json.loads(out.strip().splitlines()[-1])


def test_the_jobs_are_what_the_chapters_ask_for(cfg):
    work = jobs.describe_jobs(cfg)
    knn = [data.load_split(cfg, "knn", p) for p in ("train", "test")]
    capped = [p for s in knn for p in vlm.cap_per_class(s.paths, s.labels, 2)[0]]
    assert set(work) == {"generic", "specific"}
    assert work["specific"] == capped  # chapter 03 only: "specific" is no teacher here
    sweep = [*knn[0].paths, *knn[1].paths, *data.load_split(cfg, "cat_dog_1k", "train").paths,
             *data.load_split(cfg, "cat_dog_1k", "validate").paths, *data.load_other_pool(cfg, 3)]
    assert set(work["generic"]) == set(capped) | set(sweep)
    assert len(work["generic"]) == len(set(work["generic"]))
    with pytest.raises(ValueError, match="Valid: knn/train"):
        jobs.describe_jobs(cfg, ["knn/trian"])


def test_two_describe_shards_leave_the_chapters_nothing_to_describe(cfg, overrides, server):
    before = server.served
    procs = [cli(overrides, "describe", "--shard", f"{i}/2") for i in (0, 1)]
    shares = [finish(p)["described"] for p in procs]
    work = jobs.describe_jobs(cfg)
    assert {k: shares[0][k] + shares[1][k] for k in work} == {k: len(v) for k, v in work.items()}
    assert server.served - before == sum(len(v) for v in work.values())  # each image once
    served = server.served
    # What chapter 03 and chapter 05 call, in this process:
    for name, paths in work.items():
        texts = vlm.describe_split(cfg, paths, name, progress=False)
        assert texts == [stand_in_text(p.read_bytes(), cfg.vlm_prompts[name]) for p in paths]
        cache = vlm.description_cache_path(cfg, name)
        assert not cache.with_name(cache.name + ".parts").exists()  # parts merged and gone
    assert server.served == served  # nothing described twice


def test_two_embed_shards_fill_the_chapters_cache(cfg, overrides, monkeypatch):
    procs = [cli(overrides, "embed", "--split", "knn/test,cat_dog_1k/validate", "--shard", f"{i}/2")
             for i in (0, 1)]
    counts = [finish(p) for p in procs]
    paths = [*data.load_split(cfg, "knn", "test").paths, *data.load_split(cfg, "cat_dog_1k", "validate").paths]
    assert sum(c["embedded"] for c in counts) == len(paths)
    clip = models.load_clip_from_config(cfg)
    count = Counting(clip, monkeypatch)
    X = embed.embed_images(clip, paths, cache_dir=embed.cache_dir_for(cfg), progress=False)
    assert count.images == 0 and X.shape == (len(paths), clip.embed_dim)
    assert np.allclose(np.linalg.norm(X, axis=1), 1, atol=1e-5)


def test_embed_takes_a_list_of_files(cfg, overrides, tmp_path):
    listed = tmp_path / "list.txt"
    paths = data.load_split(cfg, "knn", "train").paths
    listed.write_text("# images\n" + "\n".join(str(p) for p in paths) + "\n\n")
    assert list(jobs.read_path_list(listed)) == [str(p) for p in paths]
    out = finish(cli(overrides, "embed", "--images-from", str(listed)))
    assert out["images"] == len(paths)


def test_bad_arguments_fail_in_one_sentence(overrides):
    for args, pattern in ((("describe", "--shard", "2/2"), "0 <= i < N"),
                          (("describe", "--prompt", "generik"), "Unknown VLM prompt"),
                          (("embed", "--split", "knn/nope"), "Unknown split")):
        proc = cli(overrides, *args)
        _, err = proc.communicate(timeout=300)
        assert proc.returncode == 2 and pattern in err and "Traceback" not in err
