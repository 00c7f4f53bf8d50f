"""Compute budget of a model: multiply-accumulates of one forward pass, counted by torch's own flop counter.

``count_macs(model, (1, 3, 224, 224))`` runs one forward pass under :class:`torch.utils.flop_counter.FlopCounterMode`
on the model's device (the ``meta`` device works: nothing is computed, shapes are propagated) and returns
multiply-accumulates (flops / 2) — the unit papers quote as "FLOPs" or "MACs". Matrix products and convolutions
are counted; normalisation, activations and pooling are not, as is usual. :func:`macs_by_module` splits the
count by submodule, so a model can report the cost of its parts (``Semiformer.mac_groups``).
"""
from __future__ import annotations

import torch
from torch import nn
from torch.utils.flop_counter import FlopCounterMode

from .interface import eval_mode


def count_macs(model: nn.Module, input_shape: tuple[int, ...]) -> int:
    """Multiply-accumulates of ``model`` on one input batch of ``input_shape`` (eval mode, no gradients)."""
    return macs_by_module(model, input_shape)[""]


def macs_by_module(model: nn.Module, input_shape: tuple[int, ...]) -> dict[str, int]:
    """Multiply-accumulates of every submodule that does any, keyed by qualified name (``"blocks.0.attn"``);
    ``""`` is the whole model. A parent's count includes its children's."""
    parameter = next(model.parameters(), None)
    device = parameter.device if parameter is not None else torch.device("cpu")
    with eval_mode(model), torch.no_grad(), FlopCounterMode(display=False) as counter:
        model(torch.zeros(input_shape, device=device))
    root = type(model).__name__
    per_module = {"": counter.get_total_flops() // 2}
    for key, by_operator in counter.get_flop_counts().items():
        if key.startswith(root + "."):           # the counter names modules "<ClassName>.<qualified name>"
            per_module[key[len(root) + 1:]] = sum(by_operator.values()) // 2
    return per_module
