"""Compute budget of a model: multiply-accumulates of one forward pass, counted by torch's own flop counter.

``count_macs(model, (1, 3, 224, 224))`` runs one forward pass under :class:`torch.utils.flop_counter.FlopCounterMode`
on the model's device (the ``meta`` device works: nothing is computed, shapes are propagated) and returns
multiply-accumulates (flops / 2) — the unit papers quote as "FLOPs" or "MACs". Matrix products and convolutions
are counted; normalisation, activations and pooling are not, as is usual.
"""
from __future__ import annotations

import torch
from torch import nn
from torch.utils.flop_counter import FlopCounterMode


def count_macs(model: nn.Module, input_shape: tuple[int, ...]) -> int:
    """Multiply-accumulates of ``model`` on one input batch of ``input_shape`` (eval mode, no gradients)."""
    parameter = next(model.parameters(), None)
    device = parameter.device if parameter is not None else torch.device("cpu")
    was_training = model.training
    model.eval()
    try:
        with torch.no_grad(), FlopCounterMode(display=False) as counter:
            model(torch.zeros(input_shape, device=device))
    finally:
        model.train(was_training)
    return counter.get_total_flops() // 2
