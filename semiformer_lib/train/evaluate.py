"""Evaluation: logits and accuracy of a model on a resident :class:`~semiformer_lib.data.ImageSet`, and the accuracy
of each head of a two-headed model (a Semiformer: conv head, transformer head and their summed logits)."""
from __future__ import annotations

import torch
from torch import nn

from ..data import ImageSet, to_model_input
from ..data.run_data import share_batches
from ..models.interface import EVAL_BATCH, HEAD_NAMES, eval_mode, head_logits, is_two_headed
from ..precision import autocast
from . import distributed



@torch.inference_mode()
def predict(model: nn.Module, dataset: ImageSet, batch_size: int = EVAL_BATCH) -> torch.Tensor:
    """Logits ``[N, num_classes]`` (float32, on the dataset's device) in eval mode; restores the model's mode."""
    chunks = []
    with eval_mode(model):
        for start in range(0, len(dataset), batch_size):
            images = to_model_input(dataset.images[start:start + batch_size], dataset.mean, dataset.std)
            with autocast(dataset.device):
                chunks.append(model(images).float())
    return torch.cat(chunks)


def accuracy(model: nn.Module, dataset: ImageSet, batch_size: int = EVAL_BATCH) -> torch.Tensor:
    """Top-1 accuracy in [0, 1] as a 0-dim tensor on the device (no host sync until the caller reads it)."""
    return (predict(model, dataset, batch_size).argmax(dim=1) == dataset.labels).float().mean()


@torch.no_grad()                     # not inference_mode: the counts may be all-reduced in place afterwards
def head_hits(model: nn.Module, batches, mean: tuple[float, ...], std: tuple[float, ...], precision: str = "auto",
              channels_last: bool = False) -> torch.Tensor:
    """Correct predictions over ``batches`` (pairs of uint8 images ``[b, C, H, W]`` and labels ``[b]``, on the
    model's device), in eval mode: ``[conv, transformer, summed, count]`` for a two-headed model, ``[own, count]``
    for one head. A device tensor, so the caller chooses when to sync (and may sum it across processes first)."""
    two_heads = is_two_headed(model)
    hits = torch.zeros(4 if two_heads else 2, device=next(model.parameters()).device)
    with eval_mode(model):
        for images, labels in batches:
            inputs = to_model_input(images, mean, std)
            if channels_last:
                inputs = inputs.contiguous(memory_format=torch.channels_last)
            with autocast(images.device, precision):
                heads = [h.float() for h in head_logits(model, inputs)]
            predictions = [*heads, sum(heads)] if two_heads else heads
            for row, logits in enumerate(predictions):
                hits[row] += (logits.argmax(dim=1) == labels).sum()
            hits[-1] += labels.numel()
    return hits


def evaluate_heads(model: nn.Module, batches, mean: tuple[float, ...], std: tuple[float, ...],
                   process: distributed.Process, precision: str = "auto",
                   channels_last: bool = False) -> dict[str, float]:
    """Accuracy of each head (and of their summed logits) over this process's share of the batches, summed across
    processes: ``{"conv", "transformer", "summed"}`` for a Semiformer, ``{"summed"}`` for one head."""
    hits = head_hits(model, batches, mean, std, precision, channels_last)
    counts = distributed.all_reduce_sum(hits, process).tolist()               # one host sync per evaluation
    names = HEAD_NAMES if len(counts) == 4 else ("summed",)
    return {name: counts[k] / counts[-1] for k, name in enumerate(names)}


def head_accuracies(model: nn.Module, dataset: ImageSet, batch_size: int = EVAL_BATCH) -> dict[str, float]:
    """Accuracy of each head of a two-headed model (one with ``forward_heads``, e.g. a Semiformer) and of their
    summed logits, the model's prediction: ``{"conv": …, "transformer": …, "summed": …}``."""
    if not is_two_headed(model):
        raise TypeError(f"{type(model).__name__} has one head; head_accuracies needs a model with forward_heads")
    batches = share_batches(dataset, batch_size=batch_size)()
    hits = head_hits(model, batches, dataset.mean, dataset.std).tolist()              # one host sync
    return {name: hits[k] / hits[-1] for k, name in enumerate(HEAD_NAMES)}


def per_class_accuracy(logits: torch.Tensor, labels: torch.Tensor, num_classes: int) -> torch.Tensor:
    """``[num_classes]`` accuracy of each true class."""
    hits = (logits.argmax(dim=1) == labels).float()
    totals = torch.bincount(labels, minlength=num_classes).clamp(min=1)
    return torch.bincount(labels, weights=hits, minlength=num_classes) / totals


def confusion_matrix(logits: torch.Tensor, labels: torch.Tensor, num_classes: int) -> torch.Tensor:
    """``[num_classes, num_classes]`` counts: row = true class, column = predicted class."""
    predicted = logits.argmax(dim=1)
    return torch.bincount(labels * num_classes + predicted, minlength=num_classes ** 2).view(num_classes, num_classes)
