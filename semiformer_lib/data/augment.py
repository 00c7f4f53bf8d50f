"""Weak augmentation, batched on the training device.

The paper, following FixMatch, calls "weak" the flip-and-shift augmentation: a random horizontal flip and a
random translation of up to 12.5 % of the image size, implemented as a random crop from the zero-padded image.
Pseudo-labels are predicted on the weak view; the labeled loss also uses it.

Here a whole batch ``[B, C, H, W]`` uint8 is augmented with one indexing operation: each sample gets its own
offsets and flip, drawn from a ``torch.Generator`` on the batch's device, so no per-image Python loop and no
host sync. Working on uint8 moves 4× fewer bytes than on float, and integer shifts need no interpolation.
"""
from __future__ import annotations

import torch
import torch.nn.functional as F


def default_padding(size: int) -> int:
    """12.5 % of the side, rounded: 4 for 28 or 32 px, 28 for 224 px."""
    return max(1, round(0.125 * size))


def weak_augment(images: torch.Tensor, generator: torch.Generator | None = None, padding: int | None = None,
                 flip: bool = True) -> torch.Tensor:
    """Random flip + random crop with zero padding, per sample.

    Args:
        images: ``[B, C, H, W]`` (any dtype; uint8 in the library).
        generator: source of randomness on ``images.device`` (None → the global generator).
        padding: pixels of zero padding on each side (default: :func:`default_padding` of the height).
        flip: whether to flip half of the samples horizontally.

    Returns:
        ``[B, C, H, W]``, same dtype and device.
    """
    batch, _, height, width = images.shape
    pad = default_padding(height) if padding is None else padding
    device = images.device
    padded = F.pad(images, (pad, pad, pad, pad))                                     # [B, C, H+2p, W+2p]
    offset_y = torch.randint(0, 2 * pad + 1, (batch, 1), device=device, generator=generator)
    offset_x = torch.randint(0, 2 * pad + 1, (batch, 1), device=device, generator=generator)
    cols = torch.arange(width, device=device).expand(batch, width)                   # [B, W]
    if flip:
        flipped = torch.rand(batch, 1, device=device, generator=generator) < 0.5
        cols = torch.where(flipped, width - 1 - cols, cols)
    rows = torch.arange(height, device=device) + offset_y                            # [B, H]
    cols = cols + offset_x                                                           # [B, W]
    batch_idx = torch.arange(batch, device=device).view(batch, 1, 1)
    # Advanced indexing on dims 0, 2, 3 → [B, H, W, C]; back to channels-first.
    crops = padded.permute(0, 2, 3, 1)[batch_idx, rows[:, :, None], cols[:, None, :]]
    return crops.permute(0, 3, 1, 2).contiguous()
