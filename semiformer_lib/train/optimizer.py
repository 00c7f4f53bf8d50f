"""The optimizer of every run: AdamW with weight decay on the weight matrices only (Semiformer Sec. 4.1; DeiT).

Decay pulls weights towards zero. On a norm's scale or shift, a bias, the class token or a position embedding that
pull has no regularising meaning — it only shrinks an offset — so DeiT, timm and the official Semiformer code exempt
them. timm's :func:`~timm.optim.param_groups_weight_decay` makes the two groups: parameters with one dimension or a
name ending in ``.bias`` get no decay, and so do those the model lists in its ``no_weight_decay()`` (a timm ViT
lists ``cls_token`` and ``pos_embed``; the Semiformer lists its class token). Everything else decays at
``weight_decay``.
"""
from __future__ import annotations

import torch
from timm.optim import param_groups_weight_decay
from torch import nn


def no_weight_decay_names(model: nn.Module) -> set[str]:
    """The parameter names (fnmatch patterns) ``model`` exempts from weight decay beyond 1-d tensors and biases."""
    listed = getattr(model, "no_weight_decay", None)
    return set(listed()) if callable(listed) else set()


def build_optimizer(model: nn.Module, lr: float, weight_decay: float) -> torch.optim.AdamW:
    """AdamW over ``model``'s two parameter groups (see the module docstring); fused kernels on CUDA."""
    groups = param_groups_weight_decay(model, weight_decay, no_weight_decay_list=no_weight_decay_names(model))
    on_cuda = next(model.parameters()).device.type == "cuda"
    return torch.optim.AdamW(groups, lr=lr, weight_decay=weight_decay, fused=on_cuda)
