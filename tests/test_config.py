"""Profile resolution and overrides: one source of truth, one-line errors."""

import pytest

from clipdistill.config import (
    HARDWARE_ADJUSTMENTS,
    REFERENCE_SPLITS,
    PROFILES,
    Config,
    ConfigError,
    parse_overrides,
    resolve,
)


def test_profiles_resolve_to_configs():
    for name in PROFILES:
        cfg = resolve(name, accelerator=True)
        assert isinstance(cfg, Config) and cfg.profile == name
    assert resolve("smoke", accelerator=True).smoke is True
    assert resolve("quick", accelerator=True).smoke is False


def test_paper_runs_the_reference_experiment_at_full_size():
    cfg = resolve("paper", accelerator=True)
    assert cfg.splits == REFERENCE_SPLITS
    assert cfg.clip_model == "ViT-B-16" and "7B" in cfg.vlm_model


def test_auto_picks_quick_or_falls_back_to_smoke_with_warning():
    assert resolve("auto", weights_reachable=(True, "cached"), accelerator=True).profile == "quick"
    with pytest.warns(UserWarning, match="fell back to 'smoke'.*RANDOM"):
        cfg = resolve("auto", weights_reachable=(False, "the hub is unreachable"), accelerator=True)
    assert cfg.profile == "smoke" and cfg.smoke
    assert "unreachable" in cfg.profile_note


def test_cpu_adjustments_apply_only_without_accelerator():
    gpu = resolve("quick", accelerator=True)
    cpu = resolve("quick", accelerator=False)
    for key, value in HARDWARE_ADJUSTMENTS["quick"].items():
        assert getattr(cpu, key) == value
    assert gpu.vlm_max_images == Config().vlm_max_images


def test_a_cpu_describes_every_knn_image_with_smolvlm_and_keeps_a_word_teacher():
    from clipdistill.config import TINY_SMOLVLM, TINY_VLM

    assert resolve("quick", accelerator=True).vlm_model == "Qwen/Qwen2.5-VL-3B-Instruct"
    assert resolve("paper", accelerator=True).vlm_model == "Qwen/Qwen2.5-VL-7B-Instruct"
    assert resolve("quick", accelerator=True).teachers == ["image", "generic", "specific"]
    assert resolve("quick", accelerator=True).vlm_image_processor == {}
    for profile in ("quick", "paper"):
        cpu = resolve(profile, accelerator=False)
        assert cpu.vlm_model == "HuggingFaceTB/SmolVLM-256M-Instruct"
        assert cpu.vlm_image_processor == {"do_image_splitting": False}  # one tile an image
        knn = cpu.splits["knn"]
        assert cpu.vlm_max_images == 0
        assert {p: knn[p] for p in ("train", "test")} == REFERENCE_SPLITS["knn"]
        assert set(cpu.vlm_prompts) == {"generic", "specific"}  # both prompts, all 400 images
        assert {"image", "generic"} <= set(cpu.teachers)
        # The word teacher needs a description of every train and validate image it
        # distils on: knn/train's come from chapter 03, so only knn/validate is new.
        assert cpu.distill_splits == ["knn"] and cpu.extra_images == [0]
        assert 2 * knn["validate"] <= 20
    assert resolve("smoke", accelerator=False).vlm_model == TINY_SMOLVLM  # mirrors CPU quick
    assert resolve("smoke", accelerator=False).vlm_image_processor == {"do_image_splitting": False}
    assert resolve("smoke", accelerator=True).vlm_model == TINY_VLM  # mirrors GPU quick


def test_overrides_win_over_profile_and_hardware():
    cfg = resolve("quick", {"vlm_max_images": 7, "knn_k": 3}, accelerator=False)
    assert cfg.vlm_max_images == 7 and cfg.knn_k == 3


def test_parse_overrides_types():
    got = parse_overrides([
        "knn_k=7", "lr=0.01", "allow_fewer=yes", "extra_images=0,10,100",
        "students=[\"tiny_cnn\"]", 'splits={"knn": {"train": 2, "test": 2}}', "clip_model=RN50",
    ])
    assert got == {
        "knn_k": 7, "lr": 0.01, "allow_fewer": True, "extra_images": [0, 10, 100],
        "students": ["tiny_cnn"], "splits": {"knn": {"train": 2, "test": 2}}, "clip_model": "RN50",
    }


def test_int_accepted_for_float_but_not_bool_for_int():
    assert resolve("smoke", {"lr": 1}, accelerator=True).lr == 1.0
    with pytest.raises(ConfigError, match="knn_k"):
        resolve("smoke", {"knn_k": True}, accelerator=True)


@pytest.mark.parametrize(
    "call, pattern",
    [
        (lambda: resolve("smok"), r"Unknown profile 'smok'.*did you mean smoke"),
        (lambda: resolve("smoke", {"knn": 3}), r"Unknown parameter 'knn'.*did you mean knn_k"),
        (lambda: parse_overrides(["knn_k=abc"]), r"'knn_k'.*not of type int"),
        (lambda: resolve("smoke", {"device": "gpu"}), r"'device'.*Valid: auto, cpu, cuda, mps"),
        (lambda: resolve("smoke", {"epochs": "three"}), r"'epochs'"),
        (lambda: resolve("smoke", {"students": 3}), r"'students'.*expected list"),
        (lambda: parse_overrides(["knn_k"]), r"expected key=value"),
        (lambda: resolve("smoke", {"smoke": False}), r"cannot be overridden"),
    ],
)
def test_bad_input_is_a_one_line_error(call, pattern):
    with pytest.raises(ConfigError, match=pattern) as info:
        call()
    assert "\n" not in str(info.value)
