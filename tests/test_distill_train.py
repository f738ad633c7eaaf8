"""Distillation training: the loss goes down, a resumed run is the same run, bad input fails."""

from __future__ import annotations

import json

import numpy as np
import pytest
import torch

from clipdistill.distill import DimensionMismatchError, TrainSettings, train_student
from clipdistill.distill.checkpoints import read_checkpoint, run_key
from clipdistill.distill.image_cache import _load_square, image_store
from distill_testing import one_thread, unit_rows  # noqa: F401 (an autouse fixture)
from tiny_clip import make_images

SIZE = 32


@pytest.fixture(scope="module")
def toy(tmp_path_factory):
    root = tmp_path_factory.mktemp("toy")
    paths = make_images(root / "img", 12)
    targets = unit_rows(12, 16)
    return {"train": (paths[:8], targets[:8]), "val": (paths[8:], targets[8:])}


def settings(**kw):
    base = dict(student="tiny_cnn", out_dim=16, image_size=SIZE, epochs=3, lr=3e-3,
                batch_size=4, patience=10, seed=0, augment=True)
    base.update(kw)
    return TrainSettings(**base)


def run(toy, work, s, **kw):
    (tp, tt), (vp, vt) = toy["train"], toy["val"]
    return train_student(tp, tt, vp, vt, s, work, progress=False, **kw)


def test_a_few_steps_lower_the_loss(toy, tmp_path):
    res = run(toy, tmp_path, settings(epochs=12, augment=False, lr=1e-2, batch_size=8))
    losses = [r["train_loss"] for r in res.history]
    assert len(losses) == 12
    assert losses[-1] < losses[0] - 0.05, losses
    # The best weights are what comes back, and they are unit-vector embeddings.
    out = res.model(torch.zeros(2, 3, SIZE, SIZE))
    assert out.shape == (2, 16)
    assert torch.allclose(out.norm(dim=1), torch.ones(2), atol=1e-5)
    assert res.best_val_cosine == max(r["val_cosine"] for r in res.history)


class Interrupt(Exception):
    pass


def test_resumed_run_matches_uninterrupted(toy, tmp_path):
    # mobilenet has dropout: the global RNG must be restored too, not only the weights.
    s = settings(student="mobilenet_v3_small", epochs=3)
    final = {}

    def keep_final(name):
        def hook(epoch, row):
            if epoch == s.epochs - 1:  # the last epoch's full state, before last.pt goes
                ckpt = tmp_path / name / "distill" / "runs" / key / "last.pt"
                final[name] = read_checkpoint(ckpt, key)
        return hook

    (tp, tt), (vp, vt) = toy["train"], toy["val"]
    key = run_key(s, tp, tt, vp, vt)
    full = run(toy, tmp_path / "a", s, on_epoch_end=keep_final("a"))

    def stop_after_first(epoch, row):
        if epoch == 0:
            raise Interrupt

    with pytest.raises(Interrupt):
        run(toy, tmp_path / "b", s, on_epoch_end=stop_after_first)
    run_dir = tmp_path / "b" / "distill" / "runs" / key
    assert (run_dir / "last.pt").is_file() and not (run_dir / "done.json").exists()
    torch.manual_seed(12345)  # the caller's RNG state must not matter
    resumed = run(toy, tmp_path / "b", s, on_epoch_end=keep_final("b"))

    assert resumed.resumed_from_epoch == 1
    assert resumed.history == full.history
    a, b = final["a"], final["b"]
    for name, tensor in a["model"].items():  # the last epoch's weights, bit for bit
        assert torch.equal(tensor, b["model"][name]), name
    assert a["scheduler"] == b["scheduler"]
    for k, v in full.model.state_dict().items():  # and the best weights returned
        assert torch.equal(v, resumed.model.state_dict()[k]), k
    assert not (run_dir / "last.pt").exists()  # a finished run keeps best.pt + done.json


def test_finished_run_is_loaded_not_retrained(toy, tmp_path):
    s = settings(epochs=1)
    first = run(toy, tmp_path, s)
    done = json.loads((first.run_dir / "done.json").read_text())
    assert done["settings"]["student"] == "tiny_cnn" and len(done["history"]) == 1
    again = run(toy, tmp_path, s)
    assert again.resumed_from_epoch == -1 and again.history == first.history
    for k, v in first.model.state_dict().items():
        assert torch.equal(v, again.model.state_dict()[k])


def test_a_damaged_or_foreign_checkpoint_is_set_aside_and_the_run_done_again(toy, tmp_path):
    """A flipped byte in best.pt, a last.pt from an older version, a done.json cut short:
    each is reported in one line, moved to set-aside/, and never loaded."""
    s = settings(epochs=2)
    first = run(toy, tmp_path, s)
    best = first.run_dir / "best.pt"
    raw = bytearray(best.read_bytes())
    raw[-100] ^= 0xFF
    best.write_bytes(bytes(raw))
    with pytest.warns(UserWarning, match=r"best.pt not used: checksum mismatch .*set aside"):
        again = run(toy, tmp_path, s)
    assert again.resumed_from_epoch == 0 and again.history == first.history  # trained again
    for k, v in first.model.state_dict().items():
        assert torch.equal(v, again.model.state_dict()[k]), k
    assert len(list((first.run_dir / "set-aside").iterdir())) == 1

    (first.run_dir / "done.json").write_text('{"history": [')
    torch.save({"model": {}}, first.run_dir / "last.pt")  # as an older version wrote it
    with pytest.warns(UserWarning) as said:
        third = run(toy, tmp_path, s)
    reasons = sorted(str(w.message) for w in said if "not used" in str(w.message))
    assert len(reasons) == 2 and "not readable as JSON" in reasons[0] and "no checkpoint header" in reasons[1]
    assert third.resumed_from_epoch == 0 and third.history == first.history
    assert read_checkpoint(first.run_dir / "best.pt", first.key) is not None
    with pytest.warns(UserWarning, match="best.pt not used: it belongs to another run"):
        assert read_checkpoint(first.run_dir / "best.pt", "another run") is None


def test_early_stopping_on_validate(toy, tmp_path, monkeypatch):
    # Script the validate cosines: best at epoch 1, then two epochs without improvement.
    from clipdistill.distill import train as train_mod

    scores = iter([0.1, 0.3, 0.2, 0.25, 0.9, 0.9])
    monkeypatch.setattr(train_mod, "mean_cosine", lambda *a, **k: next(scores))
    snapshots = {}

    def keep(epoch, row):
        snapshots[epoch] = read_checkpoint(tmp_path / "distill" / "runs" / key / "last.pt",
                                           key)["model"]

    s = settings(epochs=6, patience=2)
    (tp, tt), (vp, vt) = toy["train"], toy["val"]
    key = run_key(s, tp, tt, vp, vt)
    res = run(toy, tmp_path, s, on_epoch_end=keep)
    assert res.stopped_early and res.epochs_run == 4 and res.best_epoch == 1
    assert res.best_val_cosine == 0.3
    for k, v in snapshots[1].items():  # the best epoch's weights are the result
        assert torch.equal(v, res.model.state_dict()[k]), k


def test_dimension_mismatch_is_a_clear_error(toy, tmp_path):
    with pytest.raises(DimensionMismatchError, match=r"outputs 64-d .* student_dim"):
        run(toy, tmp_path, settings(out_dim=64))


def test_paths_and_targets_must_pair_up(toy, tmp_path):
    (tp, tt), (vp, vt) = toy["train"], toy["val"]
    with pytest.raises(ValueError, match="one teacher embedding"):
        train_student(tp[:-1], tt, vp, vt, settings(), tmp_path, progress=False)


def test_run_key_changes_with_settings_and_targets(toy):
    (tp, tt), (vp, vt) = toy["train"], toy["val"]
    k = run_key(settings(), tp, tt, vp, vt)
    assert k == run_key(settings(), tp, tt, vp, vt)
    assert k != run_key(settings(lr=1e-4), tp, tt, vp, vt)
    assert k != run_key(settings(), tp, -tt, vp, vt)


def test_image_store_is_built_once(toy, tmp_path):
    paths = toy["train"][0]
    store = image_store(paths, SIZE, tmp_path, progress=False)
    arr = store.take([3, 0, 7])
    assert store.count == len(paths) and arr.shape == (3, SIZE, SIZE, 3) and arr.dtype == np.uint8
    np.testing.assert_array_equal(arr[1], _load_square(paths[0], SIZE))
    mtimes = [c.stat().st_mtime_ns for c in store.chunks]
    again = image_store(paths, SIZE, tmp_path, progress=False)
    assert [c.stat().st_mtime_ns for c in again.chunks] == mtimes
    assert not list(tmp_path.glob(".*tmp"))


def test_overlapping_lists_share_chunks(tmp_path, monkeypatch):
    from clipdistill.distill import image_cache

    monkeypatch.setattr(image_cache, "CHUNK_AVG", 3)
    monkeypatch.setattr(image_cache, "CHUNK_MAX", 4)
    paths = make_images(tmp_path / "pool", 14, seed=3)
    big = image_store(paths, SIZE, tmp_path / "s", progress=False)
    files = set((tmp_path / "s").glob("*.npy"))
    small = image_store(paths[:9], SIZE, tmp_path / "s", progress=False)  # a nested prefix
    new = set((tmp_path / "s").glob("*.npy")) - files
    assert len(small.chunks) > len(new)  # most of the prefix is reused, not re-decoded
    assert len(big.chunks) > 1
    np.testing.assert_array_equal(small.take(range(9)), big.take(range(9)))
    np.testing.assert_array_equal(big.take([13, 0]), np.stack([_load_square(paths[13], SIZE),
                                                               _load_square(paths[0], SIZE)]))


def test_augmentation_is_seeded_per_image_and_identity_params_do_nothing():
    from clipdistill.distill.inputs import augment_batch, augment_params

    a = augment_params(0, 3, [5, 9])
    np.testing.assert_array_equal(a[1], augment_params(0, 3, [9])[0])  # not batch-dependent
    assert not torch.equal(a, augment_params(0, 4, [5, 9]))  # a new epoch, new crops
    x = torch.rand(2, 3, 16, 16)
    identity = torch.tensor([[1, 1, 0, 0, 1, 1, 1, 1]] * 2, dtype=torch.float32)
    assert torch.allclose(augment_batch(x, identity), x, atol=1e-5)
    flip = identity.clone()
    flip[:, 4] = -1
    assert torch.allclose(augment_batch(x, flip), x.flip(-1), atol=1e-5)
    out = augment_batch(x, a)
    assert out.shape == x.shape and out.min() >= 0 and out.max() <= 1


@pytest.mark.parametrize("student", ["resnet18", "vit_tiny"])
def test_the_bigger_students_train_too(toy, tmp_path, student):
    res = run(toy, tmp_path, settings(student=student, epochs=1))
    assert res.epochs_run == 1 and np.isfinite(res.history[0]["train_loss"])
    assert (res.run_dir / "best.pt").is_file() and (res.run_dir / "done.json").is_file()
