"""Evaluation: logits and accuracy of a model on a resident :class:`~semiformer_lib.data.ImageSet`."""
from __future__ import annotations

import torch
from torch import nn

from ..data import ImageSet, to_model_input
from .precision import autocast


@torch.inference_mode()
def predict(model: nn.Module, dataset: ImageSet, batch_size: int = 1000) -> torch.Tensor:
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


def accuracy(model: nn.Module, dataset: ImageSet, batch_size: int = 1000) -> torch.Tensor:
    """Top-1 accuracy in [0, 1] as a 0-dim tensor on the device (no host sync until the caller reads it)."""
    return (predict(model, dataset, batch_size).argmax(dim=1) == dataset.labels).float().mean()


def per_class_accuracy(logits: torch.Tensor, labels: torch.Tensor, num_classes: int) -> torch.Tensor:
    """``[num_classes]`` accuracy of each true class."""
    hits = (logits.argmax(dim=1) == labels).float()
    totals = torch.bincount(labels, minlength=num_classes).clamp(min=1)
    return torch.bincount(labels, weights=hits, minlength=num_classes) / totals


def confusion_matrix(logits: torch.Tensor, labels: torch.Tensor, num_classes: int) -> torch.Tensor:
    """``[num_classes, num_classes]`` counts: row = true class, column = predicted class."""
    predicted = logits.argmax(dim=1)
    return torch.bincount(labels * num_classes + predicted, minlength=num_classes ** 2).view(num_classes, num_classes)
