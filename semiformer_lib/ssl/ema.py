"""Exponential moving average of a model's weights, for evaluation and as a teacher (Semiformer Sec. 4.1).

After every optimizer step ``θ̄ ← d·θ̄ + (1 − d)·θ`` with decay ``d`` (0.999 by default); BatchNorm statistics are
averaged the same way. The averaged model changes slowly, so its predictions are smoother than the live model's
and make steadier pseudo-labels. This is torch's own ``AveragedModel`` with its EMA rule; :func:`ema_model` only
fixes the choices (buffers averaged too, no gradients).
"""
from __future__ import annotations

from torch import nn
from torch.optim.swa_utils import AveragedModel, get_ema_multi_avg_fn


def ema_model(model: nn.Module, decay: float = 0.999) -> AveragedModel:
    """An EMA copy of ``model`` (on its device); call ``.update_parameters(model)`` after each step and use
    ``.module`` (or the copy itself) to predict. The first update copies the weights."""
    if not 0.0 <= decay < 1.0:
        raise ValueError(f"EMA decay must be in [0, 1), got {decay}")
    averaged = AveragedModel(model, multi_avg_fn=get_ema_multi_avg_fn(decay), use_buffers=True)
    averaged.requires_grad_(False)
    return averaged
