"""The semi-supervised objective of Semiformer (Weng et al., 2022, Sec. 3.2, Eq. 1–4), FixMatch-style.

A step sees ``B`` labeled images ``x`` with labels ``y`` and ``μB`` unlabeled images ``u``; ``α`` is the weak
augmentation, ``𝒜`` the strong one. A model has one head (a ViT or a CNN) or two (a Semiformer: ``h ∈ {conv,
transformer}``), and ``p_h(· | image)`` is head ``h``'s softmax.

    labeled      L_x = mean_h  1/B  Σ_b  H(y_b, p_h(· | α(x_b)))                      (label smoothing optional)
    teacher      q_b = softmax(t(α(u_b)))        t = the teacher's logits, no gradient
    pseudo-label ŷ_b = argmax q_b,   m_b = 1[max q_b ≥ τ]                               (τ = 0.7 by default)
    unlabeled    L_u = mean_h  1/(μB)  Σ_b  m_b · H(ŷ_b, p_h(· | 𝒜(u_b)))             (soft: H(q_b, ·))
    total        L   = L_x + λ · L_u                                                    (λ = 4 by default)

The teacher ``t`` is one of :data:`TEACHERS`: the conv head (the paper's choice: the branch that learns fastest from
few labels), the transformer head, ``mean`` — the mean of the heads' logits, ``(conv + transformer) / 2``, the
teacher of the official code when both heads teach (a one-headed model's own logits: FixMatch) — or an EMA copy of
the model (the mean of its heads' logits). The teacher averages where the *prediction* sums: a model's prediction,
``model(x)``, is the sum of its heads' logits (``"summed"`` in every accuracy table), which has the same argmax as
the mean but a sharper softmax, so a summed teacher would pass τ more often than the official code's. ``L_u``
averages over *all* ``μB`` unlabeled images, masked ones counting as zero, as in FixMatch and the official code: a
low mask rate shrinks the unlabeled term rather than re-weighting the few confident images.

Shapes: logits ``[N, K]``; labels and hard pseudo-labels ``[N]`` int64; soft targets ``[N, K]``; mask ``[N]``.
"""
from __future__ import annotations

from dataclasses import dataclass

import torch
import torch.nn.functional as F

TEACHERS = ("conv", "transformer", "mean", "ema")


@dataclass
class PseudoLabels:
    """The teacher's verdict on a batch of weak views: ``targets`` (``[N]`` hard or ``[N, K]`` soft), ``mask``
    (``[N]`` float, 1 where the confidence reaches τ), ``confidence`` (``[N]``, max probability) and ``predicted``
    (``[N]``, argmax — for diagnostics even when targets are soft)."""
    targets: torch.Tensor
    mask: torch.Tensor
    confidence: torch.Tensor
    predicted: torch.Tensor

    @property
    def mask_rate(self) -> torch.Tensor:
        """Share of the batch that passes the threshold (0-dim tensor: no host sync)."""
        return self.mask.mean()


@dataclass
class Objective:
    """The loss of one step and its parts (0-dim tensors; ``total`` carries the gradient)."""
    total: torch.Tensor
    labeled: torch.Tensor
    unlabeled: torch.Tensor
    pseudo: PseudoLabels


def teacher_logits(heads: tuple[torch.Tensor, ...], teacher: str,
                   ema_logits: torch.Tensor | None = None) -> torch.Tensor:
    """The logits the pseudo-labels come from, detached. ``heads`` are the model's head logits on the weak view —
    ``(conv, transformer)`` for a Semiformer, ``(logits,)`` for a one-headed model; ``ema_logits`` the EMA model's
    head logits on the same view, averaged the same way (needed for ``teacher="ema"``)."""
    if teacher not in TEACHERS:
        raise ValueError(f"teacher must be one of {TEACHERS}, got {teacher!r}")
    if teacher == "ema":
        if ema_logits is None:
            raise ValueError("teacher='ema' needs the EMA model's logits (ema_logits=)")
        return ema_logits.detach()
    if teacher in ("conv", "transformer"):
        if len(heads) != 2:
            raise ValueError(f"teacher={teacher!r} needs a two-headed model (conv, transformer); this one has "
                             f"{len(heads)} head(s): use teacher='mean' or 'ema'")
        return heads[0 if teacher == "conv" else 1].detach()
    return heads_mean(heads).detach()


def heads_mean(heads: tuple[torch.Tensor, ...]) -> torch.Tensor:
    """The mean of the heads' logits ``[N, K]`` (a one-headed model's own logits): the ``mean`` teacher, and what the
    ``ema`` teacher takes of the averaged model."""
    return torch.stack(heads).mean(dim=0)


def pseudo_label(logits: torch.Tensor, threshold: float = 0.7,
                 soft: bool = False) -> PseudoLabels:
    """Confidence-thresholded pseudo-labels from teacher ``logits`` ``[N, K]``
    (no gradient flows back)."""
    if not 0.0 <= threshold <= 1.0:
        raise ValueError(f"threshold τ must be in [0, 1], got {threshold}")
    probabilities = torch.softmax(logits.detach().float(), dim=-1)   # q  [N, K]
    confidence, predicted = probabilities.max(dim=-1)        # max q, argmax q  [N]
    mask = (confidence >= threshold).float()                 # m  [N]
    targets = probabilities if soft else predicted
    return PseudoLabels(targets, mask, confidence, predicted)


def supervised_loss(heads: tuple[torch.Tensor, ...], labels: torch.Tensor,
                    label_smoothing: float = 0.0) -> torch.Tensor:
    """``L_x``: cross-entropy of every head against the labels, averaged over the
    heads — the paper's labeled loss, and the whole loss of a supervised run."""
    return sum(F.cross_entropy(logits.float(), labels, label_smoothing=label_smoothing)
               for logits in heads) / len(heads)


def unsupervised_loss(heads: tuple[torch.Tensor, ...],
                      pseudo: PseudoLabels) -> torch.Tensor:
    """``L_u``: every head's masked cross-entropy on the strong view against the
    pseudo-labels, averaged over the batch (masked samples count as 0) and over
    heads."""
    per_head = [(F.cross_entropy(h.float(), pseudo.targets, reduction="none")
                 * pseudo.mask).mean() for h in heads]
    return torch.stack(per_head).mean()


def semi_supervised_objective(labeled_heads: tuple[torch.Tensor, ...],
                              labels: torch.Tensor,
                              weak_heads: tuple[torch.Tensor, ...],
                              strong_heads: tuple[torch.Tensor, ...],
                              teacher: str = "conv", threshold: float = 0.7,
                              unlabeled_weight: float = 4.0, soft: bool = False,
                              label_smoothing: float = 0.0,
                              ema_logits: torch.Tensor | None = None) -> Objective:
    """``L = L_x + λ·L_u`` for one step, from the heads' logits on the labeled (weak)
    views, the unlabeled weak views (the teacher's input) and the unlabeled strong
    views (the students'); ``λ = unlabeled_weight``."""
    if unlabeled_weight < 0:
        raise ValueError(f"unlabeled_weight λ must be ≥ 0, got {unlabeled_weight}")
    teacher_view = teacher_logits(weak_heads, teacher, ema_logits)
    pseudo = pseudo_label(teacher_view, threshold, soft)
    labeled = supervised_loss(labeled_heads, labels, label_smoothing)
    unlabeled = unsupervised_loss(strong_heads, pseudo)
    return Objective(labeled + unlabeled_weight * unlabeled, labeled, unlabeled, pseudo)
