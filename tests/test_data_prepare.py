"""The pipeline end to end on tiny generated folders: sources, counts, manifests, caches."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from clipdistill import data
from clipdistill.config import resolve
from clipdistill.data import prepare as prepare_mod
from clipdistill.data.bad_files import BAD_FILE_KINDS, make_bad_files
from clipdistill.offline.synthetic_data import make_shapes_dataset

SPLITS = {
    "knn": {"train": 3, "test": 3},
    "cat_dog_1k": {"train": 4, "validate": 2, "test": 2},
    "cat_dog_10k": {"train": 6, "validate": 2, "test": 2},
}
N_GOOD = 20  # per class; the splits above need 3+3+2+2+6 = 16


def _cfg(tmp: Path, **over):
    base = {"work_dir": str(tmp / "work"), "splits": SPLITS, "image_size": 32, "num_workers": 1,
            "pets_per_class_limit": 0, "data_root": ""}
    base.update(over)
    return resolve("smoke", base)


@pytest.fixture(scope="module")
def pet_tree(tmp_path_factory) -> Path:
    """A PetImages-like download: Cat/ and Dog/ folders, plus every kind of bad file in Cat/."""
    root = tmp_path_factory.mktemp("dl") / "PetImages"
    make_shapes_dataset(root, ["circle", "square"], N_GOOD, seed=1)
    (root / "circle").rename(root / "Cat")
    (root / "square").rename(root / "Dog")
    make_bad_files(root / "Cat")
    (root / "Dog" / ".DS_Store").write_bytes(b"\0hidden")  # hidden files are not "found"
    return root


def test_prepare_counts_report_and_manifests(pet_tree, tmp_path):
    cfg = _cfg(tmp_path, data_root=str(pet_tree.parent))
    prep = data.prepare_pets(cfg, progress=False)
    n_bad = sum(1 for o, _ in BAD_FILE_KINDS.values() if o == "skipped")
    assert prep.source == "petimages" and prep.classes == ["cat", "dog"]
    assert prep.found == 2 * N_GOOD + len(BAD_FILE_KINDS)
    assert prep.found == prep.used + prep.skipped and prep.skipped == n_bad
    assert set(prep.report.columns) >= {"path", "reason"}
    assert sorted(prep.report["reason"]) == sorted(r for o, r in BAD_FILE_KINDS.values() if o == "skipped")
    needs_work = sum(1 for o, r in BAD_FILE_KINDS.values() if o == "used" and r)
    assert len(prep.conversions) == needs_work, "every odd-but-usable file says what was done"
    pc = prep.per_class
    assert pc.loc["cat", "found"] == N_GOOD + len(BAD_FILE_KINDS) and pc.loc["dog", "skipped"] == 0

    for fam, parts in SPLITS.items():
        for part, n in parts.items():
            split = data.load_split(cfg, fam, part)
            assert split.name == f"{fam}/{part}" and split.classes == ["cat", "dog"]
            assert split.counts() == {"cat": n, "dog": n}
            assert split.labels.dtype == np.int64 and len(split.paths) == len(split.labels)
            with Image.open(split.paths[0]) as im:
                assert im.size == (32, 32) and im.mode == "RGB"
            d = prep.splits_dir / fam / part
            assert (d / "manifest.txt").read_text().count("\n") == 2 * n
            assert np.array_equal(np.load(d / "y_true.npy"), split.labels)
            assert json.loads((d / "classes.json").read_text()) == ["cat", "dog"]
    row = prep.split_table.set_index("split").loc["cat_dog_10k/train"]
    assert row["cat"] == 6 and row["total"] == 12
    summary = prep.summary()
    assert summary["found"] == prep.found and summary["splits"]["knn/test"]["total"] == 6
    json.dumps(summary)  # saved by the chapter: must be JSON-able


def test_same_seed_identical_manifests_other_seed_differs(pet_tree, tmp_path):
    def manifests(work: str, seed: int) -> dict:
        cfg = _cfg(tmp_path, data_root=str(pet_tree.parent), work_dir=str(tmp_path / work), seed=seed)
        prep = data.prepare_pets(cfg, progress=False)
        return {p: (prep.splits_dir / p / "manifest.txt").read_text()
                for p in ("knn/train", "knn/test", "cat_dog_1k/train", "cat_dog_10k/test")}

    a, b, c = manifests("a", 0), manifests("b", 0), manifests("c", 1)
    assert a == b
    assert a != c


def test_second_run_is_cheap_and_changes_are_noticed(pet_tree, tmp_path, monkeypatch):
    cfg = _cfg(tmp_path, data_root=str(pet_tree.parent))
    data.prepare_pets(cfg, progress=False)
    calls = []
    real = prepare_mod.convert_many
    monkeypatch.setattr(prepare_mod, "convert_many", lambda jobs, *a, **k: calls.append(len(jobs)) or real(jobs, *a, **k))
    again = data.prepare_pets(cfg, progress=False)
    assert calls == [], "nothing changed: nothing converted"
    # a different split spec reuses the resized images and only writes new manifests
    cfg2 = _cfg(tmp_path, data_root=str(pet_tree.parent), splits={"knn": {"train": 2, "test": 2}})
    other = data.prepare_pets(cfg2, progress=False)
    assert calls == [] and other.root == again.root and other.splits_dir != again.splits_dir
    assert other.split("knn", "test").counts() == {"cat": 2, "dog": 2}


def test_jobs_that_start_together_resize_once(pet_tree, tmp_path, monkeypatch, capsys):
    # An array of jobs on one disk, all finding the images unprepared: one resizes, the
    # others wait for it and read back what it wrote.
    import threading
    import time

    cfg = _cfg(tmp_path, data_root=str(pet_tree.parent))
    calls = []
    real = prepare_mod.convert_many

    def slow(jobs, *a, **k):
        calls.append(len(jobs))
        time.sleep(0.5)  # long enough for the other job to arrive while this one works
        return real(jobs, *a, **k)

    monkeypatch.setattr(prepare_mod, "convert_many", slow)
    preps = []
    jobs = [threading.Thread(target=lambda: preps.append(data.prepare_pets(cfg, progress=False)))
            for _ in range(2)]
    for job in jobs:
        job.start()
    for job in jobs:
        job.join()
    assert len(calls) == 1, "the second job reused the first one's images"
    assert len(preps) == 2 and preps[0].images.equals(preps[1].images)
    assert "Waiting for another process resizing petimages" in capsys.readouterr().out
    assert not list(preps[0].root.parent.glob("*.lock")), "the lock is gone when done"


def test_profiles_never_collide(pet_tree, tmp_path):
    roots = {data.prepare_pets(_cfg(tmp_path, data_root=str(pet_tree.parent), **o), progress=False).root
             for o in ({}, {"image_size": 24}, {"resize_mode": "crop"})}
    assert len(roots) == 3


def test_too_large_split_fails_before_resizing(pet_tree, tmp_path, monkeypatch):
    big = {"knn": {"train": 3, "test": 3}, "cat_dog_10k": {"train": 50, "validate": 2, "test": 2}}
    cfg = _cfg(tmp_path, data_root=str(pet_tree.parent), splits=big)
    monkeypatch.setattr(prepare_mod, "convert_many", lambda *a, **k: pytest.fail("resized although doomed"))
    found = N_GOOD + len(BAD_FILE_KINDS)
    with pytest.raises(data.DataError, match=rf"cat_dog_10k/train needs 50 images of class 'cat' but only "
                                             rf"{found - 10} are available \({found} found"):
        data.prepare_pets(cfg, progress=False)


def test_too_large_split_after_skipping_bad_files_unless_allowed(tmp_path):
    tree = tmp_path / "pets"
    make_shapes_dataset(tree, ["circle", "square"], 30, seed=6)
    for p in sorted((tree / "circle").iterdir())[10:]:
        p.unlink()
    make_bad_files(tree / "circle")
    usable = 10 + sum(1 for o, _ in BAD_FILE_KINDS.values() if o == "used")
    found = 10 + len(BAD_FILE_KINDS)
    spec = {"knn": {"train": 3, "test": 3}, "cat_dog_10k": {"train": found - 10, "validate": 2, "test": 2}}
    cfg = _cfg(tmp_path, pets_source="folder", pets_dir=str(tree), splits=spec)
    with pytest.raises(data.DataError, match=rf"cat_dog_10k/train needs {found - 10} images of class 'circle' "
                                             rf"but only {usable - 10} are available \({usable} usable"):
        data.prepare_pets(cfg, progress=False)
    with pytest.warns(UserWarning, match="allow_fewer"):
        prep = data.prepare_pets(_cfg(tmp_path, pets_source="folder", pets_dir=str(tree), splits=spec,
                                      allow_fewer=True), progress=False)
    assert prep.split("cat_dog_10k", "train").counts() == {"circle": usable - 10, "square": found - 10}


def test_unknown_split_names_the_valid_ones(tmp_path):
    cfg = _cfg(tmp_path)
    with pytest.raises(data.DataError, match="Valid: knn/train, knn/test"):
        data.load_split(cfg, "knn", "validate")


def test_no_data_smoke_uses_honest_synthetic_shapes(tmp_path):
    cfg = _cfg(tmp_path, pets_source="auto")
    split = data.load_split(cfg, "knn", "train")  # prepares lazily
    assert split.classes == ["circle", "square"] and split.source == "synthetic"
    prep = data.prepare_pets(cfg, progress=False)
    assert prep.synthetic and prep.skipped == 0 and "smoke" in prep.note


def test_folder_source_any_classes_and_limit(tmp_path):
    tree = tmp_path / "mine"
    make_shapes_dataset(tree, ["circle", "square", "triangle"], 30, seed=2)
    shutil.move(str(tree / "triangle"), str(tree / "Big_Triangle"))
    cfg = _cfg(tmp_path, pets_source="folder", pets_dir=str(tree), pets_per_class_limit=25)
    prep = data.prepare_pets(cfg, progress=False)
    assert prep.classes == ["big triangle", "circle", "square"]
    assert prep.found == 75
    with pytest.raises(data.DataError, match="pets_dir"):
        data.prepare_pets(_cfg(tmp_path, pets_source="folder"), progress=False)
    with pytest.raises(data.DataError, match="PetImages"):
        data.prepare_pets(_cfg(tmp_path, pets_source="petimages"), progress=False)


def test_load_labelled_from_folders_and_synthetic(tmp_path):
    root = tmp_path / "data"
    make_shapes_dataset(root / "cifar10" / "test", ["circle", "square"], 6, seed=3)
    make_bad_files(root / "cifar10" / "test" / "circle")
    cfg = _cfg(tmp_path, data_root=str(root))
    ds = data.load_labelled(cfg, "cifar10", 5)
    assert ds.source == "cifar10" and ds.counts() == {"circle": 5, "square": 5}
    for p in ds.paths:
        with Image.open(p) as im:
            assert im.mode == "RGB"
    assert data.load_labelled(cfg, "cifar10", 3).paths == [p for p in ds.paths if p.parent.name == "circle"][:3] + \
        [p for p in ds.paths if p.parent.name == "square"][:3], "a smaller sample is a prefix"
    with pytest.raises(data.DataError, match="needs 12 images of class 'square' but only 6"):
        data.load_labelled(cfg, "cifar10", 12)
    mnist = data.load_labelled(cfg, "mnist", 2)  # not in data_root, smoke: generated stand-in
    assert mnist.source == "synthetic" and len(mnist.classes) == 10 and len(mnist) == 20
    with pytest.raises(data.DataError, match="Valid: cats_dogs"):
        data.load_labelled(cfg, "imagenet", 2)


def test_other_pool_seeded_nested_resized_and_errors(tmp_path):
    other = tmp_path / "openimages"
    make_shapes_dataset(other, ["triangle", "ring"], 5, seed=4)
    make_bad_files(other / "junk")
    cfg = _cfg(tmp_path, other_source="folder", other_dir=str(other))
    pool = data.load_other_pool(cfg, 8)
    assert len(pool) == 8 and len(set(pool)) == 8
    assert data.load_other_pool(cfg, 4) == pool[:4]
    with Image.open(pool[0]) as im:
        assert im.size == (32, 32), "others are resized exactly like the pets"
    with pytest.raises(data.DataError, match=r"needs 50 images but only \d+ are usable"):
        data.load_other_pool(cfg, 50)
    with pytest.warns(UserWarning):
        assert len(data.load_other_pool(_cfg(tmp_path, other_source="folder", other_dir=str(other),
                                             allow_fewer=True), 50)) < 50
    synth = data.load_other_pool(_cfg(tmp_path, other_source="auto"), 6)
    assert len(synth) == 6 and all("synthetic" in str(p) for p in synth)


def test_shared_data_petimages(shared_data, tmp_path):
    cfg = _cfg(tmp_path, data_root=str(shared_data), pets_per_class_limit=20)
    prep = data.prepare_pets(cfg, progress=False)
    assert prep.source == "petimages" and prep.classes == ["cat", "dog"] and prep.found == 40
    caltech = data.load_other_pool(_cfg(tmp_path, data_root=str(shared_data)), 5)
    assert len(caltech) == 5 and "caltech101" in str(caltech[0])


def test_a_replaced_source_file_is_resized_again(tmp_path):
    tree = tmp_path / "pets"
    make_shapes_dataset(tree, ["circle", "square"], N_GOOD, seed=5)
    cfg = _cfg(tmp_path, pets_source="folder", pets_dir=str(tree))
    before = data.prepare_pets(cfg, progress=False)
    target = tree / "circle" / "00003.jpg"
    shutil.copyfile(tree / "square" / "00000.jpg", target)  # same name, new bytes
    after = data.prepare_pets(cfg, progress=False)
    old = set(before.images["path"]) - set(after.images["path"])
    new = set(after.images["path"]) - set(before.images["path"])
    assert len(old) == 1 and len(new) == 1 and "00003" in next(iter(new))
    assert after.used == before.used


def test_splits_follow_source_names_not_file_times(tmp_path):
    """A copy of the same data elsewhere (new mtimes, so new output names) gets the same splits."""
    a = tmp_path / "a"
    make_shapes_dataset(a, ["circle", "square"], N_GOOD, seed=7)
    (a / "circle").rename(a / "0")  # digit class names must stay strings
    (a / "square").rename(a / "1")
    b = tmp_path / "b"
    shutil.copytree(a, b, copy_function=shutil.copyfile)  # fresh mtimes

    def chosen(tree: Path, work: str) -> dict:
        cfg = _cfg(tmp_path, pets_source="folder", pets_dir=str(tree), work_dir=str(tmp_path / work))
        prep = data.prepare_pets(cfg, progress=False)
        key = dict(zip(prep.images["path"], prep.images["key"]))
        return {s: [key[p.relative_to(prep.root).as_posix()] for p in prep.split(*s.split("/")).paths]
                for s in prep.split_table["split"]}

    assert chosen(a, "wa") == chosen(b, "wb")
    assert data.prepare_pets(_cfg(tmp_path, pets_source="folder", pets_dir=str(a), work_dir=str(tmp_path / "wa")),
                             progress=False).classes == ["0", "1"]
