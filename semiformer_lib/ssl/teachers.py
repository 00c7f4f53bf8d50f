"""What every candidate teacher would pseudo-label: the teacher probe behind chapter 4's "which branch should
teach?" (Semiformer Sec. 3.2 makes the conv head the teacher; FixMatch a model's own prediction; Mean Teacher an EMA
copy).

:func:`teacher_predictions` runs the model once, in eval mode, over un-augmented images ``[N, C, H, W]`` and asks
:func:`~semiformer_lib.ssl.objective.teacher_logits` — the same function the training step asks — for each
teacher's logits ``[N, K]``, so the probe measures exactly the pseudo-labels a run with that teacher would get.
Each teacher's verdict is its confidence ``max softmax`` ``[N]`` and its argmax ``[N]``.
"""
from __future__ import annotations

import torch
from torch import nn

from ..data import ImageSet, to_model_input
from ..models.interface import EVAL_BATCH, eval_mode, head_logits, is_two_headed
from ..precision import autocast
from .objective import TEACHERS, heads_mean, teacher_logits


def available_teachers(model: nn.Module, with_ema: bool) -> tuple[str, ...]:
    """The teachers of :data:`~semiformer_lib.ssl.objective.TEACHERS` that ``model`` offers: the conv and the
    transformer head only on a two-headed model, the EMA only when an averaged copy exists."""
    return tuple(t for t in TEACHERS if (t != "ema" or with_ema)
                 and (t not in ("conv", "transformer") or is_two_headed(model)))


@torch.no_grad()
def teacher_predictions(model: nn.Module, images: ImageSet, ema: nn.Module | None = None,
                        batch_size: int = EVAL_BATCH) -> dict[str, tuple[torch.Tensor, torch.Tensor]]:
    """Every available teacher's ``(confidence [N], predicted [N])`` on ``images`` (un-augmented), in eval mode:
    ``conv`` and ``transformer`` (two-headed models only), ``mean`` (the mean of the heads' logits: a one-headed
    model's own prediction) and ``ema`` (when ``ema``, the averaged model, is given). The model's train/eval mode
    is restored afterwards."""
    teachers = available_teachers(model, with_ema=ema is not None)
    logits: dict[str, list[torch.Tensor]] = {teacher: [] for teacher in teachers}
    with eval_mode(model):
        for start in range(0, len(images), batch_size):
            x = to_model_input(images.images[start:start + batch_size], images.mean, images.std)
            with autocast(x.device):
                heads = head_logits(model, x)
                ema_logits = heads_mean(head_logits(ema, x)) if ema is not None else None
            for teacher in teachers:
                logits[teacher].append(teacher_logits(heads, teacher, ema_logits).float())
    out = {}
    for teacher, parts in logits.items():
        confidence, predicted = torch.softmax(torch.cat(parts), dim=-1).max(dim=-1)
        out[teacher] = (confidence, predicted)
    return out
