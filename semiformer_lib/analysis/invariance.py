"""How a model's output moves when the image moves or is cut up and re-assembled (chapter 2).

A convolution is translation-equivariant by construction, and global pooling turns that into invariance; a ViT
has to learn it from data. Two probes, both on a resident :class:`~semiformer_lib.data.ImageSet` (uint8
``[N, C, H, W]`` on the device):

* :func:`shift_robustness` — shift the test images by ``k`` pixels (``"cyclic"``: wrap around, so no content is
  lost; ``"padded"``: move the content and fill with the background value 0) in the four axis directions and
  report, per ``k``: *consistency* — the share of images whose predicted class is the same as unshifted; *drift*
  — ``‖f(x_k) − f(x)‖ / ‖f(x)‖`` of the pooled features ``f``; and accuracy.
* :func:`patch_shuffle_accuracy` — cut every image into ``P×P`` patches, permute them (one random order per
  image) and re-assemble. A ViT without a position embedding whose patches are exactly these cannot tell the
  difference (its tokens are a set); a convnet sees a scrambled picture.
"""
from __future__ import annotations

from dataclasses import dataclass

import torch
from torch import nn

from ..data import ImageSet, to_model_input
from ..models.interface import eval_mode
from ..precision import autocast

SHIFT_MODES = ("cyclic", "padded")
DIRECTIONS = ((0, 1), (0, -1), (1, 0), (-1, 0))      # (dy, dx): right, left, down, up


def shift_images(images: torch.Tensor, dy: int, dx: int, mode: str = "cyclic") -> torch.Tensor:
    """Images ``[N, C, H, W]`` moved ``dy`` pixels down and ``dx`` right; ``padded`` fills the gap with 0."""
    if mode not in SHIFT_MODES:
        raise ValueError(f"shift mode must be one of {SHIFT_MODES}, got {mode!r}")
    height, width = images.shape[-2:]
    if abs(dy) >= height or abs(dx) >= width:
        raise ValueError(f"shift ({dy}, {dx}) does not fit a {height}×{width} image")
    rolled = torch.roll(images, shifts=(dy, dx), dims=(-2, -1))
    if mode == "cyclic":
        return rolled
    keep = torch.ones(height, width, dtype=torch.bool, device=images.device)
    if dy > 0:
        keep[:dy] = False
    elif dy < 0:
        keep[dy:] = False
    if dx > 0:
        keep[:, :dx] = False
    elif dx < 0:
        keep[:, dx:] = False
    return rolled * keep.to(images.dtype)


@dataclass
class ShiftResult:
    """Per-shift measurements, each a list aligned with ``shifts`` (pixels)."""
    mode: str
    shifts: list[int]
    consistency: list[float]
    drift: list[float]
    accuracy: list[float]


@torch.inference_mode()
def _predict_with_features(model: nn.Module, images: torch.Tensor, dataset: ImageSet, batch_size: int):
    features, logits = [], []
    for start in range(0, len(images), batch_size):
        x = to_model_input(images[start:start + batch_size], dataset.mean, dataset.std)
        with autocast(dataset.device):                                                 # bf16 on CUDA, as predict()
            feature_map = model.forward_features(x)
            features.append(model.forward_head(feature_map, pre_logits=True).float())    # [b, D]
            logits.append(model.forward_head(feature_map).float())                         # [b, classes]
    return torch.cat(features), torch.cat(logits).argmax(dim=1)


def shift_robustness(model: nn.Module, dataset: ImageSet, shifts=range(0, 9), mode: str = "padded",
                     batch_size: int = 1000) -> ShiftResult:
    """Consistency, feature drift and accuracy under ``k``-pixel shifts, averaged over the four directions."""
    if mode not in SHIFT_MODES:
        raise ValueError(f"shift mode must be one of {SHIFT_MODES}, got {mode!r}")
    with eval_mode(model):
        base_features, base_pred = _predict_with_features(model, dataset.images, dataset, batch_size)
        base_norm = base_features.norm(dim=1).clamp(min=1e-12)
        consistency, drift, accuracy = [], [], []
        for k in shifts:
            same, moved, correct = [], [], []
            for dy, dx in DIRECTIONS if k else ((0, 0),):
                images = shift_images(dataset.images, dy * k, dx * k, mode)
                features, pred = _predict_with_features(model, images, dataset, batch_size)
                same.append((pred == base_pred).float().mean())
                moved.append(((features - base_features).norm(dim=1) / base_norm).mean())
                correct.append((pred == dataset.labels).float().mean())
            consistency.append(torch.stack(same).mean())
            drift.append(torch.stack(moved).mean())
            accuracy.append(torch.stack(correct).mean())
        # One host transfer for all shifts.
        values = torch.stack([torch.stack(consistency), torch.stack(drift), torch.stack(accuracy)]).tolist()
    return ShiftResult(mode, list(shifts), *values)


def shuffle_patches(images: torch.Tensor, patch_size: int, generator: torch.Generator | None = None) -> torch.Tensor:
    """Images ``[N, C, H, W]`` with their ``P×P`` patches in a random order (a different order per image)."""
    n, c, height, width = images.shape
    if height % patch_size or width % patch_size:
        raise ValueError(f"patch size {patch_size} does not tile a {height}×{width} image")
    gh, gw = height // patch_size, width // patch_size
    patches = images.reshape(n, c, gh, patch_size, gw, patch_size).permute(0, 2, 4, 1, 3, 5)
    patches = patches.reshape(n, gh * gw, c, patch_size, patch_size)                 # [N, gh·gw, C, P, P]
    order = torch.rand(n, gh * gw, generator=generator, device=generator.device if generator else "cpu")
    order = order.argsort(dim=1).to(images.device)
    shuffled = torch.gather(patches, 1, order[:, :, None, None, None].expand_as(patches))
    shuffled = shuffled.reshape(n, gh, gw, c, patch_size, patch_size).permute(0, 3, 1, 4, 2, 5)
    return shuffled.reshape(n, c, height, width)


def patch_shuffle_accuracy(model: nn.Module, dataset: ImageSet, patch_size: int, seed: int = 0,
                           batch_size: int = 1000) -> tuple[float, float]:
    """``(accuracy on the images, accuracy on the same images with shuffled P×P patches)``."""
    shuffled = shuffle_patches(dataset.images, patch_size, torch.Generator().manual_seed(seed))
    with eval_mode(model):
        _, pred = _predict_with_features(model, dataset.images, dataset, batch_size)
        _, pred_shuffled = _predict_with_features(model, shuffled, dataset, batch_size)
        result = torch.stack([(pred == dataset.labels).float().mean(),
                              (pred_shuffled == dataset.labels).float().mean()]).tolist()
    return result[0], result[1]
