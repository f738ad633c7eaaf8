"""CLIP's contrastive loss, as chapter 02 prints it, equals open_clip's ClipLoss."""

from __future__ import annotations

import math

import pytest
import torch
from open_clip.loss import ClipLoss

from clipdistill.contrastive import clip_loss


@pytest.mark.parametrize("n", [2, 8, 33])
def test_clip_loss_matches_open_clip(n):
    g = torch.Generator().manual_seed(n)
    image, text = torch.randn(n, 16, generator=g), torch.randn(n, 16, generator=g)
    scale = torch.tensor(100.0)
    ref = ClipLoss()(torch.nn.functional.normalize(image, dim=-1),
                     torch.nn.functional.normalize(text, dim=-1), scale)
    assert torch.allclose(clip_loss(image, text, scale), ref, atol=1e-6)


def test_matched_pairs_score_below_chance_and_shuffled_ones_above():
    g = torch.Generator().manual_seed(0)
    image = torch.randn(10, 32, generator=g)
    text = image + 0.1 * torch.randn(10, 32, generator=g)  # captions near their images
    matched = clip_loss(image, text, 100.0)
    shuffled = clip_loss(image, text.roll(1, dims=0), 100.0)
    assert matched < math.log(10) < shuffled


def test_the_gradient_reaches_both_towers():
    image = torch.randn(4, 8, requires_grad=True)
    text = torch.randn(4, 8, requires_grad=True)
    clip_loss(image, text, 10.0).backward()
    assert image.grad.abs().sum() > 0 and text.grad.abs().sum() > 0
