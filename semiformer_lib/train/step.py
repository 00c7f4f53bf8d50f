"""One optimisation step's loss (Semiformer Sec. 3.2, Eq. 1–4): the model's forward passes, then the objective of
:mod:`semiformer_lib.ssl.objective` on their logits — so the function chapter 4 shows is the one that trains.

    supervised step        L = L_x(α(x))                                   ssl.supervised_loss
    pseudo-labeling step   t = teacher(α(u))   in eval mode, no gradient   the heads, or the EMA copy
                           L = L_x(α(x)) + λ·L_u(𝒜(u); t)                  ssl.semi_supervised_objective

Inputs are normalised floats: labeled weak views ``[B, C, H, W]`` with labels ``[B]``; unlabeled weak and strong
views ``[μB, C, H, W]``. The students see ``α(x)`` and ``𝒜(u)`` in one forward pass, so BatchNorm normalises both
together as in FixMatch and the official code.
"""
from __future__ import annotations

import torch
from torch import nn

from ..models.interface import eval_mode, head_logits
from ..precision import autocast
from ..ssl.objective import Objective, heads_mean, semi_supervised_objective, supervised_loss


def supervised_step(student: nn.Module, weak_x: torch.Tensor, labels: torch.Tensor, label_smoothing: float = 0.0,
                    precision: str = "auto") -> torch.Tensor:
    """``L_x`` of a labeled batch: every head's cross-entropy, averaged over the heads. ``student``: a module whose
    forward returns the heads' logits (:class:`~semiformer_lib.models.interface.HeadsModule`)."""
    with autocast(weak_x.device, precision):
        return supervised_loss(tuple(student(weak_x)), labels, label_smoothing)


def semi_supervised_step(model: nn.Module, weak_x: torch.Tensor, labels: torch.Tensor,
                         weak_u: torch.Tensor, strong_u: torch.Tensor, *,
                         teacher: str = "conv", threshold: float = 0.7,
                         unlabeled_weight: float = 4.0, soft_targets: bool = False,
                         label_smoothing: float = 0.0,
                         averaged: nn.Module | None = None,
                         student: nn.Module | None = None,
                         precision: str = "auto") -> Objective:
    """The loss of one pseudo-labeling step and its parts (see the module docstring).

    The teacher predicts on ``weak_u`` in eval mode without gradient: ``model``'s heads,
    or, for ``teacher="ema"``, ``averaged`` (the EMA copy). The students are the heads
    ``student`` returns (a :class:`~semiformer_lib.models.interface.HeadsModule`,
    DDP-wrapped in a multi-process run so that gradients are synchronised; default:
    ``model``'s heads).
    """
    device = weak_x.device
    with torch.no_grad(), autocast(device, precision):
        if teacher == "ema":
            if averaged is None:
                raise ValueError("teacher='ema' needs the EMA model (averaged=)")
            weak_heads, ema_logits = (), heads_mean(head_logits(averaged, weak_u))
        else:
            with eval_mode(model):        # as the official engine: eval mode
                weak_heads, ema_logits = head_logits(model, weak_u), None
    batch = weak_x.shape[0]
    with autocast(device, precision):
        inputs = torch.cat([weak_x, strong_u])
        if student is not None:
            heads = tuple(student(inputs))                  # [B + μB, K] each
        else:
            heads = head_logits(model, inputs)
        return semi_supervised_objective(
            labeled_heads=tuple(h[:batch] for h in heads), labels=labels,
            weak_heads=weak_heads, strong_heads=tuple(h[batch:] for h in heads),
            teacher=teacher, threshold=threshold, unlabeled_weight=unlabeled_weight,
            soft=soft_targets, label_smoothing=label_smoothing, ema_logits=ema_logits)
