"""Teachers read the chapters' caches; the sweep covers its grid, resumes and skips finished
runs; the headline picks the smallest student within a point of its teacher."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
import torch
from PIL import Image

import clipdistill.data as data
from clipdistill import embed, models, vlm
from clipdistill.config import resolve
from clipdistill.data.splits import Split
from clipdistill.distill import (DimensionMismatchError, headline, headline_metrics, run_sweep,
                                 teacher_embeddings)
from clipdistill.distill import sweep as sweep_mod
from distill_testing import one_thread  # noqa: F401 (an autouse fixture)


def colour_images(folder, n, colour, seed):
    """Noisy images around one colour: "cats" red, "dogs" blue, "others" green."""
    rng = np.random.default_rng(seed)
    folder.mkdir(parents=True, exist_ok=True)
    out = []
    for i in range(n):
        arr = np.clip(rng.normal(colour, 40, size=(36, 36, 3)), 0, 255).astype(np.uint8)
        out.append(folder / f"{i}.png")
        Image.fromarray(arr).save(out[-1])
    return out


def labelled(root, name, per_class, seed):
    cats = colour_images(root / name / "cat", per_class, (200, 60, 60), seed)
    dogs = colour_images(root / name / "dog", per_class, (60, 60, 200), seed + 1)
    return Split(paths=cats + dogs, labels=np.array([0] * per_class + [1] * per_class),
                 classes=["cat", "dog"], name=name)


class FakeTeachers:
    """Deterministic stand-in for CLIP: a fixed random projection of 4x4 thumbnails."""

    dim = 16

    def __init__(self):
        self.calls = 0

    def __call__(self, teacher, paths):
        self.calls += 1
        w = np.random.default_rng({"image": 0, "generic": 1, "specific": 2}[teacher]).normal(size=(48, self.dim))
        feats = np.stack([np.asarray(Image.open(p).convert("RGB").resize((4, 4)), np.float32).ravel() / 255
                          for p in paths]) if len(paths) else np.zeros((0, 48))
        e = (feats - 0.4) @ w
        return (e / np.linalg.norm(e, axis=1, keepdims=True)).astype(np.float32)


@pytest.fixture(scope="module")
def fake_data(tmp_path_factory):
    root = tmp_path_factory.mktemp("sweepdata")
    splits = {("knn", "train"): labelled(root, "knn_train", 5, 0),
              ("knn", "test"): labelled(root, "knn_test", 5, 10),
              ("knn", "validate"): labelled(root, "knn_val", 2, 15),
              ("cat_dog_1k", "train"): labelled(root, "s_train", 6, 20),
              ("cat_dog_1k", "validate"): labelled(root, "s_val", 2, 30),
              ("cat_dog_10k", "train"): labelled(root, "m_train", 12, 40),
              ("cat_dog_10k", "validate"): labelled(root, "m_val", 2, 50)}
    others = colour_images(root / "other", 6, (60, 200, 60), 60)
    return splits, others


@pytest.fixture
def sweep_cfg(tmp_path, fake_data, monkeypatch):
    splits, others = fake_data
    monkeypatch.setattr(data, "load_split", lambda cfg, f, p: splits[(f, p)])
    monkeypatch.setattr(data, "load_other_pool", lambda cfg, n: others[:n])
    return resolve("smoke", {
        "work_dir": str(tmp_path / "work"), "results_dir": str(tmp_path / "results"),
        "students": ["tiny_cnn"], "distill_splits": ["cat_dog_1k", "cat_dog_10k"],
        "extra_images": [0, 4], "teachers": ["image", "generic"], "student_image_size": 32,
        "epochs": 1, "distill_batch_size": 8, "knn_k": 3, "device": "cpu",
    }, accelerator=False)


def test_sweep_covers_the_grid_and_skips_finished_runs(sweep_cfg, monkeypatch):
    src = FakeTeachers()
    df = run_sweep(sweep_cfg, source=src, progress=False)
    assert len(df) == 2 * 2 * 2  # train splits x extras x teachers (one student)
    assert set(df["n_extra"]) == {0, 4} and set(df["teacher"]) == {"image", "generic"}
    assert set(df["n_train"]) == {12, 24} and (df["dim"] == 16).all()
    for col in ("knn_f1", "knn_accuracy", "teacher_f1", "fidelity", "val_cosine", "params"):
        assert df[col].notna().all(), col
    assert df["fidelity"].between(-1, 1).all()
    assert df["run_key"].nunique() == len(df)  # every cell is its own run
    # the per-image predictions behind each F1, for the headline's paired interval
    from clipdistill.zeroshot import classification_report

    for r in df.itertuples():
        assert len(r.knn_pred) == len(r.teacher_pred) == len(r.test_labels) == 10
        for pred, f1 in ((r.knn_pred, r.knn_f1), (r.teacher_pred, r.teacher_f1)):
            report = classification_report(r.test_labels, pred, ["cat", "dog"])
            assert 100 * report["macro_f1"] == pytest.approx(f1)

    fresh = []
    real = sweep_mod.train_student

    def spy(*a, **k):
        res = real(*a, **k)
        fresh.append(res.resumed_from_epoch != -1)
        return res

    monkeypatch.setattr(sweep_mod, "train_student", spy)
    again = run_sweep(sweep_cfg, source=src, progress=False)
    assert len(fresh) == len(df) and not any(fresh)  # all read back, none retrained
    pd.testing.assert_frame_equal(df, again)

    # Every figure draws from this frame: one panel per teacher, curves read from done.json.
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    from clipdistill.distill import figures

    for fig in (figures.accuracy_vs_student_size(df), figures.accuracy_vs_train_size(df),
                figures.accuracy_vs_extra_images(df), figures.fidelity_figure(df),
                figures.training_curves(df, sweep_cfg.work_dir)):
        assert len(fig.axes) == 2
        plt.close(fig)


def test_compact_student_learns_a_projected_teacher(sweep_cfg):
    df = run_sweep(sweep_cfg, source=FakeTeachers(), progress=False, student_dim=4,
                   teachers=["image"], train_splits=["cat_dog_1k"], extra_images=[4])
    assert len(df) == 1 and df["dim"].iloc[0] == 4
    assert np.isfinite(df["teacher_dim_f1"].iloc[0]) and np.isfinite(df["fidelity"].iloc[0])
    with pytest.raises(DimensionMismatchError, match="64-d projection of 16-d"):
        run_sweep(sweep_cfg, source=FakeTeachers(), progress=False, student_dim=64,
                  teachers=["image"], train_splits=["cat_dog_1k"], extra_images=[0])


def test_the_cpu_run_distils_on_knn_train_and_never_sees_knn_test(sweep_cfg, fake_data, monkeypatch):
    """The CPU profile's split: knn/train (described by chapter 03), its own validate part."""
    import dataclasses

    splits, _ = fake_data
    cfg = dataclasses.replace(sweep_cfg, splits={"knn": {"train": 5, "test": 5, "validate": 2}})
    seen = []
    real = sweep_mod.train_student

    def spy(paths, targets, val_paths, *a, **k):
        seen.extend([*paths, *val_paths])
        return real(paths, targets, val_paths, *a, **k)

    monkeypatch.setattr(sweep_mod, "train_student", spy)
    df = run_sweep(cfg, source=FakeTeachers(), progress=False, train_splits=["knn"],
                   teachers=["image"], extra_images=[0])
    assert list(df["split"]) == ["knn"] and list(df["n_train"]) == [10]
    assert set(seen) == set(splits[("knn", "train")].paths) | set(splits[("knn", "validate")].paths)
    assert not set(seen) & set(splits[("knn", "test")].paths)


def test_a_sweep_says_which_questions_it_leaves_to_the_gpu_profiles():
    cpu = sweep_mod.SweepSpec.from_config(resolve("quick", accelerator=False, weights_reachable=(True, "")))
    left = cpu.unanswered()
    assert any("training data" in q and "`paper` sweeps cat_dog_1k, cat_dog_10k" in q for q in left)
    assert any("extra unlabelled" in q and "`paper` sweeps 0, 1000, 10000, 100000" in q for q in left)
    assert any("`specific` teacher" in q for q in left)
    gpu = sweep_mod.SweepSpec.from_config(resolve("paper", accelerator=True, weights_reachable=(True, "")))
    assert gpu.unanswered() == []


def test_bad_sweep_settings_fail_before_any_work(sweep_cfg):
    src = FakeTeachers()
    with pytest.raises(ValueError, match="Unknown teacher 'clip'. Valid: image, generic, specific"):
        run_sweep(sweep_cfg, source=src, teachers=["clip"], progress=False)
    with pytest.raises(ValueError, match="split 'knn' needs train and validate"):
        run_sweep(sweep_cfg, source=src, train_splits=["knn"], progress=False)
    with pytest.raises(ValueError, match="Unknown student 'resnet50'"):
        run_sweep(sweep_cfg, source=src, students=["resnet50"], progress=False)
    with pytest.raises(TypeError, match="Unknown sweep setting.*family.*Valid: students"):
        run_sweep(sweep_cfg, source=src, family=["cat_dog_1k"], progress=False)
    assert src.calls == 0


def _costs() -> pd.DataFrame:
    return pd.DataFrame([
        {"model": "tiny", "role": "student", "params": 1e5, "images_per_s": 1000.0},
        {"model": "mid", "role": "student", "params": 1e6, "images_per_s": 400.0},
        {"model": "big", "role": "student", "params": 1e7, "images_per_s": 100.0},
        {"model": "CLIP", "role": "teacher:image", "params": 8e7, "images_per_s": 50.0},
        {"model": "VLM", "role": "teacher:generic", "params": np.nan, "images_per_s": np.nan},
    ])


def test_headline_smallest_student_within_one_point_of_the_cell_chosen_on_validate():
    rows = []
    # (knn_f1, val_cosine) per extra-image count: each student's best *test* score is in
    # the cell that copied the teacher worse on validate.
    for student, params, cells in [("tiny", 1e5, [(98.5, 0.70), (90.0, 0.90)]),
                                   ("mid", 1e6, [(99.5, 0.60), (98.2, 0.80)]),
                                   ("big", 1e7, [(99.6, 0.85), (97.0, 0.84)])]:
        for n_extra, (f1, cos) in zip([0, 1000], cells):
            rows.append(dict(teacher="image", student=student, dim=512, split="cat_dog_1k",
                             n_extra=n_extra, knn_f1=f1, val_cosine=cos, teacher_f1=99.0,
                             params=params))
    rows.append(dict(teacher="generic", student="tiny", dim=512, split="cat_dog_1k", n_extra=0,
                     knn_f1=80.0, val_cosine=0.5, teacher_f1=95.0, params=1e5))
    results = pd.DataFrame(rows)
    chosen = sweep_mod.chosen_cells(results).set_index(["teacher", "student"])
    assert chosen.loc[("image", "tiny"), "knn_f1"] == 90.0  # not its best test score, 98.5
    h = headline(results, _costs()).set_index("teacher")
    # tiny's chosen cell is 9 points behind; mid's (98.2, +1000) is within a point.
    assert h.loc["image", "student"] == "mid" and h.loc["image", "within"]
    assert h.loc["image", "student_f1"] == 98.2 and h.loc["image", "n_extra"] == 1000
    assert h.loc["image", "speedup"] == pytest.approx(8.0)
    # Nobody within a point: the closest is shown, flagged, against CLIP's image tower.
    assert not h.loc["generic", "within"] and h.loc["generic", "speedup_basis"] == "CLIP image tower"
    assert np.isnan(h.loc["image", "gap_low"])  # no per-image predictions, no interval
    metrics = headline_metrics(h.reset_index())
    assert metrics["image"]["student"] == "mid" and metrics["generic"]["speedup_vs_teacher"] is None


def test_the_headline_gap_has_a_paired_interval_from_the_predictions():
    from clipdistill.findings import paired_gap
    from clipdistill.zeroshot import classification_report

    labels = [0] * 10 + [1] * 10
    teacher = list(labels)
    teacher[0] = 1  # the teacher misses one cat
    student = list(labels)
    student[0], student[10], student[11] = 1, 0, 0  # the student that cat and two dogs
    f1 = {name: 100 * classification_report(labels, pred, ["cat", "dog"])["macro_f1"]
          for name, pred in (("teacher", teacher), ("student", student))}
    row = dict(teacher="image", student="tiny", dim=512, split="knn", n_extra=0,
               knn_f1=f1["student"], teacher_f1=f1["teacher"], val_cosine=0.9, params=1e5,
               knn_pred=student, teacher_pred=teacher, test_labels=labels)
    h = headline(pd.DataFrame([row]), _costs()).iloc[0]
    want = paired_gap(labels, teacher, student)
    assert h["gap"] == pytest.approx(want.value)
    assert (h["gap_low"], h["gap_high"], h["n_test"]) == (want.low, want.high, 20)
    assert h["gap_low"] <= h["gap"] <= h["gap_high"]


class FakeDescriber:
    key = "fake-describer-v1"

    def __init__(self, fail=False):
        self.fail = fail

    def describe(self, paths, prompt):
        if self.fail:
            raise AssertionError("descriptions should have come from the cache")
        return [f"a photo numbered {p.stem}" for p in paths]


def test_teachers_read_chapters_02_and_03_caches(tmp_path, monkeypatch):
    from tiny_clip import TINY, make_images, register

    register()
    cfg = resolve("smoke", {"work_dir": str(tmp_path), "device": "cpu"}, accelerator=False)
    clip = models.load_clip(TINY, "openai", random_weights=True)
    paths = make_images(tmp_path / "img", 4)
    # What chapters 02 and 03 leave behind:
    image_rows = embed.embed_images(clip, paths, cache_dir=embed.cache_dir_for(cfg), num_workers=0,
                                    progress=False)
    texts = vlm.describe_split(cfg, paths, "generic", describer=FakeDescriber(), progress=False)
    text_rows = embed.embed_texts(clip, texts, cache_dir=embed.cache_dir_for(cfg), progress=False)

    def no_encoding(*a, **k):
        raise AssertionError("the teacher should have been read from the cache")

    monkeypatch.setattr(clip, "encode_image", no_encoding)
    monkeypatch.setattr(clip, "encode_text", no_encoding)
    cfg.num_workers = 0
    np.testing.assert_array_equal(teacher_embeddings(cfg, "image", paths, clip=clip, progress=False),
                                  image_rows)
    np.testing.assert_array_equal(
        teacher_embeddings(cfg, "generic", paths, clip=clip, describer=FakeDescriber(fail=True),
                           progress=False), text_rows)
    with pytest.raises(ValueError, match="Unknown teacher"):
        teacher_embeddings(cfg, "caption", paths, clip=clip)


def test_the_clip_teacher_is_measured_like_a_student():
    from tiny_clip import TINY, register

    from clipdistill.distill import clip_image_tower, count_flops, images_per_second

    register()
    clip = models.load_clip(TINY, "openai", random_weights=True)
    tower = clip_image_tower(clip)
    assert sum(p.numel() for p in tower.parameters()) == sum(p.numel() for p in clip.model.parameters())
    size = clip.info["image_size"]
    assert count_flops(tower, size) > 0
    assert images_per_second(tower, size, batch_size=2, n_batches=1, warmup=0) > 0


def test_the_teachers_flops_are_its_architectures_whatever_kernels_run_it():
    """The engine runs a oneDNN-packed copy; its fused ops once made the counter report
    ViT-B-32's image tower at 37.8 GFLOPs. The arithmetic is the stock tower's: 8.7."""
    from clipdistill.distill import clip_image_tower, count_flops

    clip = models.load_clip("ViT-B-32", random_weights=True)
    tower = clip_image_tower(clip)
    tower(torch.zeros(2, 3, 224, 224))  # the packed copy exists and has run
    stock = count_flops(clip.model.visual, 224)
    assert count_flops(tower, 224) == stock
    assert 8.5e9 < stock < 9.0e9  # 4.4 GMACs, as ViT-B/32 at 224 px is usually quoted


def test_the_overview_names_every_axis_and_counts_the_runs():
    cfg = resolve("smoke", {"students": ["tiny_cnn"], "student_dim": 64}, accelerator=False)
    spec = sweep_mod.SweepSpec.from_config(cfg, teachers=["image"])
    table = spec.overview(cfg)
    assert table["students"] == "tiny_cnn" and table["teachers"] == "image"
    assert table["train sets"] == ", ".join(cfg.distill_splits)
    assert table["runs"] == len(cfg.distill_splits) * len(cfg.extra_images)
    assert table["student output"] == "64-d" and table.name == "profile smoke"
