"""CLIP's text tower without its padding: the same embedding for a fraction of the work.

CLIP pads every prompt to its context length (77 tokens), but its text transformer is
causal and reads the embedding off one position, the end-of-text token: no position up
to that one ever attends to what comes after it. So a batch cut just after its last
end-of-text token gives the same embeddings (to float rounding) and, for a 15-token
prompt, runs about six times faster on a CPU. Only networks for which that argument holds
are cut (a causal mask; pooling at the end-of-text token; no appended class token), and
:meth:`clipdistill.models.ClipModel.encode_text` checks the first batch of each model
against the full-length forward before trusting it.
"""

from __future__ import annotations

import torch
from torch import nn

__all__ = ["cut_length", "encode_short", "pooled", "same_features"]

_POOLED_AT_EOT = ("argmax", "eos")  # open_clip's pool types that read the end-of-text token


def pooled(out: object) -> torch.Tensor:
    """transformers 5 returns an output object whose pooler_output is the projection."""
    return out if isinstance(out, torch.Tensor) else out.pooler_output  # type: ignore[attr-defined]


# The lowest cosine the cut forward may have to the full one, by the precision both run in.
# Cutting changes no sum a pooled position depends on, only the shapes the kernels see, so
# the two differ by rounding alone: in float32 by about 1e-7, in bfloat16 by about its
# rounding unit per layer (ViT-B-32's text tower: cosines of 0.99992, a relative difference
# of 1.2%; held to float32's tolerance, the cut was refused and every prompt ran all 77
# positions, five times the work). A cut that read the padding would move an embedding far
# more than these.
MIN_COSINE = {torch.float32: 1 - 1e-6, torch.float16: 1 - 1e-4, torch.bfloat16: 1 - 1e-3}


def same_features(cut: torch.Tensor, full: torch.Tensor, dtype: torch.dtype) -> bool:
    """Whether ``cut`` and ``full`` (N, D) are the same features up to ``dtype``'s rounding."""
    cos = torch.nn.functional.cosine_similarity(cut.float(), full.float(), dim=-1)
    return bool(cos.min() >= MIN_COSINE.get(dtype, MIN_COSINE[torch.float32]))


def _pooled_positions(tokens: torch.Tensor, argmax: bool, eos_id: int | None) -> torch.Tensor:
    """Where each row's embedding is read: the largest id (CLIP's end-of-text token), or
    the first ``eos_id``."""
    if argmax or eos_id is None:
        return tokens.argmax(dim=-1)
    return (tokens == eos_id).int().argmax(dim=-1)


def cut_length(tokens: torch.Tensor, argmax: bool = True, eos_id: int | None = None) -> int:
    """How many leading columns of ``tokens`` (N, context) the pooled positions need."""
    if tokens.numel() == 0:
        return tokens.shape[-1]
    return int(_pooled_positions(tokens, argmax, eos_id).max()) + 1


def _open_clip_short(net: nn.Module, tokens: torch.Tensor) -> torch.Tensor | None:
    """open_clip's ``CLIP.encode_text`` with the positions and causal mask cut to the
    batch's length, or None for a network the argument above does not cover."""
    pool = getattr(net, "text_pool_type", None)
    mask = getattr(net, "attn_mask", None)
    if pool not in _POOLED_AT_EOT or mask is None or not hasattr(net, "token_embedding"):
        return None  # e.g. SigLIP (no causal mask, last-token pooling) or a CustomTextCLIP
    from open_clip.transformer import text_global_pool

    eos_id = getattr(net, "text_eos_id", None)
    n = cut_length(tokens, pool == "argmax", eos_id)
    t = tokens[:, :n]
    cast = net.transformer.get_cast_dtype()
    x = net.token_embedding(t).to(cast) + net.positional_embedding[:n].to(cast)
    x = net.transformer(x, attn_mask=mask[:n, :n])
    x = text_global_pool(net.ln_final(x), t, pool, eos_token_id=eos_id)
    proj = net.text_projection
    if isinstance(proj, nn.Linear):
        return proj(x)
    return x if proj is None else x @ proj


def _transformers_short(net: nn.Module, tokens: torch.Tensor) -> torch.Tensor | None:
    """transformers' ``CLIPModel.get_text_features`` on the cut batch (it takes any length
    up to the context and builds its causal mask for it)."""
    config = getattr(getattr(net, "config", None), "text_config", None)
    if type(net).__name__ != "CLIPModel" or config is None:
        return None
    eos_id = getattr(config, "eos_token_id", None)
    n = cut_length(tokens, eos_id == 2, eos_id)  # 2: old configs pool at the largest id
    return pooled(net.get_text_features(input_ids=tokens[:, :n]))


def encode_short(net: nn.Module, tokens: torch.Tensor, backend: str) -> torch.Tensor | None:
    """Text features of ``tokens`` with the padding cut off, or None where that is not exact."""
    if backend == "open_clip":
        return _open_clip_short(net, tokens)
    if backend == "transformers":
        return _transformers_short(net, tokens)
    return None
