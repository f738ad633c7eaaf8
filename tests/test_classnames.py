"""The names our prompts use are the published ones: CLIP_benchmark's en_classnames.json
(a copy of the lists we need is in tests/data, with its source)."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from clipdistill import classnames
from clipdistill.classnames import all_published, prompt_names
from clipdistill.data.sources import CALTECH_NOT_A_CLASS, class_name, scan_class_folders

PUBLISHED = json.loads((Path(__file__).parent / "data" / "clip_benchmark_en_classnames.json")
                       .read_text(encoding="utf-8"))


def test_every_list_is_clip_benchmarks():
    assert list(classnames.CALTECH101_NAMES) == PUBLISHED["caltech101"]
    assert sorted(classnames.CALTECH101_NAMES) == sorted(PUBLISHED["caltech101_vtab"])
    assert list(classnames.OXFORD_PETS_NAMES) == PUBLISHED["pets"]
    assert list(classnames.IMAGENET_CLASSNAMES) == PUBLISHED["imagenet1k"]
    assert [str(d) for d in range(10)] == PUBLISHED["mnist"]  # MNIST prompts with its folders


def test_caltech_folders_are_the_archives_in_its_order():
    """CLIP_benchmark's caltech101 list follows the archive's sorted folders (torchvision's
    order, with BACKGROUND_Google first): the pairing by position is the published one."""
    assert list(classnames.CALTECH101_FOLDERS) == sorted(classnames.CALTECH101_FOLDERS)
    pairs = dict(zip(classnames.CALTECH101_FOLDERS, classnames.CALTECH101_NAMES))
    assert pairs["Faces"] == "off-center face" and pairs["Faces_easy"] == "centered face"
    assert pairs["car_side"] == "side of a car" and pairs["yin_yang"] == "yin and yang symbol"
    assert pairs["Leopards"] == "leopard" and pairs["Motorbikes"] == "motorbike"


def test_caltech_prompts_on_real_folders_use_the_published_names(shared_data):
    """Every class our Caltech-101 copy holds is prompted with a name from the list."""
    classes = sorted(scan_class_folders(shared_data / "caltech101", CALTECH_NOT_A_CLASS))
    names = prompt_names("caltech101", classes)
    assert set(names) <= set(PUBLISHED["caltech101_vtab"])
    assert all_published("caltech101", names)
    assert "faces easy" in classes and "centered face" in names
    assert "airplanes" not in names and "airplane" in names


def test_pets_names_differ_from_folder_names_only_in_case():
    folders = ["Abyssinian", "american_bulldog", "german_shorthaired", "yorkshire_terrier"]
    names = prompt_names("oxford_pets_37", [class_name(f) for f in folders])
    assert names == ["Abyssinian", "American Bulldog", "German Shorthaired", "Yorkshire Terrier"]


def test_imagenet_keys_map_to_openais_names_in_class_order():
    keys = [classnames.imagenet_key(i) for i in range(1000)]
    assert keys == sorted(keys)
    for dataset in ("imagenet", "imagenetv2"):
        assert prompt_names(dataset, keys) == PUBLISHED["imagenet1k"]


def test_unknown_classes_pass_through_and_are_flagged():
    assert prompt_names("caltech101", ["my own class"]) == ["my own class"]
    assert not all_published("caltech101", ["my own class"])
    assert prompt_names("cifar10", ["cat", "dog"]) == ["cat", "dog"]
    assert all_published("cifar10", ["anything"])  # no table: its own names are published


def test_chapter06_names_class_names_that_differ():
    """A sweep row prompted with folder names is not like for like with the published one."""
    from clipdistill.comparison import comparison_table

    row = {"model": "ViT-B-32/openai", "dataset": "caltech101", "classes": 102,
           "images": 102 * 4, "template_set": "dataset", "templates": "caltech101",
           "n_templates": 34, "accuracy": 0.8}
    sweep = pd.DataFrame([{**row, "published_names": False}])
    r04 = {"smoke": False, "config": {"ensemble_per_class": 4}}
    table = comparison_table({"04_prompt_ensembles": r04}, sweep)
    assert table["verdict"].str.contains("class names").all()
    table = comparison_table({"04_prompt_ensembles": r04},
                             sweep.assign(published_names=True))
    assert not table["verdict"].str.contains("class names").any()
    older = sweep.drop(columns="published_names")  # a sweep file from before the column
    assert not comparison_table({"04_prompt_ensembles": r04}, older)["verdict"].str.contains(
        "class names").any()
    assert np.isfinite(table["ours"]).all()


@pytest.mark.parametrize("dataset", ["caltech101", "oxford_pets_37"])
def test_published_names_are_unique(dataset):
    names = list(classnames.PUBLISHED_NAMES[dataset].values())
    assert len(set(names)) == len(names)
