"""Source resolution without a network: Oxford-IIIT Pet annotations, torchvision arrays
written out as folders, download failures, Caltech-101 as the "other" pool, the figures."""

from __future__ import annotations

from pathlib import Path

import matplotlib
import numpy as np
import pytest
from PIL import Image

from clipdistill import data
from clipdistill.config import resolve
from clipdistill.data import figures as dfig
from clipdistill.data.sources import find_petimages, resolve_pets_source, scan_class_folders
from clipdistill.offline.synthetic_data import make_shapes_dataset

matplotlib.use("Agg")

SPLITS = {"knn": {"train": 2, "test": 2}, "cat_dog_1k": {"train": 3, "validate": 1, "test": 1}}


def _cfg(tmp: Path, profile: str = "smoke", **over):
    base = {"work_dir": str(tmp / "work"), "splits": SPLITS, "image_size": 32, "num_workers": 1, "data_root": ""}
    base.update(over)
    return resolve(profile, base, accelerator=False)


def _fake_oxford(work: Path) -> None:
    """The two files and the images folder torchvision leaves behind, in miniature."""
    d = work / "downloads" / "oxford-iiit-pet"
    (d / "annotations").mkdir(parents=True)
    (d / "images").mkdir()
    rows = {"trainval.txt": [], "test.txt": []}
    for i, (breed, cid, species) in enumerate([("Abyssinian", 1, 1), ("american_bulldog", 2, 2), ("Bengal", 6, 1)] * 12):
        image_id = f"{breed}_{i}"
        Image.new("RGB", (60, 40), (i * 9, 100, 50)).save(d / "images" / f"{image_id}.jpg")
        rows["trainval.txt" if i % 2 else "test.txt"].append(f"{image_id} {cid} {species} 1")
    for name, lines in rows.items():
        (d / "annotations" / name).write_text("\n".join(lines) + "\n")


def test_oxford_pets_species_and_breeds_from_annotations(tmp_path):
    _fake_oxford(tmp_path / "work")
    cfg = _cfg(tmp_path, "quick")
    src = resolve_pets_source(cfg)
    assert src.name == "oxford_pets" and src.classes == ["cat", "dog"]
    assert len(src.files["cat"]) == 24 and len(src.files["dog"]) == 12
    prep = data.prepare_pets(cfg, progress=False)
    assert prep.found == 36 and prep.split("knn", "test").counts() == {"cat": 2, "dog": 2}
    breeds = data.load_labelled(cfg, "oxford_pets_37", 3)
    assert breeds.classes == ["abyssinian", "american bulldog", "bengal"] and len(breeds) == 9
    # smoke never downloads, but uses what is already there
    assert resolve_pets_source(_cfg(tmp_path, pets_source="auto")).name == "oxford_pets"


class _FakeCIFAR:
    classes = ["airplane", "automobile", "bird"]

    def __init__(self, root, train=True, download=False):
        rng = np.random.default_rng(0)
        self.data = rng.integers(0, 256, (30, 32, 32, 3), dtype=np.uint8)
        self.targets = [i % 3 for i in range(30)]


def test_torchvision_arrays_are_written_out_once_as_folders(tmp_path, monkeypatch):
    import torchvision.datasets as tvd

    calls = []
    monkeypatch.setattr(tvd, "CIFAR10", lambda *a, **k: calls.append(1) or _FakeCIFAR(*a, **k))
    cfg = _cfg(tmp_path, "quick")
    ds = data.load_labelled(cfg, "cifar10", 4)
    assert ds.classes == _FakeCIFAR.classes and ds.counts() == {c: 4 for c in _FakeCIFAR.classes}
    with Image.open(ds.paths[0]) as im:
        assert im.size == (32, 32) and im.mode == "RGB", "small sets stay at native size"
    data.load_labelled(cfg, "cifar10", 2)
    assert calls == [1], "exported once, then read from work_dir"
    # a smoke run finds the exported folder too
    assert data.load_labelled(_cfg(tmp_path), "cifar10", 2).source == "cifar10"


def test_failed_download_is_one_clear_sentence(tmp_path, monkeypatch):
    import torchvision.datasets as tvd

    def offline(*a, **k):
        raise RuntimeError("Network is unreachable")

    monkeypatch.setattr(tvd, "MNIST", offline)
    with pytest.raises(data.DataError, match=r"Could not download MNIST .*Network is unreachable.*data_root"):
        data.load_labelled(_cfg(tmp_path, "quick"), "mnist", 2)


def test_caltech_other_pool_leaves_out_the_dog(tmp_path):
    root = tmp_path / "data" / "caltech101"
    make_shapes_dataset(root, ["triangle", "ring"], 4, seed=0)
    make_shapes_dataset(root, ["circle"], 4, seed=0)
    (root / "circle").rename(root / "dalmatian")
    cfg = _cfg(tmp_path, data_root=str(tmp_path / "data"))
    pool = data.load_other_pool(cfg, 8)
    assert len(pool) == 8 and not any("dalmatian" in p.name for p in pool)
    with pytest.raises(data.DataError, match="needs 9 images but only 8"):
        data.load_other_pool(cfg, 9)
    labelled = data.load_labelled(cfg, "caltech101", 2)
    assert "dalmatian" in labelled.classes, "as a labelled set every class counts"


def test_petimages_found_in_or_at_data_root_and_class_names(tmp_path):
    root = tmp_path / "kagglecatsanddogs" / "PetImages"
    for c in ("Cat", "Dog", "Faces_easy"):
        (root / c).mkdir(parents=True)
    assert find_petimages(tmp_path / "kagglecatsanddogs") == root
    assert find_petimages(root) == root
    assert find_petimages(tmp_path) == root, "one level down, as the Kaggle zip unpacks"
    assert find_petimages(root / "Cat") is None and find_petimages("") is None
    assert sorted(scan_class_folders(root)) == ["cat", "dog", "faces easy"]
    (root / "faces easy").mkdir()
    with pytest.raises(data.DataError, match="both map to class 'faces easy'"):
        scan_class_folders(root)


def test_chapter_figures_render(tmp_path):
    cfg = _cfg(tmp_path, pets_source="synthetic")
    prep = data.prepare_pets(cfg, progress=False)
    figs = [
        dfig.example_grid(prep, per_class=3),
        dfig.class_balance(prep),
        dfig.before_after(dfig.aspect_examples(prep, cfg, n=2), 32),
        dfig.split_layout(cfg.splits, available=10),
    ]
    table = dfig.bad_file_table(tmp_path / "zoo", size=24)
    figs.append(dfig.bad_file_grid(tmp_path / "zoo"))
    assert (table["outcome"] == table["expected"]).all()
    assert "generated shapes, not pets" in dfig.source_note(prep)
    overlap = prep.overlap_matrix()
    assert overlap.loc["knn/test", "cat_dog_1k/train"] == 0 and overlap.loc["knn/test", "knn/test"] == 4
    import matplotlib.pyplot as plt

    for fig in figs:
        assert fig.axes
        plt.close(fig)
