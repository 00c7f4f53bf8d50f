"""The Vision Transformer (Dosovitskiy et al., 2021) — the transformer branch of the story, on its own.

An image ``[B, C, H, W]`` is cut into ``P×P`` patches, each linearly embedded (``patch_embed``) into a token of
width ``D``; a learned class token is prepended and learned position embeddings are added, giving
``[B, 1 + (H/P)·(W/P), D]``. ``depth`` pre-norm blocks of multi-head self-attention and an MLP follow; the head
reads the class token: ``[B, D] → [B, num_classes]``.

Nothing in it says that neighbouring pixels belong together — position embeddings start random and must be
learnt — which is why it starves on few labels (chapter 1) and why Semiformer pairs it with a convnet.

The model itself is timm's ``VisionTransformer``: it is well-tested and its blocks are the ones the Semiformer
transformer branch will reuse (chapter 3). This module only names the sizes the book uses, and the spatial-prior
variants of chapter 2 — the same model with one part configured differently (see :mod:`.spatial_priors`):

* ``…_convstem``: convolutional stem instead of the linear patch projection;
* ``…_relpos``: attention with a locality-initialised relative position bias;
* ``…_nopos``: no position embedding at all (the model cannot tell where a patch came from);
* ``vit_mini_patch2``: smaller patches — a finer, longer token sequence (4× the tokens of patch 4).
"""
from __future__ import annotations

from dataclasses import dataclass

from timm.models.vision_transformer import VisionTransformer

from .spatial_priors import ConvStem, relative_position_attention


@dataclass(frozen=True)
class ViTSize:
    """Width, depth, heads and patch size of a named ViT (timm's naming: ``vit_<size>_patch<P>``)."""
    embed_dim: int
    depth: int
    num_heads: int
    patch_size: int
    mlp_ratio: float = 4.0


VIT_SIZES = {
    # Book scale: 7 px patches cut a 28 px image into 4×4 tokens (cheap enough for the cpu profile),
    # 4 px patches into 7×7 (8×8 at 32 px).
    "vit_mini_patch7": ViTSize(embed_dim=96, depth=4, num_heads=3, patch_size=7, mlp_ratio=2.0),
    "vit_mini_patch4": ViTSize(embed_dim=96, depth=4, num_heads=3, patch_size=4, mlp_ratio=2.0),
    "vit_mini_patch2": ViTSize(embed_dim=96, depth=4, num_heads=3, patch_size=2, mlp_ratio=2.0),
    # The transformer branch of the book's tiny Semiformer (width 64, 3 blocks, 2 heads): a third of
    # vit_mini_patch4's multiply-accumulates, one block per stage of cnn_mini in semiformer_cnn_mini.
    "vit_micro_patch4": ViTSize(embed_dim=64, depth=3, num_heads=2, patch_size=4, mlp_ratio=2.0),
    "vit_tiny_patch16": ViTSize(embed_dim=192, depth=12, num_heads=3, patch_size=16),   # DeiT-Ti
    "vit_small_patch16": ViTSize(embed_dim=384, depth=12, num_heads=6, patch_size=16),  # DeiT-S, Semiformer-S's branch
}


def is_vit(model) -> bool:
    """True for timm ViT-family models (they tokenise with a ``patch_embed`` and stack ``blocks``)."""
    return hasattr(model, "patch_embed") and hasattr(model, "blocks")


SPATIAL_PRIORS = ("convstem", "relpos", "nopos")

# Chapter 2's variants: a registered name for each (size, spatial prior), so sweeps can train them by name.
VIT_VARIANTS = {f"{size}_{prior}": (size, prior) for size in ("vit_mini_patch4",) for prior in SPATIAL_PRIORS}


def build_vit(size: str, img_size: int = 28, in_chans: int = 1, num_classes: int = 10,
              patch_size: int | None = None, drop_path_rate: float = 0.0, spatial_prior: str | None = None,
              **overrides) -> VisionTransformer:
    """A ViT of a named size for ``[B, in_chans, img_size, img_size]`` inputs (``img_size`` divisible by the patch).

    ``spatial_prior``: None (plain ViT), ``"convstem"``, ``"relpos"`` or ``"nopos"`` (see the module docstring).
    ``overrides`` go to timm's ``VisionTransformer`` (e.g. ``depth=2``).
    """
    spec = VIT_SIZES[size]
    patch = patch_size or spec.patch_size
    if img_size % patch:
        raise ValueError(f"{size}: image size {img_size} is not a multiple of the patch size {patch}; "
                         f"pass patch_size= (a divisor of {img_size}) or pick another size")
    kwargs = dict(img_size=img_size, patch_size=patch, in_chans=in_chans,
                  num_classes=num_classes, embed_dim=spec.embed_dim, depth=spec.depth, num_heads=spec.num_heads,
                  mlp_ratio=spec.mlp_ratio, drop_path_rate=drop_path_rate)
    if spatial_prior == "convstem":
        kwargs["embed_layer"] = ConvStem
    elif spatial_prior == "relpos":
        kwargs["attn_layer"] = relative_position_attention((img_size // patch, img_size // patch))
    elif spatial_prior == "nopos":
        kwargs["pos_embed"] = "none"
    elif spatial_prior is not None:
        raise ValueError(f"unknown spatial_prior {spatial_prior!r}; choose one of {SPATIAL_PRIORS} or None")
    kwargs.update(overrides)
    return VisionTransformer(**kwargs)
