"""Learning-rate schedule: linear warm-up, then cosine decay to zero — the recipe of the paper's experiments,
applied per optimizer step ``t`` (0-based):

    lr(t) = base · (t + 1) / warmup                                 for t < warmup
    lr(t) = base · ½ (1 + cos(π · (t − warmup) / (total − warmup)))  afterwards
"""
from __future__ import annotations

import math

import torch


def warmup_cosine_factor(step: int, total_steps: int, warmup_steps: int) -> float:
    """The multiplier of the base learning rate at optimizer step ``step`` (0-based)."""
    if step < warmup_steps:
        return (step + 1) / warmup_steps
    progress = (step - warmup_steps) / max(1, total_steps - warmup_steps)
    return 0.5 * (1.0 + math.cos(math.pi * min(1.0, progress)))


def warmup_cosine(optimizer: torch.optim.Optimizer, total_steps: int, warmup_steps: int,
                  start: int = 0) -> torch.optim.lr_scheduler.LambdaLR:
    """A torch ``LambdaLR`` following :func:`warmup_cosine_factor`; call ``.step()`` after every optimizer step.
    ``start``: the schedule's step at this optimizer's first step (a run that continues another's)."""
    if not 0 <= start < total_steps:
        raise ValueError(f"start must be in [0, total_steps={total_steps}), got {start}")
    return torch.optim.lr_scheduler.LambdaLR(
        optimizer, lambda step: warmup_cosine_factor(start + step, total_steps, warmup_steps))
