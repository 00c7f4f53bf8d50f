"""Evaluation: logits and accuracy of a model on a resident :class:`~semiformer_lib.data.ImageSet`, and the accuracy
of each head of a two-headed model (a Semiformer: conv head, transformer head and their summed logits)."""
from __future__ import annotations

import torch
from torch import nn

from ..data import ImageSet, to_model_input
from .precision import autocast


# Images per inference batch. On the 2-core CI machine 256 evaluates 2 000 test images 3× faster than 1 000 for
# the tiny Semiformer (0.76 s vs 2.34 s; conv maps at full resolution overflow the caches at 1 000), and no slower
# for the ViT or the CNN.
EVAL_BATCH = 256


@torch.inference_mode()
def predict(model: nn.Module, dataset: ImageSet, batch_size: int = EVAL_BATCH) -> torch.Tensor:
    """Logits ``[N, num_classes]`` (float32, on the dataset's device) in eval mode; restores the model's mode."""
    was_training = model.training
    model.eval()
    chunks = []
    for start in range(0, len(dataset), batch_size):
        images = to_model_input(dataset.images[start:start + batch_size], dataset.mean, dataset.std)
        with autocast(dataset.device):
            chunks.append(model(images).float())
    model.train(was_training)
    return torch.cat(chunks)


def accuracy(model: nn.Module, dataset: ImageSet, batch_size: int = EVAL_BATCH) -> torch.Tensor:
    """Top-1 accuracy in [0, 1] as a 0-dim tensor on the device (no host sync until the caller reads it)."""
    return (predict(model, dataset, batch_size).argmax(dim=1) == dataset.labels).float().mean()


@torch.inference_mode()
def head_accuracies(model: nn.Module, dataset: ImageSet, batch_size: int = EVAL_BATCH) -> dict[str, float]:
    """Accuracy of each head of a two-headed model (one with ``forward_heads``, e.g. a Semiformer) and of their
    summed logits, the model's prediction: ``{"conv": …, "transformer": …, "summed": …}``."""
    if not hasattr(model, "forward_heads"):
        raise TypeError(f"{type(model).__name__} has one head; head_accuracies needs a model with forward_heads")
    was_training = model.training
    model.eval()
    hits = torch.zeros(3, device=dataset.labels.device)
    for start in range(0, len(dataset), batch_size):
        images = to_model_input(dataset.images[start:start + batch_size], dataset.mean, dataset.std)
        labels = dataset.labels[start:start + batch_size]
        with autocast(dataset.device):
            conv, transformer = (logits.float() for logits in model.forward_heads(images))
        for row, logits in enumerate((conv, transformer, conv + transformer)):
            hits[row] += (logits.argmax(dim=1) == labels).sum()
    model.train(was_training)
    conv, transformer, summed = (hits / len(dataset)).tolist()     # one host sync for the whole set
    return {"conv": conv, "transformer": transformer, "summed": summed}


def per_class_accuracy(logits: torch.Tensor, labels: torch.Tensor, num_classes: int) -> torch.Tensor:
    """``[num_classes]`` accuracy of each true class."""
    hits = (logits.argmax(dim=1) == labels).float()
    totals = torch.bincount(labels, minlength=num_classes).clamp(min=1)
    return torch.bincount(labels, weights=hits, minlength=num_classes) / totals


def confusion_matrix(logits: torch.Tensor, labels: torch.Tensor, num_classes: int) -> torch.Tensor:
    """``[num_classes, num_classes]`` counts: row = true class, column = predicted class."""
    predicted = logits.argmax(dim=1)
    return torch.bincount(labels * num_classes + predicted, minlength=num_classes ** 2).view(num_classes, num_classes)
