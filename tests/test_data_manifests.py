"""Recorded data: each split's manifest digest and seed, and the archives behind it."""

from __future__ import annotations

import shutil

from clipdistill import data
from clipdistill.config import resolve
from clipdistill.data import manifests
from clipdistill.offline.synthetic_data import make_shapes_dataset
from clipdistill.results import provenance

SPLITS = {"knn": {"train": 3, "test": 3}, "cat_dog_1k": {"train": 4, "validate": 2, "test": 2}}


def _recorded(tree, work, seed=0) -> dict:
    manifests.forget()
    cfg = resolve("smoke", {"work_dir": str(work), "splits": SPLITS, "image_size": 32, "num_workers": 1,
                            "pets_per_class_limit": 0, "data_root": "", "pets_source": "folder",
                            "pets_dir": str(tree), "seed": seed})
    data.prepare_pets(cfg, progress=False)
    return {e["split"]: e for e in provenance()["data"]}


def test_a_split_is_named_by_its_images_and_seed_not_by_its_folders(tmp_path):
    a = tmp_path / "a"
    make_shapes_dataset(a, ["circle", "square"], 16, seed=3)
    b = tmp_path / "b"
    shutil.copytree(a, b, copy_function=shutil.copyfile)  # the same files, fresh times and paths
    first, copied = _recorded(a, tmp_path / "wa"), _recorded(b, tmp_path / "wb")
    assert set(first) == {"knn/train", "knn/test", "cat_dog_1k/train", "cat_dog_1k/validate",
                          "cat_dog_1k/test"}
    assert first == copied
    assert first["knn/train"]["images"] == 6 and first["knn/train"]["seed"] == 0
    other_seed = _recorded(a, tmp_path / "wc", seed=1)
    assert other_seed["knn/train"]["manifest_sha256"] != first["knn/train"]["manifest_sha256"]
    renamed = tmp_path / "c"
    shutil.copytree(a, renamed)
    (renamed / "circle" / "00000.jpg").rename(renamed / "circle" / "99999.jpg")
    moved = _recorded(renamed, tmp_path / "wd")
    assert any(moved[s]["manifest_sha256"] != first[s]["manifest_sha256"] for s in first)


def test_labelled_samples_and_the_other_pool_are_recorded_with_their_archives(tmp_path):
    manifests.forget()
    cfg = resolve("smoke", {"work_dir": str(tmp_path / "work"), "data_root": "", "image_size": 32,
                            "num_workers": 1})
    data.load_labelled(cfg, "cifar10", 2)
    data.load_other_pool(cfg, 3)
    used = {e["split"]: e for e in manifests.used()}
    assert used["cifar10 (2 a class)"]["images"] == 20 and used["cifar10 (2 a class)"]["synthetic"]
    assert used["other (3 images)"]["images"] == 3
    cifar = manifests.torchvision_archives("cifar10")
    assert cifar == [{"file": "cifar-10-python.tar.gz", "md5": "c58f30108f718f92721af3b95e74349a",
                      "verified_by": "torchvision"}]
    assert [a["file"] for a in manifests.torchvision_archives("oxford_pets")] == \
        ["images.tar.gz", "annotations.tar.gz"]
