"""The Vision Transformer (Dosovitskiy et al., 2021) — the transformer branch of the story, on its own.

An image ``[B, C, H, W]`` is cut into ``P×P`` patches, each linearly embedded (``patch_embed``) into a token of
width ``D``; a learned class token is prepended and learned position embeddings are added, giving
``[B, 1 + (H/P)·(W/P), D]``. ``depth`` pre-norm blocks of multi-head self-attention and an MLP follow; the head
reads the class token: ``[B, D] → [B, num_classes]``.

Nothing in it says that neighbouring pixels belong together — position embeddings start random and must be
learnt — which is why it starves on few labels (chapter 1) and why Semiformer pairs it with a convnet.

The model itself is timm's ``VisionTransformer``: it is well-tested and its blocks are the ones the Semiformer
transformer branch will reuse (chapter 3). This module only names the sizes the book uses.
"""
from __future__ import annotations

from dataclasses import dataclass

from timm.models.vision_transformer import VisionTransformer


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
    "vit_tiny_patch16": ViTSize(embed_dim=192, depth=12, num_heads=3, patch_size=16),   # DeiT-Ti
    "vit_small_patch16": ViTSize(embed_dim=384, depth=12, num_heads=6, patch_size=16),  # DeiT-S, Semiformer-S's branch
}


def build_vit(size: str, img_size: int = 28, in_chans: int = 1, num_classes: int = 10,
              patch_size: int | None = None, drop_path_rate: float = 0.0, **overrides) -> VisionTransformer:
    """A ViT of a named size for ``[B, in_chans, img_size, img_size]`` inputs (``img_size`` divisible by the patch).

    ``overrides`` go to timm's ``VisionTransformer`` (e.g. ``pos_embed="none"``, ``depth=2``).
    """
    spec = VIT_SIZES[size]
    patch = patch_size or spec.patch_size
    if img_size % patch:
        raise ValueError(f"{size}: image size {img_size} is not a multiple of the patch size {patch}; "
                         f"pass patch_size= (a divisor of {img_size}) or pick another size")
    kwargs = dict(img_size=img_size, patch_size=patch, in_chans=in_chans,
                  num_classes=num_classes, embed_dim=spec.embed_dim, depth=spec.depth, num_heads=spec.num_heads,
                  mlp_ratio=spec.mlp_ratio, drop_path_rate=drop_path_rate)
    kwargs.update(overrides)
    return VisionTransformer(**kwargs)
