"""Exponential moving average of a model's weights, for evaluation and as a teacher (Semiformer Sec. 4.1).

After optimizer step ``t``, ``θ̄ ← d_t·θ̄ + (1 − d_t)·θ``; BatchNorm statistics are averaged the same way. The
averaged model changes slowly, so its predictions are smoother than the live model's and make steadier
pseudo-labels. The decay warms up, ``d_t = min(d, 1 − (1 + t)^(−2/3))``: with a fixed ``d = 0.999`` a
600-step run — the book's CPU scale — would still hold 0.999⁶⁰⁰ ≈ 55 % of the random initial weights and predict
at chance (measured). This is timm's ``ModelEmaV3`` with its warm-up; :func:`ema_model` fixes the choices.
"""
from __future__ import annotations

from timm.utils import ModelEmaV3
from torch import nn


def ema_model(model: nn.Module, decay: float = 0.999) -> ModelEmaV3:
    """An EMA copy of ``model`` (eval mode, on its device). Call ``.update(model, step=t)`` after optimizer step
    ``t`` (1, 2, …; the first update copies the weights) and predict with ``.module``."""
    if not 0.0 <= decay < 1.0:
        raise ValueError(f"EMA decay must be in [0, 1), got {decay}")
    averaged = ModelEmaV3(model, decay=decay, use_warmup=True)
    averaged.module.requires_grad_(False)
    return averaged
