"""Representational similarity: linear CKA (Kornblith et al., 2019) between two sets of features (chapter 3).

For features of the same ``n`` inputs from two places in a network, ``X [n, p]`` and ``Y [n, q]`` (any widths),
both centred over the inputs,

    CKA(X, Y) = ‖Yᵀ X‖²_F / (‖Xᵀ X‖_F · ‖Yᵀ Y‖_F)        ∈ [0, 1]

1 when one is an orthogonal transform and isotropic scaling of the other, near 0 for unrelated features. A conv
map ``[n, C, H, W]`` or token set ``[n, T, D]`` is flattened per input first (:func:`flatten_features`), or pooled
by the caller to compare what a branch holds globally.

:func:`branch_similarity` applies it to a two-branch model block by block (chapter 3): after block ``l`` the conv
map ``[n, C_l, H_l, W_l]`` is average-pooled to the token grid, ``[n, C_l, gh, gw]``, and compared with the patch
tokens ``[n, gh·gw, D]`` (class token dropped), both flattened per image: the two branches' descriptions of the
same image regions.
"""
from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn

from ..models.interface import eval_mode


def flatten_features(features: torch.Tensor) -> torch.Tensor:
    """``[n, …]`` → ``[n, prod(…)]`` in float64 (CKA's sums of squares lose precision in float32)."""
    return features.reshape(features.shape[0], -1).double()


def linear_cka(x: torch.Tensor, y: torch.Tensor) -> float:
    """Linear CKA between features ``x [n, …]`` and ``y [n, …]`` of the same ``n`` inputs."""
    if x.shape[0] != y.shape[0]:
        raise ValueError(f"CKA compares features of the same inputs: got {x.shape[0]} and {y.shape[0]} rows")
    if x.shape[0] < 2:
        raise ValueError("CKA needs at least 2 inputs")
    x, y = flatten_features(x), flatten_features(y)
    x, y = x - x.mean(dim=0), y - y.mean(dim=0)
    cross = torch.linalg.matrix_norm(y.T @ x) ** 2
    # ‖XᵀX‖_F = ‖XXᵀ‖_F: use the n×n Gram matrices when features are wider than the batch.
    self_x = torch.linalg.matrix_norm(x @ x.T if x.shape[1] > x.shape[0] else x.T @ x)
    self_y = torch.linalg.matrix_norm(y @ y.T if y.shape[1] > y.shape[0] else y.T @ y)
    return (cross / (self_x * self_y).clamp(min=1e-300)).item()


@torch.inference_mode()
def branch_similarity(model: nn.Module, inputs: torch.Tensor) -> list[float]:
    """Linear CKA between the conv map (pooled to the token grid) and the patch tokens after every block of a
    two-branch model with ``forward_blocks`` and ``grid`` (a Semiformer), on a batch of model inputs: one value
    per block, first to last (eval mode)."""
    if not hasattr(model, "forward_blocks"):
        raise TypeError(f"{type(model).__name__} has no forward_blocks: branch_similarity needs a two-branch model")
    with eval_mode(model):
        blocks = model.forward_blocks(inputs)
    grid, prefix = tuple(model.grid), getattr(model, "num_prefix_tokens", 1)
    return [linear_cka(F.adaptive_avg_pool2d(feature_map.float(), grid), tokens[:, prefix:].float())
            for feature_map, tokens in blocks]
