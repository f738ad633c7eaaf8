"""Split layout: seeded, disjoint within a family, knn/test never trained on, clear errors."""

from __future__ import annotations

import itertools

import pytest

from clipdistill.config import REFERENCE_SPLITS
from clipdistill.data import DataError, layout
from clipdistill.data.splits import assign, seeded_order

SPEC = {
    "knn": {"train": 3, "test": 4},
    "cat_dog_1k": {"train": 5, "validate": 2, "test": 2},
    "cat_dog_10k": {"train": 9, "validate": 2, "test": 2},
}
IMAGES = {c: [f"{c}/{i:03d}.jpg" for i in range(40)] for c in ("cat", "dog")}


def test_full_layout_needs_10400_per_class_and_reserves_knn_test_first():
    ranges = layout(REFERENCE_SPLITS)
    assert ranges[0] == ("knn", "test", 0, 100)
    assert max(stop for *_, stop in ranges) == 100 + 100 + 100 + 100 + 10_000


def test_same_seed_same_splits_other_seed_differs():
    a, _ = assign(IMAGES, SPEC, seed=0)
    b, _ = assign({c: list(reversed(v)) for c, v in IMAGES.items()}, SPEC, seed=0)
    c, _ = assign(IMAGES, SPEC, seed=1)
    assert a == b, "listing order does not matter, only the seed"
    assert a != c


def test_sizes_disjointness_and_no_leak():
    out, short = assign(IMAGES, SPEC, seed=3)
    assert not short
    for (fam, part), by_class in out.items():
        assert all(len(v) == SPEC[fam][part] for v in by_class.values())
    for fam in SPEC:
        parts = [set(itertools.chain(*out[(fam, p)].values())) for p in SPEC[fam]]
        for x, y in itertools.combinations(parts, 2):
            assert not x & y, f"{fam} parts overlap"
    knn_test = set(itertools.chain(*out[("knn", "test")].values()))
    for (fam, part), by_class in out.items():
        if part == "train":
            assert not knn_test & set(itertools.chain(*by_class.values())), f"knn/test leaks into {fam}/train"
    # nested families: same evaluation images, the small train set is a prefix of the big one
    for cls in IMAGES:
        assert out[("cat_dog_1k", "test")][cls] == out[("cat_dog_10k", "test")][cls]
        assert out[("cat_dog_10k", "train")][cls][:5] == out[("cat_dog_1k", "train")][cls]
        assert not set(out[("knn", "train")][cls]) & set(out[("cat_dog_10k", "train")][cls])


def test_adding_a_family_does_not_move_knn():
    small = {"knn": SPEC["knn"], "cat_dog_1k": SPEC["cat_dog_1k"]}
    a, _ = assign(IMAGES, small, seed=0)
    b, _ = assign(IMAGES, SPEC, seed=0)
    assert a[("knn", "test")] == b[("knn", "test")]
    assert a[("cat_dog_1k", "train")] == b[("cat_dog_1k", "train")]


def test_too_large_split_names_split_class_needed_available():
    spec = {"knn": {"train": 10, "test": 10}, "cat_dog_10k": {"train": 100, "validate": 2, "test": 2}}
    images = {"cat": IMAGES["cat"], "dog": IMAGES["dog"][:30]}
    with pytest.raises(DataError) as err:
        assign(images, spec, seed=0)
    msg = str(err.value)
    assert "cat_dog_10k/train" in msg and "'cat'" in msg and "needs 100" in msg and "only 16" in msg
    assert "allow_fewer" in msg


def test_allow_fewer_takes_what_there_is_with_a_warning():
    spec = {"knn": {"train": 10, "test": 10}, "cat_dog_10k": {"train": 100, "validate": 2, "test": 2}}
    with pytest.warns(UserWarning, match="allow_fewer"):
        out, short = assign(IMAGES, spec, seed=0, allow_fewer=True)
    assert len(short) == 2 and len(out[("cat_dog_10k", "train")]["cat"]) == 16
    assert len(out[("knn", "test")]["dog"]) == 10, "evaluation parts are filled first"


@pytest.mark.parametrize("bad", [{"knn": {}}, {"knn": {"train": -1}}, {"knn": {"train": 2.5}}, {"knn": 5}])
def test_bad_spec_fails_clearly(bad):
    with pytest.raises(DataError):
        layout(bad)


def test_seeded_order_is_a_permutation():
    names = [f"{i}" for i in range(50)]
    order = seeded_order(names, 7, "x")
    assert sorted(order) == sorted(names) and order != sorted(names)
    assert order == seeded_order(list(reversed(names)), 7, "x")
