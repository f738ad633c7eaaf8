"""The student family, the compact 64-d targets, and the cost/fidelity measures."""

from __future__ import annotations

import math

import numpy as np
import pytest
import torch

from clipdistill.distill import (STUDENTS, DimensionMismatchError, TargetProjection,
                                 build_student, count_flops, count_params, fidelity,
                                 images_per_second, model_cost)
from distill_testing import one_thread, unit_rows  # noqa: F401 (an autouse fixture)


@pytest.mark.parametrize("name", list(STUDENTS))
def test_every_student_gives_unit_embeddings_of_the_asked_size(name):
    torch.manual_seed(0)
    model = build_student(name, 24, 32 if name != "vit_tiny" else 48).eval()
    out = model(torch.randn(2, 3, model.image_size, model.image_size))
    assert out.shape == (2, 24)
    assert torch.allclose(out.norm(dim=1), torch.ones(2), atol=1e-5)


def test_students_are_ordered_tiny_to_small_and_cost_is_counted():
    params = {n: count_params(build_student(n, 64, 64)) for n in STUDENTS}
    assert params["tiny_cnn"] < params["mobilenet_v3_small"] < params["vit_tiny"] < params["resnet18"]
    flops = {n: count_flops(build_student(n, 64, 64), 64) for n in ("tiny_cnn", "resnet18")}
    assert 0 < flops["tiny_cnn"] < flops["resnet18"]
    # A multiply-add is 2 FLOPs: one conv layer checked by hand.
    conv = torch.nn.Sequential(torch.nn.Conv2d(3, 8, 3, padding=1, bias=False))
    assert count_flops(conv, 16) == 2 * 8 * 16 * 16 * 3 * 3 * 3


def test_images_per_second_runs_for_benchmarks():
    # Only that it runs and returns a rate (speed itself is never asserted in tests).
    cost = model_cost(build_student("tiny_cnn", 8, 32), 32, batch_size=2, n_batches=1)
    assert set(cost) == {"params", "gflops", "images_per_s"}
    assert math.isfinite(cost["images_per_s"]) and cost["images_per_s"] > 0
    assert images_per_second(torch.nn.Identity(), (8, 8), batch_size=1, n_batches=1) > 0


def test_bad_student_choices_fail_clearly():
    with pytest.raises(ValueError, match="Unknown student 'resnet181'.*tiny_cnn"):
        build_student("resnet181", 64, 64)
    with pytest.raises(ValueError, match="divisible by its patch size 16"):
        build_student("vit_tiny", 64, 40)
    with pytest.raises(ValueError, match="out_dim"):
        build_student("tiny_cnn", 0, 64)


def cone(n, d, rank, seed=0):
    """Unit vectors in a narrow cone, varying along ``rank - 1`` directions (like CLIP's)."""
    rng = np.random.default_rng(seed)
    basis = np.linalg.qr(rng.normal(size=(d, rank)))[0].T
    x = np.concatenate([np.full((n, 1), 3.0), rng.normal(size=(n, rank - 1))], 1) @ basis
    return (x / np.linalg.norm(x, axis=1, keepdims=True)).astype(np.float32)


def test_projection_keeps_the_teachers_cosines():
    x = cone(200, 128, 8)
    proj = TargetProjection.fit(x, 8)
    np.testing.assert_array_equal(proj.components, TargetProjection.fit(x.copy(), 8).components)
    np.testing.assert_allclose(proj.components @ proj.components.T, np.eye(8), atol=1e-5)
    z = proj(x)
    assert z.shape == (200, 8) and np.allclose(np.linalg.norm(z, axis=1), 1, atol=1e-5)
    # Exact rank: every cosine survives, so kNN sees the same neighbours.
    np.testing.assert_allclose(z @ z.T, x @ x.T, atol=1e-4)
    # Below the rank, no 16-d linear map keeps the cosines better (a random one loses).
    y = cone(200, 128, 24, seed=1)
    zy = TargetProjection.fit(y, 16)(y)
    rand = np.linalg.qr(np.random.default_rng(2).normal(size=(128, 16)))[0]
    zr = y @ rand
    zr /= np.linalg.norm(zr, axis=1, keepdims=True)
    err = lambda z: np.abs(z @ z.T - y @ y.T).mean()  # noqa: E731
    assert err(zy) < 0.5 * err(zr)


def test_length_kept_says_how_far_renormalising_moves_a_vector():
    x = cone(200, 128, 8)  # rank 8: eight directions keep every vector whole
    np.testing.assert_allclose(TargetProjection.fit(x, 8).length_kept(x), 1, atol=1e-5)
    y = unit_rows(200, 64)  # full rank: four directions keep a small part of each vector
    kept = TargetProjection.fit(y, 4).length_kept(y)
    assert kept.shape == (200,) and 0 < kept.mean() < 0.6
    z = TargetProjection.fit(y, 4)(y)
    raw = y @ TargetProjection.fit(y, 4).components.T
    np.testing.assert_allclose(np.linalg.norm(raw, axis=1), kept, rtol=1e-5)
    assert np.allclose(np.linalg.norm(z, axis=1), 1, atol=1e-5)


def test_projection_dimension_errors():
    x = unit_rows(100, 32)
    with pytest.raises(DimensionMismatchError, match="64-d projection of 32-d"):
        TargetProjection.fit(x, 64)
    proj = TargetProjection.fit(x, 4)
    with pytest.raises(DimensionMismatchError, match="maps 32-d"):
        proj(unit_rows(3, 16))


def test_fidelity_is_mean_cosine():
    t = unit_rows(10, 16)
    assert fidelity(t, t) == pytest.approx(1.0)
    assert fidelity(-t, t) == pytest.approx(-1.0)
    assert fidelity(3 * t, t) == pytest.approx(1.0)  # scale does not matter
    with pytest.raises(ValueError, match="paired"):
        fidelity(t[:, :8], t)


@pytest.mark.parametrize("kernels", ["auto", "torch"])
def test_a_deployed_student_is_a_packed_copy_with_the_same_outputs(kernels):
    from clipdistill.embed import onednn
    from clipdistill.distill import for_inference

    if not onednn.available():
        pytest.skip("this torch build has no oneDNN linear ops")
    torch.manual_seed(0)
    model = build_student("vit_tiny", 16, 32)
    deployed = for_inference(model, "cpu", cpu_kernels=kernels)
    packed = any(isinstance(m, onednn.PackedLinear) for m in deployed.modules())
    assert packed == (kernels == "auto")
    assert (deployed is model) == (kernels == "torch")
    assert not any(isinstance(m, onednn.PackedLinear) for m in model.modules())  # still trainable
    assert count_params(deployed) == count_params(model) and count_flops(deployed, 32) == count_flops(model, 32)
    x = torch.randn(3, 3, 32, 32)
    with torch.inference_mode():
        assert torch.allclose(deployed(x), model(x), atol=1e-5)
