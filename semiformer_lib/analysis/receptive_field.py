"""Effective receptive field (Luo et al., 2016): which input pixels a central output unit actually depends on.

For the unit at the centre of the last feature map (:func:`~semiformer_lib.analysis.features.spatial_features`:
a convnet's final stage, a ViT's output patch tokens on their grid), sum its channels, back-propagate to the
input, and average ``|∂ unit / ∂ pixel|`` over images: an ``[H, W]`` map, normalised to sum 1. A convnet's ERF is a
blob around the unit's location — the locality prior — while a ViT can draw on any patch from its first block.

:func:`erf_radius` condenses a map to one number: the radius (pixels, from the image centre) of the smallest disc
holding ``fraction`` of the gradient mass.
"""
from __future__ import annotations

import torch
from torch import nn

from ..models.interface import eval_mode
from .features import spatial_features


def effective_receptive_field(model: nn.Module, inputs: torch.Tensor) -> torch.Tensor:
    """ERF ``[H, W]`` (sums to 1) of the central unit of the last feature map, over model inputs ``[B, C, H, W]``."""
    x = inputs.detach().clone().requires_grad_(True)
    with eval_mode(model), torch.enable_grad():
        features = spatial_features(model, x)                           # [B, D, h, w]
        h, w = features.shape[-2:]
        features[:, :, h // 2, w // 2].sum().backward()
    erf = x.grad.abs().sum(dim=1).mean(dim=0)                           # [H, W]
    model.zero_grad(set_to_none=True)
    return (erf / erf.sum().clamp(min=1e-12)).detach()


def erf_radius(erf: torch.Tensor, fraction: float = 0.5) -> float:
    """Radius in pixels around the image centre of the smallest disc holding ``fraction`` of the ERF's mass."""
    if not 0 < fraction <= 1:
        raise ValueError(f"fraction must be in (0, 1], got {fraction}")
    height, width = erf.shape
    ys, xs = torch.meshgrid(torch.arange(height), torch.arange(width), indexing="ij")
    radius = torch.sqrt((ys - (height - 1) / 2) ** 2 + (xs - (width - 1) / 2) ** 2).flatten().to(erf.device)
    order = radius.argsort()
    mass = (erf.flatten() / erf.sum())[order].cumsum(0)
    index = int(torch.searchsorted(mass, torch.tensor(fraction, device=mass.device) - 1e-6))
    return radius[order][min(index, len(order) - 1)].item()
