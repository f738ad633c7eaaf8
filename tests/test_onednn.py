"""oneDNN-packed layers: the same numbers as the stock torch layers, or no packing at all."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from torch import nn

from clipdistill import embed, models
from clipdistill.embed import onednn
from clipdistill.distill import clip_image_tower, count_flops, count_params
from tiny_clip import TINY, TINY_HF, register

pytestmark = pytest.mark.skipif(not onednn.available(), reason="this torch build has no oneDNN linear ops")

ATOL = 2e-5


@pytest.fixture(autouse=True)
def _tiny():
    register()


@pytest.mark.parametrize("bias", [True, False])
@pytest.mark.parametrize("shape", [(7, 24), (3, 5, 24)])
def test_packed_linear_matches_nn_linear(bias, shape):
    torch.manual_seed(0)
    lin = nn.Linear(24, 40, bias=bias)
    x = torch.randn(*shape)
    packed = onednn.PackedLinear.from_linear(lin)
    with torch.inference_mode():
        assert torch.allclose(packed(x), lin(x), atol=ATOL)
    assert isinstance(packed, nn.Linear)  # isinstance-dispatching callers still call it
    assert count_params(packed) == count_params(lin)
    assert not any(p.requires_grad for p in packed.parameters())


@pytest.mark.parametrize("mask", [None, "float", "bool"])
def test_packed_self_attention_matches_multihead_attention(mask):
    torch.manual_seed(0)
    mha = nn.MultiheadAttention(32, 4, batch_first=True).eval()
    x = torch.randn(2, 6, 32)
    causal = torch.triu(torch.ones(6, 6, dtype=torch.bool), 1)  # True = masked, as MHA reads it
    attn_mask = {None: None, "bool": causal,
                 "float": torch.zeros(6, 6).masked_fill(causal, float("-inf"))}[mask]
    packed = onednn.PackedSelfAttention(mha)
    with torch.inference_mode():
        ref = mha(x, x, x, need_weights=False, attn_mask=attn_mask)[0]
        out, weights = packed(x, x, x, need_weights=False, attn_mask=attn_mask)
    assert weights is None
    assert torch.allclose(out, ref, atol=ATOL)


def test_packed_self_attention_refuses_what_it_cannot_compute():
    mha = nn.MultiheadAttention(16, 2, batch_first=True)
    packed = onednn.PackedSelfAttention(mha)
    x, y = torch.randn(1, 3, 16), torch.randn(1, 3, 16)
    with pytest.raises(NotImplementedError):
        packed(x, y, y)
    with pytest.raises(NotImplementedError):
        packed(x, x, x, need_weights=True)
    with pytest.raises(ValueError, match="batch-first"):
        onednn.PackedSelfAttention(nn.MultiheadAttention(16, 2))


class _ReadsWeight(nn.Module):
    """A parent that uses its child's weight directly, as RN50's attention pool does."""

    def __init__(self) -> None:
        super().__init__()
        self.proj = nn.Linear(8, 8)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return x @ self.proj.weight.t()


def test_a_model_the_probe_catches_is_left_untouched():
    torch.manual_seed(0)
    net = nn.Sequential(nn.Linear(8, 8), _ReadsWeight())
    x = torch.randn(2, 8)
    before = [type(m) for m in net.modules()]
    assert onednn.pack_linear_layers(net, probe=lambda: net(x)) == 0
    assert [type(m) for m in net.modules()] == before
    assert isinstance(net[1].proj.weight, nn.Parameter) and not net[1].proj.weight.is_mkldnn


def test_only_fp32_cpu_modules_are_packed():
    assert onednn.pack_linear_layers(nn.Linear(4, 4).half()) == 0
    assert onednn.pack_linear_layers(nn.ReLU()) == 0


@pytest.mark.parametrize("name,tag", [(TINY, "openai"), (TINY_HF, None)])
def test_the_engine_packs_its_own_copy_and_matches_stock_clip(name, tag):
    stock = models.load_clip(name, tag, random_weights=True, cpu_kernels="torch")
    clip = models.load_clip(name, tag, random_weights=True, cpu_dtype="float32")  # fp32 packing
    assert (stock.cpu_kernels, clip.cpu_kernels) == ("torch", "onednn")
    fast = onednn.inference_model(clip)
    assert any(isinstance(m, onednn.PackedLinear) for m in fast.modules())
    # The model the reader holds is the framework's own, before and after embedding.
    for model in (stock.model, clip.model):
        assert not any(isinstance(m, onednn.PackedLinear) for m in model.modules())
    assert onednn.inference_model(stock) is stock.model
    # Values differ in the last bits, and the cache key names everything that changes one.
    assert stock.key != clip.key
    images = torch.randn(3, 3, 32, 32, generator=torch.Generator().manual_seed(1))
    tokens = stock.tokenize(["a photo of a cat.", "a dog"])
    with torch.inference_mode():
        assert torch.allclose(clip.encode_image(images, module=fast), stock.encode_image(images), atol=ATOL)
        assert torch.allclose(clip.encode_text(tokens, module=fast), stock.encode_text(tokens), atol=ATOL)
    # The copy shares every parameter that is not packed: no second copy of the embeddings.
    shared = {id(p) for p in clip.model.parameters()}
    assert sum(id(p) in shared for p in fast.parameters()) > 0
    # Chapter 05's cost table counts the same parameters and FLOPs either way.
    assert count_params(clip_image_tower(clip)) == count_params(clip_image_tower(stock))
    assert count_flops(clip_image_tower(clip), 32) == count_flops(clip_image_tower(stock), 32)


def test_the_engine_copy_follows_changes_to_the_weights(tmp_path):
    """Fine-tune or reload the reader's model, and the engine embeds with the new weights."""
    clip = models.load_clip(TINY, "openai", random_weights=True, cpu_dtype="float32")
    texts = ["a photo of a cat.", "a dog"]
    before = embed.embed_texts(clip, texts, progress=False)
    first = onednn.inference_model(clip)
    assert onednn.inference_model(clip) is first  # built once while nothing changes
    with torch.no_grad():  # an optimiser step changes parameters in place, like this
        for p in clip.model.parameters():
            p.mul_(1.5).add_(0.01)
    after = embed.embed_texts(clip, texts, progress=False)
    assert onednn.inference_model(clip) is not first
    stock = models.load_clip(TINY, "openai", random_weights=True, cpu_kernels="torch")
    stock.model.load_state_dict(clip.model.state_dict())
    with torch.inference_mode():
        expect = stock.encode_text(stock.tokenize(texts), normalize=True).numpy()
    assert not np.allclose(before, after, atol=1e-3)
    assert np.allclose(after, expect, atol=ATOL)


def test_count_flops_sees_attention_projections():
    """nn.MultiheadAttention's fused inference op hides its projections from the counter."""
    torch.manual_seed(0)
    width, tokens = 32, 5
    block = nn.MultiheadAttention(width, 4, batch_first=True).eval()

    class Net(nn.Module):
        def forward(self, x):  # (1, 3, H, W) -> tokens of width 32
            seq = x.flatten(1)[:, : tokens * width].reshape(1, tokens, width)
            return block(seq, seq, seq, need_weights=False)[0]

    net = Net()
    net.proj = block  # so count_flops finds a parameter
    projections = 2 * tokens * width * (3 * width) + 2 * tokens * width * width
    assert count_flops(net, 32) >= projections


def test_bad_cpu_kernels_choice_is_a_clear_error():
    with pytest.raises(ValueError, match="cpu_kernels"):
        models.load_clip(TINY, "openai", random_weights=True, cpu_kernels="mkl")
    with pytest.raises(ValueError, match="fp32 model on the CPU"):
        models.load_clip(TINY, "openai", random_weights=True, precision="bf16", cpu_kernels="onednn")


def test_a_packed_model_saves_and_loads_dense_weights(tmp_path):
    torch.manual_seed(0)
    stock = nn.Sequential(nn.Linear(8, 16), nn.ReLU(), nn.Linear(16, 4))
    packed = nn.Sequential(nn.Linear(8, 16), nn.ReLU(), nn.Linear(16, 4))
    packed.load_state_dict(stock.state_dict())
    assert onednn.pack_linear_layers(packed) == 2
    state = packed.state_dict()
    assert all(not t.is_mkldnn for t in state.values())
    assert all(torch.equal(state[k], v) for k, v in stock.state_dict().items())
    torch.save(state, tmp_path / "packed.pt")  # an opaque oneDNN tensor could not be saved

    other = nn.Sequential(nn.Linear(8, 16), nn.ReLU(), nn.Linear(16, 4))
    onednn.pack_linear_layers(other)
    other.load_state_dict(torch.load(tmp_path / "packed.pt"))
    x = torch.randn(3, 8)
    with torch.inference_mode():
        assert torch.allclose(other(x), stock(x), atol=ATOL)


def test_packed_attention_keeps_multihead_attention_state_dict_names():
    torch.manual_seed(0)
    mha = nn.MultiheadAttention(16, 2, batch_first=True).eval()
    packed = onednn.PackedSelfAttention(mha)
    ref = mha.state_dict()
    state = packed.state_dict()
    assert set(state) == set(ref)
    assert all(torch.equal(state[k], ref[k]) for k in ref)
    fresh = nn.MultiheadAttention(16, 2, batch_first=True).eval()
    again = onednn.PackedSelfAttention(fresh)
    again.load_state_dict(ref)
    x = torch.randn(1, 4, 16)
    with torch.inference_mode():
        assert torch.allclose(again(x, x, x)[0], mha(x, x, x, need_weights=False)[0], atol=ATOL)


@pytest.mark.parametrize("kernels", ["torch", "onednn"])
def test_mobileclip_runs_folded_as_its_authors_deploy_it(kernels):
    """MobileCLIP's image tower has train-time branches (timm's FastViT blocks); the engine's
    copy folds them, and embeds as the stock model does. The reader's model keeps them."""
    clip = models.load_clip("MobileCLIP2-S0", "dfndr2b", random_weights=True, cpu_kernels=kernels,
                            cpu_dtype="float32")  # the fold, compared in fp32
    fast = onednn.inference_model(clip)
    assert fast is not clip.model and onednn.inference_model(clip) is fast
    assert onednn._reparameterizable(clip.model)  # untouched
    branches = [m for m in fast.modules() if getattr(m, "reparam_conv", None) is None
                and hasattr(m, "reparam_conv")]
    assert not branches  # every foldable block of the copy is folded
    images = torch.randn(2, 3, 256, 256, generator=torch.Generator().manual_seed(1))
    tokens = clip.tokenize(["a photo of a cat.", "a dog"])
    with torch.inference_mode():
        ours = clip.encode_image(images, module=fast, normalize=True)
        stock = clip.encode_image(images, normalize=True)
        assert torch.allclose(ours, stock, atol=1e-4)
        assert torch.allclose(clip.encode_text(tokens, module=fast), clip.encode_text(tokens),
                              atol=1e-4)
