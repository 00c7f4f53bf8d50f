"""Spatial priors a ViT can be given — pieces that plug into timm's ``VisionTransformer`` (chapter 2).

A plain ViT (Dosovitskiy et al., 2021) knows nothing about image geometry: a patch is a flat vector and its
position is a learned embedding that starts random. Chapter 2 asks how much of the convnet's advantage on few
labels comes from that missing knowledge, by adding it back one piece at a time. Each piece here is a drop-in for
one of timm's extension points, so the variant is the same model with one part configured differently:

* :class:`ConvStem` (``embed_layer``) — a stack of stride-2 3×3 convolutions instead of the single stride-``P``
  linear patch projection (the "early convolutions" of Xiao et al., 2021). Input ``[B, C, H, W]``, output tokens
  ``[B, (H/P)·(W/P), D]`` — the same token grid as the ``P×P`` patch embedding it replaces, so the rest of the
  model is unchanged.
* :class:`RelativePositionAttention` (``attn_layer``) — timm's attention plus a learned bias ``b_h(Δy, Δx)`` for
  each head and each relative offset between two patches, added to the attention logits ``QKᵀ/√d`` before the
  softmax (the relative position bias of Swin, Liu et al., 2021). It starts as a *locality prior*:
  ``b_h = −s_h·‖Δ‖`` with a different slope ``s_h`` per head, so at initialisation every head prefers nearby
  patches — some sharply, some mildly — the way a convolution does; training may unlearn it. The class token has
  no position: its row and column get no bias.

Both keep the token grid ``(gh, gw)`` and ``patch_embed.patch_size`` that the analyses read.
"""
from __future__ import annotations

import math

import torch
from torch import nn
from timm.layers import Attention, to_2tuple


class ConvStem(nn.Module):
    """``log2(P)`` stride-2 3×3 conv + BatchNorm + ReLU layers, then a 1×1 projection to the token width.

    ``[B, C, H, W]`` → ``[B, (H/P)·(W/P), embed_dim]``. ``P`` must be a power of two (each layer halves the
    resolution). Channel widths double from ``embed_dim / 2^(L)`` up to ``embed_dim / 2`` (at least 8).
    """

    def __init__(self, img_size=224, patch_size=16, in_chans: int = 3, embed_dim: int = 768, bias: bool = True,
                 **_timm_options):
        super().__init__()
        self.img_size = to_2tuple(img_size)
        self.patch_size = to_2tuple(patch_size)
        p = self.patch_size[0]
        if self.patch_size[0] != self.patch_size[1] or p < 2 or p & (p - 1):
            raise ValueError(f"ConvStem needs a square power-of-two patch size (2, 4, 8, 16…), got {patch_size}; "
                             "use the plain patch embedding for other sizes")
        if self.img_size[0] % p or self.img_size[1] % p:
            raise ValueError(f"ConvStem: image size {self.img_size} is not a multiple of the patch size {p}")
        self.grid_size = (self.img_size[0] // p, self.img_size[1] // p)
        self.num_patches = self.grid_size[0] * self.grid_size[1]
        layers, width_in = [], in_chans
        num_layers = int(math.log2(p))
        for index in range(num_layers):
            width = max(8, embed_dim // 2 ** (num_layers - index))
            layers += [nn.Conv2d(width_in, width, 3, stride=2, padding=1, bias=False), nn.BatchNorm2d(width),
                       nn.ReLU(inplace=True)]
            width_in = width
        self.convs = nn.Sequential(*layers)
        self.proj = nn.Conv2d(width_in, embed_dim, 1, bias=bias)

    def feat_ratio(self, as_scalar: bool = True):
        return self.patch_size[0] if as_scalar else self.patch_size

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = self.proj(self.convs(x))                # [B, D, gh, gw]
        return x.flatten(2).transpose(1, 2)         # [B, gh·gw, D]


def _relative_offsets(grid: tuple[int, int]) -> torch.Tensor:
    """``[n, n, 2]`` offsets ``(Δy, Δx)`` between the ``n = gh·gw`` patches of a grid, shifted to be ≥ 0."""
    gh, gw = grid
    ys, xs = torch.meshgrid(torch.arange(gh), torch.arange(gw), indexing="ij")
    coords = torch.stack([ys.flatten(), xs.flatten()], dim=1)          # [n, 2]
    offsets = coords[:, None, :] - coords[None, :, :]                   # [n, n, 2] in [-(g-1), g-1]
    return offsets + torch.tensor([gh - 1, gw - 1])


class RelativePositionAttention(Attention):
    """timm ``Attention`` with a per-head bias on relative patch offsets, initialised as a locality prior.

    The token grid is a class attribute (timm builds attention layers from a class), so use
    :func:`relative_position_attention` to get the class for a grid. ``bias_table``: ``[heads, 2gh−1, 2gw−1]``.
    """
    grid: tuple[int, int] = (0, 0)
    num_prefix_tokens: int = 1
    max_slope: float = 2.0

    def __init__(self, dim: int, num_heads: int = 8, **kwargs):
        super().__init__(dim, num_heads=num_heads, **kwargs)
        gh, gw = self.grid
        if gh < 1 or gw < 1:
            raise TypeError("RelativePositionAttention has no grid: build it with relative_position_attention(grid)")
        offsets = _relative_offsets(self.grid)
        self.register_buffer("offset_index", offsets[..., 0] * (2 * gw - 1) + offsets[..., 1], persistent=False)
        dy, dx = torch.meshgrid(torch.arange(-(gh - 1), gh).float(), torch.arange(-(gw - 1), gw).float(),
                                indexing="ij")
        distance = torch.sqrt(dy ** 2 + dx ** 2)                        # [2gh−1, 2gw−1] in patches
        # Slopes from max_slope down by halves: head 0 is sharply local, the last head nearly global.
        slopes = self.max_slope * 0.5 ** torch.arange(num_heads).float()
        self.bias_table = nn.Parameter(-slopes[:, None, None] * distance)

    def position_bias(self) -> torch.Tensor:
        """The additive attention bias ``[heads, T, T]`` (``T = prefix + gh·gw``; zero on prefix rows/cols)."""
        n = self.offset_index.shape[0]
        patch_bias = self.bias_table.flatten(1)[:, self.offset_index.flatten()].view(-1, n, n)
        return nn.functional.pad(patch_bias, (self.num_prefix_tokens, 0, self.num_prefix_tokens, 0))

    def forward(self, x: torch.Tensor, attn_mask: torch.Tensor | None = None, is_causal: bool = False):
        bias = self.position_bias().to(x.dtype).unsqueeze(0)            # [1, heads, T, T]
        if bias.shape[-1] != x.shape[1]:
            raise ValueError(f"RelativePositionAttention built for {bias.shape[-1]} tokens got {x.shape[1]}")
        if attn_mask is not None:
            bias = bias + attn_mask
        return super().forward(x, attn_mask=bias, is_causal=is_causal)


def relative_position_attention(grid: tuple[int, int], num_prefix_tokens: int = 1) -> type:
    """A :class:`RelativePositionAttention` subclass for a ``(gh, gw)`` token grid (timm's ``attn_layer``)."""
    gh, gw = grid
    return type(f"RelativePositionAttention{gh}x{gw}", (RelativePositionAttention,),
                {"grid": (gh, gw), "num_prefix_tokens": num_prefix_tokens})
