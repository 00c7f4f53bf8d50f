"""Models, created by name: ``create_model("vit_mini_patch7", img_size=28, in_chans=1, num_classes=10)``.

Each name is registered once (as timm does) and sized for any of the book's inputs: 28×28 gray
(Fashion-MNIST), 32×32 RGB (CIFAR) and 224×224 RGB (ImageNet).
"""
from __future__ import annotations

from torch import nn

from .budget import count_macs, macs_by_module
from .cnn import CNN_SIZES, SmallCNN, build_cnn
from .hybrid import BOOK_PAIRS, FusedPair, build_book_pair, build_fused_pair
from .interface import HEAD_NAMES, eval_mode, head_logits, is_two_headed
from .semiformer import FUSION_MODES, INJECTION_POINTS, SEMIFORMER_SIZES, Semiformer, build_semiformer
from .vit import SPATIAL_PRIORS, VIT_SIZES, VIT_VARIANTS, build_vit, is_vit


def available_models() -> list[str]:
    return sorted([*VIT_SIZES, *VIT_VARIANTS, *CNN_SIZES, *SEMIFORMER_SIZES, *BOOK_PAIRS])


def create_model(name: str, img_size: int = 28, in_chans: int = 1, num_classes: int = 10, **overrides) -> nn.Module:
    """Build a registered model for ``[B, in_chans, img_size, img_size]`` inputs and ``num_classes`` outputs."""
    if name in VIT_VARIANTS:
        size, prior = VIT_VARIANTS[name]
        return build_vit(size, img_size=img_size, in_chans=in_chans, num_classes=num_classes,
                         spatial_prior=prior, **overrides)
    if name in VIT_SIZES:
        return build_vit(name, img_size=img_size, in_chans=in_chans, num_classes=num_classes, **overrides)
    if name in SEMIFORMER_SIZES:
        return build_semiformer(name, img_size=img_size, in_chans=in_chans, num_classes=num_classes, **overrides)
    if name in BOOK_PAIRS:
        return build_book_pair(name, img_size=img_size, in_chans=in_chans, num_classes=num_classes, **overrides)
    if name in CNN_SIZES:
        return build_cnn(name, img_size=img_size, in_chans=in_chans, num_classes=num_classes, **overrides)
    raise ValueError(f"unknown model {name!r}; available: {', '.join(available_models())}")


def count_parameters(model: nn.Module) -> int:
    return sum(p.numel() for p in model.parameters())


__all__ = ["create_model", "available_models", "count_parameters", "SmallCNN", "build_vit", "build_cnn",
           "SPATIAL_PRIORS", "VIT_VARIANTS", "Semiformer", "build_semiformer", "SEMIFORMER_SIZES", "FUSION_MODES",
           "INJECTION_POINTS", "FusedPair", "build_fused_pair", "BOOK_PAIRS", "build_book_pair",
           "count_macs", "macs_by_module", "is_vit",
           "HEAD_NAMES", "eval_mode", "head_logits", "is_two_headed"]
