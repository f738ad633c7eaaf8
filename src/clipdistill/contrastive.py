"""CLIP's training objective, the symmetric contrastive loss, in the open.

CLIP learns from (image, caption) pairs and nothing else. In a batch of N pairs, every
image is asked which of the N captions is its own and every caption which of the N
images; the right answers are the N pairs themselves, the diagonal of an N x N matrix of
scaled cosine similarities. Chapter 02 prints :func:`clip_loss` and runs it on real
images; ``tests/test_contrastive.py`` checks it against open_clip's ``ClipLoss``.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F

__all__ = ["clip_loss"]


# -- chapter 02 prints this function: keep its lines within 80 characters --
def clip_loss(image_emb: torch.Tensor, text_emb: torch.Tensor,
              logit_scale: float | torch.Tensor) -> torch.Tensor:
    """CLIP's loss for N (image, caption) pairs: row i of both is one pair.

    Each image must pick its own caption out of the N, and each caption its
    own image: two cross-entropies over the same N x N logits, averaged.
    """
    image_emb = F.normalize(image_emb, dim=-1)
    text_emb = F.normalize(text_emb, dim=-1)
    logits = logit_scale * image_emb @ text_emb.T  # (N images, N captions)
    truth = torch.arange(len(logits), device=logits.device)  # the diagonal
    return (F.cross_entropy(logits, truth)  # image -> its caption
            + F.cross_entropy(logits.T, truth)) / 2  # caption -> its image
