"""What the rest of the library asks of a model, written once.

Every classifier here maps images ``[B, C, H, W]`` to logits ``[B, num_classes]``. A two-headed model — a
Semiformer, or any fused timm pair — also has ``forward_heads(inputs)``, which returns the conv head's and the
transformer head's logits, each ``[B, num_classes]``; its prediction is the sum of the two (Weng et al., 2022,
Sec. 3 and Fig. 2: a classifier on each branch). Training, evaluation, pseudo-labeling and the analyses all go
through these helpers instead of testing for ``forward_heads`` or saving and restoring ``model.training`` each in
its own way.
"""
from __future__ import annotations

from contextlib import contextmanager

import torch
from torch import nn

from ..data.datasets import EVAL_BATCH  # noqa: F401  (re-exported: the models' inference batch)

# A two-headed model's heads, then the sum of their logits: the row order of every per-head count and table.
HEAD_NAMES = ("conv", "transformer", "summed")


def is_two_headed(model: nn.Module) -> bool:
    """Whether ``model`` has a conv and a transformer head (``forward_heads``), as a Semiformer does."""
    return hasattr(model, "forward_heads")


def head_logits(model: nn.Module, inputs: torch.Tensor) -> tuple[torch.Tensor, ...]:
    """The logits of every head, each ``[B, num_classes]``: ``(conv, transformer)`` for a two-headed model,
    ``(logits,)`` for any other classifier."""
    return tuple(model.forward_heads(inputs)) if is_two_headed(model) else (model(inputs),)


@contextmanager
def eval_mode(model: nn.Module):
    """Run the block with ``model`` in eval mode (BatchNorm on running statistics, no dropout), then put it back
    in the mode it was in, also when the block raises."""
    was_training = model.training
    model.eval()
    try:
        yield model
    finally:
        model.train(was_training)


class HeadsModule(nn.Module):
    """``model`` as a module whose ``forward`` returns every head's logits (``(conv, transformer)`` or
    ``(logits,)``): the student a training step calls, and what DDP wraps, since DDP synchronises the gradients of
    ``forward`` only."""

    def __init__(self, model: nn.Module):
        super().__init__()
        self.model = model

    def forward(self, images: torch.Tensor) -> tuple[torch.Tensor, ...]:
        return head_logits(self.model, images)
