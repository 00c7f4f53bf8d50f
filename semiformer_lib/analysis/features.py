"""Features of any model of the library, read the same way for a ViT and a convnet (chapter 2).

* :func:`spatial_features` — the last feature map, ``[B, D, h, w]``: a convnet's final stage, or a ViT's output
  patch tokens laid back on their ``(gh, gw)`` grid (class/register tokens dropped).
* :func:`pooled_features` — what the classifier head reads, ``[B, D]``: the convnet's global average pool, the
  ViT's class token (timm's ``forward_head(…, pre_logits=True)`` for both).
"""
from __future__ import annotations

import torch
from torch import nn

from ..models import is_vit


def spatial_features(model: nn.Module, inputs: torch.Tensor) -> torch.Tensor:
    """``[B, C, H, W]`` model inputs → last feature map ``[B, D, h, w]`` (gradients flow; caller sets the mode)."""
    features = model.forward_features(inputs)
    if not is_vit(model):
        return features                                                   # [B, D, h, w]
    gh, gw = model.patch_embed.grid_size
    patches = features[:, getattr(model, "num_prefix_tokens", 1):]        # [B, gh·gw, D]
    return patches.transpose(1, 2).reshape(len(inputs), -1, gh, gw)


def pooled_features(model: nn.Module, inputs: torch.Tensor) -> torch.Tensor:
    """``[B, C, H, W]`` model inputs → the head's input ``[B, D]``."""
    return model.forward_head(model.forward_features(inputs), pre_logits=True)
