"""Loading CLIP-family models: names, tags, QuickGELU, preprocessing, HF and local sources."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from clipdistill import models
from clipdistill.config import resolve
from clipdistill.models.loading import _amp_dtype
from clipdistill.offline.random_clip import openai_bpe_tokenizer
from tiny_clip import TINY, TINY_HF, register


@pytest.fixture(autouse=True, scope="module")
def _tiny():
    register()


def _gelu_kinds(clip: models.ClipModel) -> set[str]:
    return {type(m).__name__ for m in clip.model.modules() if "GELU" in type(m).__name__}


# -- unknown names -------------------------------------------------------------------------
def test_unknown_model_names_the_closest_valid_ones():
    with pytest.raises(models.UnknownModelError) as err:
        models.load_clip("ViT-B-33", "openai")
    msg = str(err.value)
    assert "'ViT-B-33'" in msg and "ViT-B-32" in msg and "openai/clip-vit-base-patch16" in msg


def test_unknown_tag_names_the_closest_valid_tags():
    with pytest.raises(models.UnknownModelError) as err:
        models.load_clip("ViT-B-32", "opnai")
    msg = str(err.value)
    assert "'opnai'" in msg and "Closest: openai" in msg and "laion2b_s34b_b79k" in msg


def test_a_name_without_weights_needs_a_tag_or_random_weights():
    with pytest.raises(models.UnknownModelError, match="random_weights=True"):
        models.load_clip(TINY, None)


def test_unknown_hf_id_with_random_weights_lists_the_known_ones():
    with pytest.raises(models.UnknownModelError, match="openai/clip-vit-base-patch16"):
        models.load_clip("someone/not-a-clip", random_weights=True)


def test_openai_style_names_are_accepted():
    assert models.parse_spec("ViT-B/32/openai") == ("ViT-B/32", "openai")
    assert models.parse_spec("ViT-B-16-SigLIP/webli") == ("ViT-B-16-SigLIP", "webli")
    assert models.parse_spec("openai/clip-vit-base-patch16") == ("openai/clip-vit-base-patch16", None)
    with pytest.raises(models.UnknownModelError, match="ViT-B-32"):
        models.parse_spec("ViT-B-322/openai")


# -- QuickGELU and preprocessing follow the tag ---------------------------------------------
def test_openai_tag_builds_quickgelu_and_others_do_not():
    openai = models.load_clip(TINY, "openai", random_weights=True)
    laion = models.load_clip(TINY, "laion", random_weights=True)
    assert openai.info["quick_gelu"] and _gelu_kinds(openai) == {"QuickGELU"}
    assert not laion.info["quick_gelu"] and _gelu_kinds(laion) == {"GELU"}
    assert openai.key != laion.key


def test_real_architectures_get_the_activation_their_tag_was_trained_with():
    table = models.model_table(["ViT-B-32/openai", "ViT-B-32/laion2b_s34b_b79k", "RN50/openai"])
    assert table.loc["ViT-B-32/openai", "QuickGELU"]
    assert not table.loc["ViT-B-32/laion2b_s34b_b79k", "QuickGELU"]
    assert table.loc["RN50/openai", "QuickGELU"]


def test_preprocessing_matches_the_tag():
    siglipish = models.load_clip(TINY, "webli", random_weights=True)
    pp = siglipish.info["preprocess"]
    assert pp["mean"] == [0.5, 0.5, 0.5] and pp["resize_mode"] == "squash" and pp["size"] == [32, 32]
    from PIL import Image

    x = siglipish.preprocess(Image.new("RGB", (64, 48), (255, 255, 255)))
    assert x.shape == (3, 32, 32) and torch.allclose(x, torch.ones_like(x))  # (1 - 0.5) / 0.5


# -- random weights ------------------------------------------------------------------------
def test_random_weights_are_seeded_and_leave_the_global_rng_alone():
    torch.manual_seed(123)
    expected = torch.rand(3)
    torch.manual_seed(123)
    a = models.load_clip(TINY, "openai", random_weights=True, seed=1)
    after = torch.rand(3)
    b = models.load_clip(TINY, "openai", random_weights=True, seed=1)
    c = models.load_clip(TINY, "openai", random_weights=True, seed=2)
    assert torch.equal(expected, after)
    tokens = a.tokenize(["a photo of a cat"])
    with torch.inference_mode():
        ta, tb, tc = (m.encode_text(tokens) for m in (a, b, c))
    assert torch.equal(ta, tb) and not torch.allclose(ta, tc)
    assert a.key == b.key != c.key and "random-s1" in a.key


def test_the_clip_model_interface():
    clip = models.load_clip(TINY, "openai", random_weights=True)
    tokens = clip.tokenize(["a cat", "a dog"])
    assert tokens.shape == (2, 16) and clip.embed_dim == 32
    with torch.inference_mode():
        t = clip.encode_text(tokens, normalize=True)
        i = clip.encode_image(torch.zeros(3, 3, 32, 32))
    assert t.shape == (2, 32) and i.shape == (3, 32)
    assert torch.allclose(t.norm(dim=-1), torch.ones(2), atol=1e-5)
    assert clip.logit_scale == pytest.approx(1 / 0.07, rel=1e-5)  # open_clip's initial value
    # On a CPU, autocast only to bf16, where the processor has units for it (test_cpu_precision).
    assert clip.amp_dtype == (torch.bfloat16 if clip.info["cpu_dtype"] == "bfloat16" else None)
    assert "tiny-clip" in repr(clip) and clip.name == TINY and clip.pretrained == "openai"


def test_load_clip_from_config_uses_random_weights_in_smoke():
    cfg = resolve("smoke", {"clip_model": TINY, "clip_pretrained": "laion", "device": "cpu"},
                  accelerator=False)
    clip = models.load_clip_from_config(cfg)
    assert clip.random_weights and clip.pretrained == "laion" and clip.device.type == "cpu"


# -- Hugging Face ------------------------------------------------------------------------
def test_hf_clip_behind_the_same_interface():
    import open_clip

    clip = models.load_clip(TINY_HF, random_weights=True)
    assert clip.backend == "transformers" and clip.info["quick_gelu"]  # HF configs carry quick_gelu
    ids = clip.tokenize(["a photo of a cat"])[0]
    ref = open_clip.get_tokenizer("ViT-B-32")(["a photo of a cat"])[0]
    n = int((ref != 0).sum())  # same BPE: identical ids up to the end token
    assert ids[:n].tolist() == ref[:n].tolist() and ids.shape == (16,)
    from PIL import Image

    x = clip.preprocess(Image.new("RGB", (50, 40)))
    with torch.inference_mode():
        assert clip.encode_image(x[None]).shape == (1, 32)
        assert clip.encode_text(clip.tokenize(["x", "y"])).shape == (2, 32)


def test_hf_architecture_table_matches_open_clip_for_vit_b16():
    table = models.model_table(["openai/clip-vit-base-patch16", "ViT-B-16/openai"], random_weights=True)
    hf, oc = table.loc["openai/clip-vit-base-patch16"], table.loc["ViT-B-16/openai"]
    for col in ("image params (M)", "text params (M)", "resolution", "context length", "vocab size", "embed dim"):
        assert hf[col] == pytest.approx(oc[col], abs=0.15), col


# -- local checkpoints ---------------------------------------------------------------------
def test_local_open_clip_checkpoint_file(tmp_path):
    src = models.load_clip(TINY, "openai", random_weights=True, seed=5)
    ckpt = tmp_path / "tiny.pt"
    torch.save(src.model.state_dict(), ckpt)
    local = models.load_clip(TINY, str(ckpt), quick_gelu=True)  # OpenAI-derived weights
    plain = models.load_clip(TINY, str(ckpt))  # a file carries no tag: plain GELU by default
    assert not local.random_weights and local.info["quick_gelu"] and not plain.info["quick_gelu"]
    tokens = src.tokenize(["a photo of a dog"])
    with torch.inference_mode():
        assert torch.allclose(src.encode_text(tokens), local.encode_text(tokens), atol=1e-6)
        # The QuickGELU trap: same weights, wrong activation, quietly different features.
        assert not torch.allclose(src.encode_text(tokens), plain.encode_text(tokens), atol=1e-3)
    assert plain.key != local.key
    torch.save(models.load_clip(TINY, "openai", random_weights=True, seed=6).model.state_dict(), ckpt)
    assert models.load_clip(TINY, str(ckpt), quick_gelu=True).key != local.key  # follows the bytes


def test_local_hf_folder(tmp_path):
    from transformers import CLIPImageProcessor

    src = models.load_clip(TINY_HF, random_weights=True, seed=3)
    src.model.save_pretrained(tmp_path)
    CLIPImageProcessor(size={"shortest_edge": 32}, crop_size={"height": 32, "width": 32}).save_pretrained(tmp_path)
    openai_bpe_tokenizer(16).save_pretrained(tmp_path)
    local = models.load_clip(str(tmp_path))
    assert local.backend == "transformers" and not local.random_weights
    tokens = src.tokenize(["two cats"])
    assert torch.equal(tokens, local.tokenize(["two cats"]))
    with torch.inference_mode():
        assert torch.allclose(src.encode_text(tokens), local.encode_text(tokens), atol=1e-6)


def test_folder_of_the_wrong_kind_is_a_clear_error(tmp_path):
    with pytest.raises(models.UnknownModelError, match="neither an open_clip folder"):
        models.load_clip(str(tmp_path))


# -- the model table -----------------------------------------------------------------------
def test_model_table_reports_vit_b16_encoder_sizes():
    table = models.model_table(["ViT-B-16/openai", "ViT-B-16-SigLIP/webli", "MobileCLIP-S1/datacompdr"])
    row = table.loc["ViT-B-16/openai"]
    # 86M parameters in the image encoder and 63M in the text encoder, the sizes the earlier
    # cats-vs-dogs experiment quotes.
    assert round(row["image params (M)"]) == 86 and round(row["text params (M)"]) == 63
    assert (row["resolution"], row["context length"], row["vocab size"], row["embed dim"]) == (224, 77, 49408, 512)
    sig = table.loc["ViT-B-16-SigLIP/webli"]
    assert (sig["context length"], sig["vocab size"], sig["embed dim"]) == (64, 32000, 768)
    assert table.loc["MobileCLIP-S1/datacompdr", "resolution"] == 256
    assert np.isclose(row["total params (M)"], row["image params (M)"] + row["text params (M)"])


def test_autocast_is_for_cuda_only_and_follows_the_setting():
    cuda, cpu = torch.device("cuda"), torch.device("cpu")
    assert _amp_dtype("fp16", cuda, "fp32") is torch.float16
    assert _amp_dtype("bf16", cuda, "fp32") is torch.bfloat16
    assert _amp_dtype("off", cuda, "fp32") is None
    assert _amp_dtype("fp16", cuda, "fp16") is None  # weights already half precision
    assert _amp_dtype("auto", cpu, "fp32") is None
    with pytest.raises(ValueError, match="auto, fp16, bf16, off"):
        _amp_dtype("half", cuda, "fp32")
