"""Cutting CLIP's text padding gives the reference implementations' own embeddings."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from clipdistill import embed, models
from clipdistill.models.short_text import cut_length, encode_short
from tiny_clip import TINY, TINY_HF, register

PROMPTS = ["a photo of a cat.", "a photo of an american pit bull terrier, a type of pet.",
           "dog", "a blurry photo of the small bird."]


@pytest.fixture(autouse=True, scope="module")
def _tiny():
    register()


def test_the_cut_keeps_every_column_up_to_the_last_end_of_text_token():
    eot = 49407
    tokens = torch.tensor([[49406, 320, eot, 0, 0, 0], [49406, 320, 1125, 539, eot, 0]])
    assert cut_length(tokens) == 5  # argmax pooling: the end token is CLIP's largest id
    padded_with_eot = torch.tensor([[49406, 320, eot, eot, eot], [49406, eot, eot, eot, eot]])
    assert cut_length(padded_with_eot, argmax=False, eos_id=eot) == 3  # first end token
    assert cut_length(torch.zeros((0, 7), dtype=torch.long)) == 7


@pytest.mark.parametrize("name, tag", [(TINY, "openai"), ("RN50", "openai"), (TINY_HF, None)])
def test_cut_embeddings_match_the_reference_forward(name, tag):
    """open_clip's ``CLIP.encode_text`` and transformers' ``get_text_features`` at full
    length are the references; the cut forward must give their numbers."""
    clip = models.load_clip(name, tag, random_weights=True, cpu_kernels="torch",
                            cpu_dtype="float32")
    tokens = clip.tokenize(PROMPTS)
    with torch.inference_mode():
        if clip.backend == "open_clip":
            reference = clip.model.encode_text(tokens)
        else:
            out = clip.model.get_text_features(input_ids=tokens)
            reference = out if isinstance(out, torch.Tensor) else out.pooler_output
        cut = encode_short(clip.model, tokens, clip.backend)
        ours = clip.encode_text(tokens)
    assert cut is not None and clip._short_text is True
    np.testing.assert_allclose(cut.numpy(), reference.numpy(), rtol=1e-5, atol=1e-5)
    np.testing.assert_allclose(ours.numpy(), reference.numpy(), rtol=1e-5, atol=1e-5)
    # and through the embedding engine (oneDNN copy and cache included)
    clip.cpu_kernels = "auto"
    rows = embed.embed_texts(clip, PROMPTS, progress=False)
    np.testing.assert_allclose(rows, torch.nn.functional.normalize(reference, dim=-1).numpy(),
                               atol=1e-4)


def test_a_network_pooled_elsewhere_is_not_cut(monkeypatch):
    clip = models.load_clip(TINY, "openai", random_weights=True, cpu_kernels="torch",
                            cpu_dtype="float32")
    tokens = clip.tokenize(PROMPTS)
    monkeypatch.setattr(clip.model, "text_pool_type", "last")  # SigLIP's: reads the padding
    assert encode_short(clip.model, tokens, "open_clip") is None
    monkeypatch.setattr(clip.model, "text_pool_type", "argmax")
    monkeypatch.setattr(clip.model, "attn_mask", None)  # no causal mask: padding is attended
    assert encode_short(clip.model, tokens, "open_clip") is None


def test_a_cut_that_disagrees_with_the_full_forward_is_never_used(monkeypatch):
    from clipdistill.models import short_text

    clip = models.load_clip(TINY, "openai", random_weights=True, cpu_kernels="torch",
                            cpu_dtype="float32")
    tokens = clip.tokenize(PROMPTS)
    monkeypatch.setattr(short_text, "encode_short", lambda net, t, backend: torch.zeros(len(t), 32))
    with torch.inference_mode():
        out = clip.encode_text(tokens)
        reference = clip.model.encode_text(tokens)
    assert clip._short_text is False
    torch.testing.assert_close(out, reference)


def test_bf16_keeps_the_cut_at_the_real_shape():
    """In bfloat16 the cut and the full forward round differently (ViT-B-32: cosines of
    0.9999); held to float32's tolerance the cut was refused and every ImageNet prompt ran
    all 77 positions, five times the work. The check now allows the precision's rounding,
    and the cut rows still agree with the full forward's as bf16 rows agree with fp32's."""
    from clipdistill.embed.onednn import inference_model
    from clipdistill.templates import OPENAI_IMAGENET_TEMPLATES, fill

    clip = models.load_clip("ViT-B-32", "openai", random_weights=True, cpu_dtype="bfloat16")
    prompts = [fill(t, "tench") for t in OPENAI_IMAGENET_TEMPLATES[:16]]
    rows = embed.embed_texts(clip, prompts, progress=False)
    assert clip._short_text is True
    with torch.inference_mode(), clip.autocast():
        full = clip.encode_text(clip.tokenize(prompts), module=inference_model(clip), full_length=True)
    cos = (rows * torch.nn.functional.normalize(full.float(), dim=-1).numpy()).sum(axis=1)
    assert cos.min() >= 0.999


def test_reduced_precision_is_allowed_its_rounding_and_no_more():
    from clipdistill.models.short_text import same_features

    full = torch.randn(4, 64)
    rounded = full.to(torch.bfloat16).float() + 1e-3 * torch.randn(4, 64)
    assert same_features(rounded, full, torch.bfloat16)
    assert not same_features(rounded, full, torch.float32)
    assert not same_features(torch.randn(4, 64), full, torch.bfloat16)  # other features
