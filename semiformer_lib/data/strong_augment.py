"""Strong augmentation: RandAugment with per-sample random operations and magnitudes, then Cutout, batched on the
training device (FixMatch's "strong" view, which the Semiformer paper uses for the unlabeled images, Sec. 3.2).

RandAugment (Cubuk et al., 2020) applies ``n`` operations drawn from a fixed list; FixMatch's variant draws each
operation's magnitude at random. Here every *sample* of a batch ``[B, C, H, W]`` gets its own ``n`` operations
(without replacement) and its own magnitudes ``m ∈ [0, 1]`` — a whole-batch policy (the same two operations for
every image, as ``kornia.augmentation.auto.RandAugment`` draws them) would make every pseudo-labeled image in a
step equally hard. The per-sample parameters go into kornia's functional operations, which accept one factor per
sample:

* geometry — rotate (±30°·m), shear x / y (±0.3 rad·m), translate x / y (±30 %·m of the side) — is composed into one
  affine matrix per sample (``kornia.geometry.transform.get_affine_matrix2d``) and applied by a single
  ``warp_affine`` (identity for the samples that did not draw it), zero fill;
* intensity — autocontrast, equalize, brightness (±0.5·m added), contrast and sharpness (factor 1 ± 0.9·m),
  posterize (8 − 4·m bits), solarize (threshold 1 − m), and colour (saturation 1 ± 0.9·m, RGB only) — each is
  computed for the batch and kept where the sample drew it (``torch.where``), in this fixed order;
* Cutout (DeVries & Taylor, 2017): one gray square of side ``cutout·H`` at a random centre per sample, clipped
  at the border.

Every random draw comes from the ``torch.Generator`` passed in (on the batch's device), so a seed reproduces the
views exactly; no step syncs with the host. Input and output are ``[B, C, H, W]`` uint8, like the weak view
(:func:`semiformer_lib.data.weak_augment`).
"""
from __future__ import annotations

import math

import torch
from kornia import enhance
from kornia.geometry.transform import get_affine_matrix2d, warp_affine

GEOMETRIC_OPS = ("rotate", "shear_x", "shear_y", "translate_x", "translate_y")
INTENSITY_OPS = ("autocontrast", "equalize", "brightness", "contrast", "sharpness", "posterize", "solarize")
COLOR_OPS = ("color",)          # needs three channels


def strong_ops(channels: int) -> tuple[str, ...]:
    """The operations RandAugment draws from for images with ``channels`` channels (``"identity"`` included)."""
    return ("identity", *GEOMETRIC_OPS, *INTENSITY_OPS, *(COLOR_OPS if channels == 3 else ()))


def _signed(magnitude: torch.Tensor, generator: torch.Generator | None) -> torch.Tensor:
    """``magnitude`` with a random sign per sample."""
    sign = torch.randint(0, 2, magnitude.shape, device=magnitude.device, generator=generator) * 2 - 1
    return magnitude * sign


def _per_sample(value: torch.Tensor) -> torch.Tensor:
    return value.view(-1, 1, 1, 1)


def strong_augment(images: torch.Tensor, generator: torch.Generator | None = None, num_ops: int = 2,
                   cutout: float = 0.5) -> torch.Tensor:
    """RandAugment (``num_ops`` per sample, random magnitudes) + Cutout of side ``cutout·H``; see the module doc.

    Args:
        images: ``[B, C, H, W]`` uint8 (C = 1 or 3).
        generator: randomness on ``images.device`` (None → the global generator).
        num_ops: operations per sample, drawn without replacement from :func:`strong_ops`.
        cutout: side of the Cutout square as a fraction of the height (0 disables it).

    Returns:
        ``[B, C, H, W]`` uint8 on the same device.
    """
    if images.dtype != torch.uint8 or images.dim() != 4:
        raise ValueError(f"strong_augment expects [B, C, H, W] uint8 images, got {images.dtype} {tuple(images.shape)}")
    ops = strong_ops(images.shape[1])
    if not 0 <= num_ops <= len(ops):
        raise ValueError(f"num_ops must be in [0, {len(ops)}] (the number of operations), got {num_ops}")
    if not 0 <= cutout < 1:
        raise ValueError(f"cutout must be a fraction of the side in [0, 1), got {cutout}")
    batch, _, height, width = images.shape
    device = images.device
    x = images.float() / 255                                                        # [B, C, H, W] in [0, 1]

    # Which operations each sample applies: the first num_ops of a random permutation of the list.
    order = torch.rand(batch, len(ops), device=device, generator=generator).argsort(dim=1)
    chosen = torch.zeros(batch, len(ops), dtype=torch.bool, device=device)
    chosen.scatter_(1, order[:, :num_ops], True)                                    # [B, ops]
    drew = {name: chosen[:, k] for k, name in enumerate(ops)}                       # name → [B] bool
    magnitude = torch.rand(batch, len(ops), device=device, generator=generator)
    m = {name: magnitude[:, k] for k, name in enumerate(ops)}                       # name → [B] in [0, 1]

    # Geometry: one affine matrix per sample (identity where an operation was not drawn), one warp.
    def amount(name, scale):
        return torch.where(drew[name], _signed(m[name], generator) * scale, torch.zeros_like(m[name]))

    centre = torch.tensor([(width - 1) / 2, (height - 1) / 2], device=device).expand(batch, 2)
    translation = torch.stack([amount("translate_x", 0.3 * width), amount("translate_y", 0.3 * height)], dim=1)
    matrix = get_affine_matrix2d(translation, centre, torch.ones(batch, 2, device=device),
                                 amount("rotate", 30.0), sx=amount("shear_x", 0.3), sy=amount("shear_y", 0.3))
    x = warp_affine(x, matrix[:, :2], (height, width), mode="bilinear", padding_mode="zeros", align_corners=True)

    # Intensity: computed for the whole batch, kept where drawn (no boolean indexing, hence no host sync).
    def keep(name, transformed):
        return torch.where(_per_sample(drew[name]), transformed, x)

    x = keep("autocontrast", enhance.normalize_min_max(x))
    x = keep("equalize", enhance.equalize(x))
    x = keep("brightness", enhance.adjust_brightness(x, _signed(m["brightness"], generator) * 0.5))
    x = keep("contrast", enhance.adjust_contrast(x, 1 + _signed(m["contrast"], generator) * 0.9))
    x = keep("sharpness", enhance.sharpness(x, 1 + _signed(m["sharpness"], generator) * 0.9))
    bits = (8 - torch.round(4 * m["posterize"])).to(torch.uint8)
    x = keep("posterize", enhance.posterize(x, bits))
    x = keep("solarize", enhance.solarize(x, thresholds=1 - m["solarize"]))
    if "color" in drew:
        x = keep("color", enhance.adjust_saturation(x, 1 + _signed(m["color"], generator) * 0.9))

    if cutout > 0:
        side = max(1, math.ceil(cutout * height))
        cy = torch.randint(0, height, (batch, 1, 1), device=device, generator=generator)
        cx = torch.randint(0, width, (batch, 1, 1), device=device, generator=generator)
        rows = torch.arange(height, device=device).view(1, height, 1)
        cols = torch.arange(width, device=device).view(1, 1, width)
        inside = ((rows - cy).abs() <= side // 2) & ((cols - cx).abs() <= side // 2)       # [B, H, W]
        x = torch.where(inside[:, None], torch.full_like(x, 0.5), x)
    return (x.clamp(0, 1) * 255).round().to(torch.uint8)
