"""ImageNetV2 as a run fetches it: the hub stand-in serves a generated archive in the real
layout under the real dataset id and file name, through the hub's redirect to its CDN."""

from __future__ import annotations

import tarfile
from pathlib import Path

import numpy as np
import pytest

from clipdistill import ensembles, resolve
from clipdistill.classnames import IMAGENET_CLASSNAMES
from clipdistill.data import imagenetv2 as V2
from clipdistill.data.downloads import DownloadError
from clipdistill.data.sources import DataError
from clipdistill.offline.hub_server import HubStandIn
from clipdistill.offline.imagenetv2_archive import build_archive

REPO = "datasets/" + V2.ARCHIVE["repo"]
SMALL = {"classes": 12, "per_class": 3}


@pytest.fixture
def archive(tmp_path_factory):
    """A served folder holding the stand-in archive, and its size and SHA-256."""
    folder = tmp_path_factory.mktemp("repo")
    made = build_archive(folder / V2.ARCHIVE["file"], **SMALL)
    return folder, made


@pytest.fixture
def hub(monkeypatch):
    """``point(url)``: huggingface_hub's endpoint (HF_ENDPOINT) is ``url`` and it is online."""
    from huggingface_hub import constants

    def point(url: str) -> None:
        monkeypatch.setattr(constants, "ENDPOINT", url)
        monkeypatch.setattr(constants, "HF_HUB_OFFLINE", False)
        for var in ("NO_PROXY", "no_proxy"):
            monkeypatch.setenv(var, "127.0.0.1,localhost")

    return point


def test_the_url_and_checksum_are_the_published_ones():
    """As TFDS's checksums.tsv lists the archive (see ARCHIVE['source'])."""
    assert V2.archive_url("https://huggingface.co") == (
        "https://huggingface.co/datasets/vaishaal/ImageNetV2/resolve/main/"
        "imagenetv2-matched-frequency.tar.gz")
    assert V2.ARCHIVE["size"] == 1_264_079_360 and len(V2.ARCHIVE["sha256"]) == 64
    assert V2.ARCHIVE["classes"] * V2.ARCHIVE["per_class"] == 10_000


def test_download_through_the_hub_checks_and_unpacks_once(archive, hub, tmp_path):
    folder, made = archive
    with HubStandIn({REPO: folder}) as server:
        hub(server.url)
        got = V2.imagenetv2(tmp_path, progress=False, **made, **SMALL)
        paths = [p for _, p in server.requests]
        n = len(server.requests)
        assert V2.imagenetv2(tmp_path, progress=False, **made, **SMALL) == got
        assert len(server.requests) == n  # unpacked once: nothing fetched again
    assert f"/{REPO}/resolve/main/{V2.ARCHIVE['file']}" in paths
    assert f"/cdn/{made['sha256']}" in paths  # followed the hub's redirect to its CDN
    assert got == tmp_path / V2.FOLDER and (got / ".complete").is_file()
    files = V2.class_files(got)
    assert sorted(files) == [f"{i:03d}" for i in range(SMALL["classes"])]
    assert all(len(f) == SMALL["per_class"] for f in files.values())
    assert not (tmp_path / V2.ARCHIVE["file"]).exists()  # 1.3 GB freed once unpacked


def test_a_wrong_archive_is_refused_and_nothing_is_left(archive, hub, tmp_path):
    folder, made = archive
    with HubStandIn({REPO: folder}) as server:
        hub(server.url)
        with pytest.raises(DownloadError, match="SHA-256"):
            V2.imagenetv2(tmp_path, progress=False, size=made["size"], sha256="0" * 64, **SMALL)
        assert not list(tmp_path.iterdir())
        with pytest.raises(DownloadError, match=r"holds 36 JPEGs in 12 class folders, the published archive 72 in 24"):
            V2.imagenetv2(tmp_path, progress=False, **made, classes=24, per_class=3)
    assert not (tmp_path / V2.FOLDER).exists()


def test_an_archive_put_there_by_hand_is_checked_then_used(archive, monkeypatch, tmp_path):
    """The failure message says: curl it to where the run looks, rerun. No network then."""
    from huggingface_hub import constants

    monkeypatch.setattr(constants, "HF_HUB_OFFLINE", True)
    folder, made = archive
    (tmp_path / V2.ARCHIVE["file"]).write_bytes(b"not the archive")
    with pytest.raises(DownloadError, match="not the published archive"):
        V2.imagenetv2(tmp_path, progress=False, **made, **SMALL)
    assert not (tmp_path / V2.ARCHIVE["file"]).exists()
    with pytest.raises(DownloadError, match="HF_HUB_OFFLINE"):
        V2.imagenetv2(tmp_path, progress=False, **made, **SMALL)
    (tmp_path / V2.ARCHIVE["file"]).write_bytes((folder / V2.ARCHIVE["file"]).read_bytes())
    assert V2.imagenetv2(tmp_path, progress=False, **made, **SMALL).is_dir()


def test_members_cannot_write_outside_the_target(tmp_path):
    import io

    evil = tmp_path / "evil.tar.gz"
    with tarfile.open(evil, "w:gz") as tar:
        for name in ("top/../../0/a.jpeg", "/abs/0/b.jpeg", "top/0/c.jpeg", "top/notaclass/d.jpeg"):
            info = tarfile.TarInfo(name)
            info.size = 3
            tar.addfile(info, io.BytesIO(b"abc"))
    out = V2.extract(evil, tmp_path / "out", classes=1, per_class=1)  # the rest is skipped
    assert sorted(p.name for p in (out / "0").iterdir()) == ["c.jpeg"]
    assert sorted(p.name for p in tmp_path.iterdir()) == ["evil.tar.gz", "out"]


# -- what a run does with it ---------------------------------------------------------------

def _quick(tmp_path, accelerator: bool, **over):
    return resolve("quick", {"work_dir": str(tmp_path / "work"), "device": "cpu", **over},
                   accelerator=accelerator)


def test_profiles_take_all_of_it_on_a_gpu_and_a_balanced_subset_on_a_cpu():
    for profile in ("quick", "paper"):
        gpu = resolve(profile, accelerator=True)
        assert "imagenetv2" in gpu.ensemble_datasets
        assert gpu.imagenetv2_per_class == V2.ARCHIVE["per_class"]  # all 10,000 images
        assert gpu.supervised_model == "resnet50/IMAGENET1K_V1"
    cpu = resolve("quick", accelerator=False)
    assert "imagenetv2" in cpu.ensemble_datasets
    assert 0 < cpu.imagenetv2_per_class < V2.ARCHIVE["per_class"]
    # paper's CPU run leaves it out to stay inside its hour (book/profiles.md)
    assert "imagenetv2" not in resolve("paper", accelerator=False).ensemble_datasets
    assert len(resolve("quick", accelerator=True).ensemble_models) == 8  # the tutorial's


def test_a_quick_run_downloads_it_and_prompts_with_imagenets_names(archive, hub, tmp_path,
                                                                   monkeypatch):
    folder, made = archive
    monkeypatch.setitem(V2.ARCHIVE, "size", made["size"])
    monkeypatch.setitem(V2.ARCHIVE, "sha256", made["sha256"])
    monkeypatch.setitem(V2.ARCHIVE, "classes", SMALL["classes"])
    monkeypatch.setitem(V2.ARCHIVE, "per_class", SMALL["per_class"])
    with HubStandIn({REPO: folder}) as server:
        hub(server.url)
        everything = ensembles.load_dataset(_quick(tmp_path, True), "imagenetv2")
        subset = ensembles.load_dataset(_quick(tmp_path, False, imagenetv2_per_class=1),
                                        "imagenetv2")
    paths, labels, names = everything
    assert len(paths) == SMALL["classes"] * SMALL["per_class"]
    assert names == list(IMAGENET_CLASSNAMES[:SMALL["classes"]])  # class i is ImageNet's i
    assert np.bincount(labels).tolist() == [SMALL["per_class"]] * SMALL["classes"]
    sub_paths, sub_labels, _ = subset  # seeded, one of each class, and one it also saw
    assert np.bincount(sub_labels).tolist() == [1] * SMALL["classes"]
    assert set(sub_paths) <= set(paths)
    assert all(Path(p).is_relative_to(tmp_path / "work" / "downloads") for p in paths)


def test_a_failed_download_is_one_sentence_with_the_command(hub, tmp_path, monkeypatch):
    with HubStandIn({}) as server:  # the hub answers, but has no such dataset
        hub(server.url)
        with pytest.raises(DataError) as err:
            ensembles.load_dataset(_quick(tmp_path, True), "imagenetv2")
    msg = str(err.value)
    archive = tmp_path / "work" / "downloads" / V2.ARCHIVE["file"]
    assert "HTTP 401" in msg and "\n" not in msg and msg.endswith(".")
    assert f"curl -L -o {archive} {server.url}/{REPO}/resolve/main/" in msg
    assert "rerun the same command" in msg


def test_a_smoke_run_unpacks_a_generated_archive_without_the_network(tmp_path):
    cfg = resolve("smoke", {"work_dir": str(tmp_path / "work")}, accelerator=False)
    paths, labels, names = ensembles.load_dataset(cfg, "imagenetv2")
    assert len(set(labels)) == cfg.ensemble_max_classes  # cut, as every smoke dataset
    assert names == list(IMAGENET_CLASSNAMES[:cfg.ensemble_max_classes])
    assert all("imagenetv2-standin" in p for p in paths)


def test_a_copy_in_data_root_is_used_as_it_is(archive, tmp_path):
    folder, made = archive
    V2.extract(folder / V2.ARCHIVE["file"], tmp_path / "data" / V2.ARCHIVE["top"], **SMALL)
    cfg = resolve("smoke", {"work_dir": str(tmp_path / "work"),
                            "data_root": str(tmp_path / "data")}, accelerator=False)
    assert V2.locate(cfg)[0] == tmp_path / "data" / V2.ARCHIVE["top"]


def test_chapter_01_lists_it_without_downloading(tmp_path):
    """Chapter 01's overview of chapter 04's sets names ImageNetV2's source; a real run
    leaves the 1.26 GB download to chapter 04, and smoke says its copy is generated."""
    from clipdistill.data.figures import labelled_overview

    smoke = resolve("smoke", {"work_dir": str(tmp_path / "work")}, accelerator=False)
    (row,) = labelled_overview(smoke, ["imagenetv2"], smoke.ensemble_per_class).to_dict("records")
    assert row["source"] == "generated stand-in" and row["classes"] == V2.STANDIN["classes"]
    assert row["images"] == V2.STANDIN["classes"] * min(V2.STANDIN["per_class"],
                                                       smoke.imagenetv2_per_class)
    quick = _quick(tmp_path, False)
    (row,) = labelled_overview(quick, ["imagenetv2"], 1).to_dict("records")
    assert row["source"] == "download in chapter 4" and row["classes"] == 1000
    assert not (tmp_path / "work" / "downloads").exists()  # nothing fetched from chapter 01
