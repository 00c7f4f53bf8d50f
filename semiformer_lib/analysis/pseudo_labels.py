"""Pseudo-label quality: how many unlabeled images a teacher labels, and how many of those labels are right
(Semiformer Sec. 3.2; FixMatch's confidence threshold).

A teacher's verdict on ``N`` unlabeled images is its confidence ``c = max softmax`` ``[N]`` and its argmax
``ŷ`` ``[N]``. A threshold ``τ`` keeps the images with ``c ≥ τ``; the trade-off it controls is

    quantity  mask rate(τ)           = 1/N · Σ 1[c ≥ τ]
    quality   confident accuracy(τ)  = Σ 1[c ≥ τ]·1[ŷ = y]  /  Σ 1[c ≥ τ]

where the true labels ``y`` of the unlabeled images are read for this measurement only. The per-class mask rate
shows *which* images a threshold starves: classes the teacher is unsure of receive few pseudo-labels, so the
unlabeled term pushes the student towards the classes it already knows (one face of confirmation bias).
"""
from __future__ import annotations

import pandas as pd
import torch


def threshold_tradeoff(confidence: torch.Tensor, predicted: torch.Tensor, labels: torch.Tensor,
                       thresholds) -> pd.DataFrame:
    """Quantity and quality of the pseudo-labels at each threshold: columns ``threshold``, ``mask_rate``,
    ``confident_accuracy`` (NaN where no image passes) and ``correct_share`` (right pseudo-labels per unlabeled
    image: mask rate × confident accuracy)."""
    if not (confidence.shape == predicted.shape == labels.shape and confidence.dim() == 1):
        raise ValueError(f"confidence, predicted and labels must be [N] alike, got {tuple(confidence.shape)}, "
                         f"{tuple(predicted.shape)}, {tuple(labels.shape)}")
    thresholds = [float(t) for t in thresholds]
    taus = torch.as_tensor(thresholds, dtype=torch.float32, device=confidence.device)           # [T]
    passed = (confidence[None, :] >= taus[:, None]).float()                                      # [T, N]
    right = (predicted == labels).float()[None, :]                                               # [1, N]
    kept = passed.sum(dim=1)
    mask_rate = kept / len(confidence)
    accuracy = (passed * right).sum(dim=1) / kept                                               # NaN where 0 / 0
    # thresholds kept as given (not float32), so a table can be indexed by the values the caller passed
    return pd.DataFrame({"threshold": thresholds, "mask_rate": mask_rate.cpu().numpy(),
                         "confident_accuracy": accuracy.cpu().numpy(),
                         "correct_share": (mask_rate * accuracy.nan_to_num(0.0)).cpu().numpy()})


def class_mask_rate(confidence: torch.Tensor, labels: torch.Tensor, threshold: float, num_classes: int) -> torch.Tensor:
    """Share of each true class's images whose confidence reaches ``threshold``: ``[num_classes]`` (NaN for a class
    with no image)."""
    passed = (confidence >= threshold).float()
    count = torch.bincount(labels, minlength=num_classes).float()
    kept = torch.bincount(labels, weights=passed, minlength=num_classes)
    return torch.where(count > 0, kept / count.clamp(min=1), float("nan"))
