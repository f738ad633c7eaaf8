"""The engine's fast CPU copy: linear layers on oneDNN's kernels instead of the BLAS torch picks.

Why: on a CPU, ``torch.nn.functional.linear`` in fp32 goes to the BLAS torch was built
with (MKL on x86 wheels). MKL dispatches by CPU vendor and runs its AVX2 kernels on AMD
processors even when they have AVX-512, while oneDNN, which ships inside the same torch,
generates AVX-512 code for whatever CPU it finds. A ViT is almost all linear layers, so on
such a CPU this is the largest speed lever there is: measured on a 2-core AMD EPYC (Zen 5),
a 1600x768 @ 768x3072 product went from ~185 to ~440 GFLOP/s and the ViT-B-32 image
tower from ~17 to ~31 images/s at batch 32 (1.8x; ``benchmarks/README.md``). On CPUs where
MKL already uses its best kernels the two are about even.

Where: the model :func:`clipdistill.models.load_clip` returns is the framework's own module,
untouched. The embedding engine runs :func:`inference_model`, a copy of it (MobileCLIP's
train-time branches folded first, on any device, as its authors deploy it) whose linear
layers are packed (every other parameter is shared, not copied), rebuilt whenever the
original's weights change. Distilled students are deployed the same way
(:func:`clipdistill.distill.for_inference`).

How: :func:`pack_linear_layers` swaps, in place, every ``nn.Linear`` that its parent calls
as a module for a :class:`PackedLinear` holding the weight pre-packed in oneDNN's blocked
layout (the dense copy is dropped, so memory does not grow; the packed weights stay frozen
parameters, so parameter counts do not change), and every self-attention
``nn.MultiheadAttention`` of an open_clip residual block for a :class:`PackedSelfAttention`
(packed in/out projections around ``scaled_dot_product_attention``). Inputs and outputs
stay ordinary dense tensors. Results match the stock layers to float rounding (~1e-6).

bfloat16: the same copy can hold its weights packed in bf16 (``dtype=torch.bfloat16``),
run under ``torch.autocast("cpu", torch.bfloat16)``: each packed layer casts its input to
bf16 and oneDNN multiplies on the CPU's bf16 instructions (AMX tiles, or AVX512-BF16's dot
products), accumulating in fp32, while autocast keeps LayerNorm and the residual stream
in fp32. Measured on the same Zen 5 guest, which has AVX512-BF16 but no AMX: ViT-B-32's
image tower ran 1.8-2.3x the packed fp32 copy, while plain autocast on the stock module
(which re-casts every weight on every call) ran no faster than fp32. Which precision the
engine uses is :func:`clipdistill.device.cpu_dtype`'s choice.

Limits: inference only (packed weights have no autograd), fp32 or bf16, CPU only; the ops
are torch's own (``torch.ops.mkldnn``, the ones ``torch.compile`` uses for frozen CPU
graphs). :func:`available` checks them once on a tiny layer, a probe forward pass checks
the packed model against the stock one, and where either fails the model is left as it was.
"""

from __future__ import annotations

import copy
import functools
import logging
import warnings
import weakref
from typing import Any, Callable

import torch
import torch.nn.functional as F
from torch import nn

__all__ = ["PackedLinear", "PackedSelfAttention", "available", "pack_linear_layers",
           "engine_kernels", "inference_model"]

log = logging.getLogger(__name__)


def _ops() -> Any:
    return torch.ops.mkldnn


@functools.lru_cache(maxsize=None)
def available(dtype: torch.dtype = torch.float32) -> bool:
    """Whether this torch build has the oneDNN linear ops for ``dtype`` (fp32 or bf16) and
    they agree with F.linear (bf16: to bf16's rounding, against the fp32 product)."""
    if not torch.backends.mkldnn.is_available():
        return False
    try:
        if dtype == torch.bfloat16 and not _ops()._is_mkldnn_bf16_supported():
            return False
        gen = torch.Generator().manual_seed(0)
        w, b, x = (torch.randn(s, generator=gen) for s in ((24, 16), (24,), (2, 5, 16)))
        with torch.inference_mode(), torch.autocast("cpu", enabled=False):  # F.linear in fp32
            y = _ops()._linear_pointwise(x.to(dtype), _pack(w, dtype), b.to(dtype), "none", [], "")
            tol = 1e-4 if dtype == torch.float32 else 5e-2
            return bool(torch.allclose(y.float(), F.linear(x, w, b), atol=tol, rtol=tol))
    except (RuntimeError, AttributeError) as exc:  # an op missing from this build
        log.info("oneDNN %s linear ops unavailable (%s): keeping torch's default kernels", dtype, exc)
        return False


def _pack(weight: torch.Tensor, dtype: torch.dtype = torch.float32) -> torch.Tensor:
    return _ops()._reorder_linear_weight(weight.detach().to(dtype).contiguous(), None)


class PackedLinear(nn.Linear):
    """``nn.Linear`` for inference, its weight pre-packed for oneDNN.

    A subclass, so code that asks ``isinstance(layer, nn.Linear)`` before calling it
    (open_clip's text projection) still calls it. With bf16 weights the input is cast to
    bf16 and so is the output: run such a layer under CPU autocast.
    """

    def __init__(self, weight: torch.Tensor, bias: torch.Tensor | None,
                 dtype: torch.dtype = torch.float32) -> None:
        nn.Module.__init__(self)  # not nn.Linear's: it would allocate a dense weight
        self.out_features, self.in_features = weight.shape
        # Frozen parameters, not buffers, so parameter counts (chapter 05's cost table) stay right.
        self.weight = nn.Parameter(_pack(weight, dtype), requires_grad=False)
        self.bias = None if bias is None else nn.Parameter(bias.detach().to(dtype).clone(), requires_grad=False)

    @classmethod
    def from_linear(cls, linear: nn.Linear, dtype: torch.dtype = torch.float32) -> "PackedLinear":
        return cls(linear.weight, linear.bias, dtype)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        dtype = self.weight.dtype
        return _ops()._linear_pointwise(x if x.dtype == dtype else x.to(dtype), self.weight,
                                        self.bias, "none", [], "")

    # A state dict holds the dense weight, so a packed model saves and loads like a stock one
    # (a bf16 copy's weights are bf16-rounded: save the original model, not this copy).
    def _save_to_state_dict(self, destination: dict, prefix: str, keep_vars: bool) -> None:
        destination[prefix + "weight"] = self.weight.detach().to_dense().float()
        if self.bias is not None:
            destination[prefix + "bias"] = self.bias if keep_vars else self.bias.detach().float()

    def _load_from_state_dict(self, state_dict: dict, prefix: str, local_metadata: dict, strict: bool,
                              missing_keys: list, unexpected_keys: list, error_msgs: list) -> None:
        weight = state_dict.get(prefix + "weight")
        if weight is None:
            missing_keys.append(prefix + "weight")
        elif tuple(weight.shape) != (self.out_features, self.in_features):
            error_msgs.append(f"size mismatch for {prefix}weight: {tuple(weight.shape)} in the state dict, "
                              f"{(self.out_features, self.in_features)} in the model")
        else:
            self.weight = nn.Parameter(_pack(weight, self.weight.dtype), requires_grad=False)
        if self.bias is not None:
            bias = state_dict.get(prefix + "bias")
            if bias is None:
                missing_keys.append(prefix + "bias")
            else:
                self.bias.data.copy_(bias)

    def extra_repr(self) -> str:
        return f"in_features={self.in_features}, out_features={self.out_features}, bias={self.bias is not None}"


class PackedSelfAttention(nn.Module):
    """A batch-first self-attention ``nn.MultiheadAttention`` with packed projections.

    Same call signature as the module it replaces (``attn(x, x, x, need_weights=False,
    attn_mask=...)``) and the same ``(output, None)`` result. Only what open_clip's
    residual blocks use is supported; anything else raises rather than guessing.
    """

    def __init__(self, mha: nn.MultiheadAttention, dtype: torch.dtype = torch.float32) -> None:
        super().__init__()
        if not mha.batch_first or not mha._qkv_same_embed_dim or mha.bias_k is not None:
            raise ValueError("PackedSelfAttention needs a batch-first MultiheadAttention with one qkv projection")
        self.num_heads = mha.num_heads
        self.embed_dim = mha.embed_dim
        self.dropout = mha.dropout
        self.qkv = PackedLinear(mha.in_proj_weight, mha.in_proj_bias, dtype)
        self.out_proj = PackedLinear.from_linear(mha.out_proj, dtype)
        # State dicts use nn.MultiheadAttention's names, so checkpoints move both ways.
        self.register_state_dict_post_hook(_qkv_to_in_proj)
        self.register_load_state_dict_pre_hook(_in_proj_to_qkv)

    def forward(self, query: torch.Tensor, key: torch.Tensor, value: torch.Tensor,
                key_padding_mask: torch.Tensor | None = None, need_weights: bool = False,
                attn_mask: torch.Tensor | None = None, **_: Any) -> tuple[torch.Tensor, None]:
        if key is not query or value is not query or key_padding_mask is not None or need_weights:
            raise NotImplementedError("PackedSelfAttention computes self-attention without "
                                      "padding masks or attention weights only")
        b, n, c = query.shape
        h = self.num_heads
        q, k, v = self.qkv(query).reshape(b, n, 3, h, c // h).permute(2, 0, 3, 1, 4).unbind(0)
        if attn_mask is not None and attn_mask.dtype == torch.bool:
            attn_mask = ~attn_mask  # nn.MultiheadAttention: True = masked; SDPA: True = attend
        out = F.scaled_dot_product_attention(q, k, v, attn_mask=attn_mask,
                                             dropout_p=self.dropout if self.training else 0.0)
        return self.out_proj(out.transpose(1, 2).reshape(b, n, c)), None


_QKV_NAMES = (("qkv.weight", "in_proj_weight"), ("qkv.bias", "in_proj_bias"))


def _qkv_to_in_proj(module: nn.Module, state_dict: dict, prefix: str, local_metadata: Any) -> None:
    for ours, theirs in _QKV_NAMES:
        if prefix + ours in state_dict:
            state_dict[prefix + theirs] = state_dict.pop(prefix + ours)


def _in_proj_to_qkv(module: nn.Module, state_dict: dict, prefix: str, *args: Any) -> None:
    for ours, theirs in _QKV_NAMES:
        if prefix + theirs in state_dict:
            state_dict[prefix + ours] = state_dict.pop(prefix + theirs)


def _is_self_attention_block(module: nn.Module) -> bool:
    """open_clip's ResidualAttentionBlock calls its ``attn`` as self-attention unless it
    was built for cross-attention (then it has ``ln_1_kv``)."""
    return type(module).__name__ == "ResidualAttentionBlock" and not hasattr(module, "ln_1_kv")


# Modules whose forward reads their children's ``.weight`` instead of calling them
# (open_clip's RN50 attention pooling hands q/k/v weights to F.multi_head_attention_forward).
READS_CHILD_WEIGHTS = frozenset({"AttentionPool2d"})

Swap = tuple[nn.Module, str, nn.Module]  # (parent, attribute, the original child)


def _swap_all(module: nn.Module, dtype: torch.dtype = torch.float32) -> list[Swap]:
    swaps: list[Swap] = []

    def visit(parent: nn.Module) -> None:
        if type(parent).__name__ in READS_CHILD_WEIGHTS:
            return
        for name, child in list(parent.named_children()):
            if type(child) is nn.Linear or type(child).__name__ == "NonDynamicallyQuantizableLinear":
                setattr(parent, name, PackedLinear.from_linear(child, dtype))
            elif (isinstance(child, nn.MultiheadAttention) and _is_self_attention_block(parent)
                  and child.batch_first and child._qkv_same_embed_dim and child.bias_k is None):
                setattr(parent, name, PackedSelfAttention(child, dtype))
            else:
                visit(child)
                continue
            swaps.append((parent, name, child))

    visit(module)
    return swaps


BF16_PROBE_COSINE = 0.999  # a bf16 copy agrees with fp32 to ~1e-4; a broken one is far off


def _same(a: Any, b: Any, dtype: torch.dtype = torch.float32) -> bool:
    """fp32: equal to float rounding. bf16: every output row points the same way (cosine
    >= BF16_PROBE_COSINE): the probe is there to catch a layer the model reads directly."""
    a, b = (x if isinstance(x, (tuple, list)) else (x,) for x in (a, b))
    if len(a) != len(b):
        return False
    if dtype == torch.float32:
        return all(torch.allclose(x.float(), y.float(), atol=1e-4, rtol=1e-3) for x, y in zip(a, b))
    return all(x.shape == y.shape and bool((F.cosine_similarity(
        x.float().reshape(len(x), -1), y.float().reshape(len(y), -1), dim=-1) >= BF16_PROBE_COSINE).all())
        for x, y in zip(a, b))


def pack_linear_layers(module: nn.Module, probe: Callable[[], Any] | None = None,
                       dtype: torch.dtype = torch.float32) -> int:
    """Swap ``module``'s linear layers (and self-attention) for packed ones, in place.

    ``probe`` runs the model on a fixed input (a tensor or a tuple of tensors); it is
    called before and after the swap, and if the two disagree or the second raises, every
    layer is put back: a model that reads a layer's weights directly is never left broken.
    ``dtype`` torch.bfloat16 packs bf16 weights; the probe then runs (and the copy must
    run) under CPU autocast to bf16, and is compared with the fp32 model by direction.
    Returns how many modules were swapped; 0 when oneDNN is unavailable, ``module`` is not
    an fp32 CPU module, or the probe failed. The result is for inference only.
    """
    params = list(module.parameters())
    if not params or not available(dtype) or any(p.device.type != "cpu" or p.dtype != torch.float32
                                                 for p in params):
        return 0
    # The reference is the fp32 model even when called under autocast (an embedding call).
    amp = torch.autocast("cpu", dtype=torch.bfloat16, enabled=dtype == torch.bfloat16)
    with torch.inference_mode():
        with torch.autocast("cpu", enabled=False):
            reference = probe() if probe is not None else None
        swaps = _swap_all(module, dtype)
        try:
            with amp:
                ok = probe is None or _same(probe(), reference, dtype)
        except (RuntimeError, NotImplementedError, TypeError, AttributeError) as exc:
            log.info("packed layers failed the probe (%s): keeping torch's default kernels", exc)
            ok = False
    if not ok:
        for parent, name, original in reversed(swaps):
            setattr(parent, name, original)
        return 0
    return len(swaps)


def engine_kernels(choice: str, device: torch.device | str, precision: str) -> str:
    """The kernels the engine will run a model with: "onednn" or "torch".

    ``choice`` is "auto" (oneDNN for an fp32 model on a CPU where torch has the ops),
    "onednn" (insist: an error where it cannot be had) or "torch" (the stock module).
    """
    device = torch.device(device)
    if choice == "torch" or device.type != "cpu" or precision != "fp32":
        if choice == "onednn":
            raise ValueError(f"cpu_kernels='onednn' needs an fp32 model on the CPU, "
                             f"not {precision} on {device}.")
        return "torch"
    if available():
        return "onednn"
    if choice == "onednn":
        raise RuntimeError("cpu_kernels='onednn': this torch build has no oneDNN linear ops.")
    return "torch"


def _stamp(module: nn.Module) -> tuple:
    """Which tensors ``module`` holds and how often each was changed in place: an
    optimiser step or ``load_state_dict`` moves a version counter, a new tensor its id."""
    return tuple((id(p), p._version) for p in module.parameters())


def _shared_copy(module: nn.Module) -> nn.Module:
    """A copy of ``module``'s structure that shares every parameter and buffer (no new
    memory until packing replaces the linear layers)."""
    memo = {id(t): t for t in (*module.parameters(), *module.buffers())}
    return copy.deepcopy(module, memo)


_FOLDABLE: "weakref.WeakKeyDictionary[nn.Module, bool]" = weakref.WeakKeyDictionary()


def _reparameterizable(module: nn.Module) -> bool:
    """Whether ``module`` has train-time branches that fold into one layer for inference
    (timm's FastViT and MobileOne blocks: MobileCLIP's image towers). Asked once a module."""
    if module not in _FOLDABLE:
        _FOLDABLE[module] = any(callable(getattr(m, "reparameterize", None))
                                for m in module.modules() if m is not module)
    return _FOLDABLE[module]


def _folded_copy(module: nn.Module) -> nn.Module:
    """A copy of ``module`` with its branches folded (timm's ``reparameterize_model``), as
    MobileCLIP is meant to be deployed: its authors fold the image tower before timing it,
    and without the fold it runs several convolutions where one does the same work."""
    from timm.utils.model import reparameterize_model

    return reparameterize_model(module, inplace=False).eval()


def inference_model(clip: Any) -> nn.Module:
    """The module the embedding engine runs for ``clip``: ``clip.model`` itself, or a copy
    (built once, and again only if ``clip.model``'s weights changed since) with MobileCLIP's
    train-time branches folded (:func:`_folded_copy`) and, when ``clip.cpu_kernels ==
    "onednn"``, its linear layers packed, in bf16 when the model autocasts to bf16 on the
    CPU (``clip.amp_dtype``). Both towers are probed on a fixed image and token row; a copy
    that disagrees with the stock module is dropped for it."""
    folded = _reparameterizable(clip.model)
    if clip.cpu_kernels != "onednn" and not folded:
        return clip.model
    stamp = _stamp(clip.model)
    cached = clip._inference
    if cached is not None and cached[0] == stamp:
        return cached[1]
    size = clip.info.get("image_size") or 224
    image = torch.randn(1, 3, size, size, generator=torch.Generator().manual_seed(0))
    tokens = torch.zeros(1, clip.info.get("context_length") or 77, dtype=torch.long)
    fast = None
    if folded:
        fast = _folded_copy(clip.model)
        # fp32 against fp32, even when called under the caller's autocast
        with torch.inference_mode(), torch.autocast("cpu", enabled=False):
            stock, ours = (kind_probe(clip, m, image, tokens) for m in (clip.model, fast))
        if not _same(ours, stock):
            warnings.warn(f"{clip.name}: the folded copy disagreed with the stock model; embedding "
                          "with the stock model instead.", stacklevel=2)
            fast = None
    if clip.cpu_kernels == "onednn":
        base = fast if fast is not None else _shared_copy(clip.model).eval()
        dtype = torch.bfloat16 if clip.amp_dtype == torch.bfloat16 else torch.float32
        if pack_linear_layers(base, probe=lambda: kind_probe(clip, base, image, tokens), dtype=dtype):
            fast = base
        else:
            warnings.warn(f"{clip.name}: the oneDNN copy disagreed with the stock model; "
                          "embedding with torch's kernels instead.", stacklevel=2)
    fast = clip.model if fast is None else fast
    clip._inference = (stamp, fast)
    return fast


def kind_probe(clip: Any, module: nn.Module, image: torch.Tensor, tokens: torch.Tensor) -> tuple:
    """Both towers of ``module`` through ``clip``'s class's own encoders (not a wrapper's)."""
    kind = type(clip)
    return (kind.encode_image(clip, image, module=module),
            kind.encode_text(clip, tokens, module=module, full_length=True))


def _linear_pointwise_flops(x_shape, w_shape, *args, **kwargs) -> int:
    """2 * batch * in * out, as FlopCounterMode counts ``addmm``."""
    rows = 1
    for d in x_shape[:-1]:
        rows *= d
    return 2 * rows * w_shape[0] * w_shape[1]


def _register_flops() -> None:
    """Let ``torch.utils.flop_counter`` (``distill.count_flops``) see the packed layers."""
    try:
        from torch.utils.flop_counter import register_flop_formula

        register_flop_formula(_ops()._linear_pointwise)(_linear_pointwise_flops)
    except (ImportError, AttributeError, RuntimeError, ValueError):
        pass


_register_flops()
