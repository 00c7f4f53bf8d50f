"""The Semiformer model (Weng et al., 2022, Sec. 3 and Fig. 2): a convolutional and a transformer branch, fused.

Both branches share a convolutional stem. After it the two streams run side by side, one *fused block* per
transformer block:

    conv stream   [B, C_s, H_s, W_s]   bottleneck ─────────────┬──────────── bottleneck ──▶
                                                                │ conv→transformer    ▲ transformer→conv
    token stream  [B, 1 + gh·gw, D]   ─────── (+) ── transformer block ────────────────┴──────────▶

* **conv → transformer** (:class:`ConvToTokens`): 1×1 conv to the token width ``D``, average-pool by the ratio
  between the conv map and the token grid, LayerNorm, GELU; the result is added to the patch tokens (the class
  token passes unchanged) before the transformer block.
* **transformer → conv** (:class:`TokensToConv`): class token dropped, tokens reshaped to the grid
  ``[B, D, gh, gw]``, 1×1 conv to the conv width, BatchNorm, ReLU, nearest upsampling to the conv map; added to
  the conv stream inside the block's second bottleneck.
* **where it is added** (``injection``): ``"semiformer"`` — to the full-width output of the first bottleneck,
  as the input of the second bottleneck's first convolution (its residual path is left alone), and the
  conv→transformer path reads that full-width map; ``"conformer"`` (Peng et al., 2021) — inside the second
  bottleneck, at its reduced width, before the 3×3 convolution, and the conv→transformer path reads the first
  bottleneck's reduced-width map. Semiformer's choice has wider adapters, hence more fusion parameters.
* ``fusion``: ``"both"`` (the paper), ``"conv_to_transformer"``, ``"transformer_to_conv"`` or ``"none"`` (two
  independent branches that share only the stem).

The conv branch is a ResNet-style stack of bottlenecks in three stages (width ``base·ratio``, ×2, ×4; the
resolution halves entering stages 2 and 3 and once more in the last block); the token grid stays fixed, so the
pooling ratio goes 4 → 2 → 1 at 224 px. The transformer blocks are timm's. Two heads: the conv head (global
average pool + linear) and the transformer head (LayerNorm + linear on the class token). The model's prediction
is the sum of the two heads' logits; :meth:`Semiformer.forward_heads` returns both.

The transformer branch has no position embedding: its tokens come from a strided convolution of the stem's map and
receive the conv branch's local features at every block, as in the official model.
"""
from __future__ import annotations

import re
from dataclasses import dataclass, replace
from functools import partial

import torch
import torch.nn.functional as F
from torch import nn
from timm.models.vision_transformer import Block

from .budget import macs_by_module
from .interface import eval_mode

FUSION_MODES = ("both", "conv_to_transformer", "transformer_to_conv", "none")
INJECTION_POINTS = ("semiformer", "conformer")
EXPANSION = 4     # bottleneck: the inner (reduced) width is the output width / 4
PARTS = ("transformer", "conv", "fusion")
_TRANSFORMER_BLOCK = re.compile(r"blocks\.\d+\.transformer(\.|$)")


def part_of(name: str) -> str:
    """Which part of a :class:`Semiformer` a parameter or module (by qualified name) belongs to: ``"fusion"``
    (the adapters), ``"transformer"`` (patch embedding, class token, transformer blocks, its norm and head) or
    ``"conv"`` (the shared stem, the bottlenecks and the conv head)."""
    if ".conv_to_tokens" in name or ".tokens_to_conv" in name:
        return "fusion"
    if name.startswith(("patch_embed", "cls_token", "transformer_")) or _TRANSFORMER_BLOCK.match(name):
        return "transformer"
    return "conv"


class Bottleneck(nn.Module):
    """1×1 → 3×3 (stride) → 1×1 residual bottleneck, ``[B, C_in, H, W]`` → ``[B, C_out, H/s, W/s]``.

    ``forward(x, added, at)`` adds a fused map either to the input of the first 1×1 convolution
    (``at="input"``, full width ``C_in``) or to the input of the 3×3 convolution (``at="inner"``, width
    ``C_out/4``); the residual path never sees it. Returns the output and the inner map after the 3×3 conv.
    """

    def __init__(self, in_channels: int, out_channels: int, stride: int = 1):
        super().__init__()
        inner = out_channels // EXPANSION
        self.conv1 = nn.Conv2d(in_channels, inner, 1, bias=False)
        self.bn1 = nn.BatchNorm2d(inner, eps=1e-6)
        self.conv2 = nn.Conv2d(inner, inner, 3, stride=stride, padding=1, bias=False)
        self.bn2 = nn.BatchNorm2d(inner, eps=1e-6)
        self.conv3 = nn.Conv2d(inner, out_channels, 1, bias=False)
        self.bn3 = nn.BatchNorm2d(out_channels, eps=1e-6)
        self.shortcut = None
        if stride != 1 or in_channels != out_channels:
            self.shortcut = nn.Sequential(nn.Conv2d(in_channels, out_channels, 1, stride=stride, bias=False),
                                          nn.BatchNorm2d(out_channels, eps=1e-6))

    def forward(self, x: torch.Tensor, added: torch.Tensor | None = None, at: str = "input"):
        residual = x if self.shortcut is None else self.shortcut(x)
        h = x + added if added is not None and at == "input" else x
        h = F.relu(self.bn1(self.conv1(h)))
        if added is not None and at == "inner":
            h = h + added
        inner = F.relu(self.bn2(self.conv2(h)))                       # [B, C_out/4, H/s, W/s]
        out = F.relu(self.bn3(self.conv3(inner)) + residual)           # [B, C_out, H/s, W/s]
        return out, inner


class ConvToTokens(nn.Module):
    """Conv map ``[B, C, H, W]`` → token update ``[B, gh·gw, D]``: 1×1 conv, average-pool to the token grid, LN, GELU.

    Pooling is adaptive, so the same adapter serves any map size (at the Semiformer's own sizes the map is an exact
    multiple of the grid and this is a plain ``ratio × ratio`` average pool).
    """

    def __init__(self, channels: int, embed_dim: int):
        super().__init__()
        self.project = nn.Conv2d(channels, embed_dim, 1)
        self.norm = nn.LayerNorm(embed_dim, eps=1e-6)

    def forward(self, feature_map: torch.Tensor, grid: tuple[int, int]) -> torch.Tensor:
        pooled = F.adaptive_avg_pool2d(self.project(feature_map), grid)  # [B, D, gh, gw]
        return F.gelu(self.norm(pooled.flatten(2).transpose(1, 2)))


class TokensToConv(nn.Module):
    """Tokens ``[B, prefix + gh·gw, D]`` → conv update ``[B, C, H, W]``: prefix (class) tokens dropped, tokens laid on
    the grid, 1×1 conv, BatchNorm, ReLU, nearest upsampling to the conv map's size ``(H, W)``."""

    def __init__(self, embed_dim: int, channels: int):
        super().__init__()
        self.project = nn.Conv2d(embed_dim, channels, 1)
        self.bn = nn.BatchNorm2d(channels, eps=1e-6)

    def forward(self, tokens: torch.Tensor, grid: tuple[int, int], size: tuple[int, int],
                num_prefix_tokens: int = 1) -> torch.Tensor:
        patches = tokens[:, num_prefix_tokens:].transpose(1, 2)        # [B, D, gh·gw]
        patches = patches.reshape(tokens.shape[0], -1, *grid)          # [B, D, gh, gw]
        mapped = F.relu(self.bn(self.project(patches)))                # [B, C, gh, gw]
        if tuple(size) == tuple(grid):
            return mapped
        return F.interpolate(mapped, size=tuple(size), mode="nearest")


class FusedBlock(nn.Module):
    """One Semiformer block: bottleneck → (conv→transformer) → transformer block → (transformer→conv) → bottleneck."""

    def __init__(self, in_channels: int, channels: int, stride: int, embed_dim: int, num_heads: int,
                 mlp_ratio: float, drop_path: float, fusion: str, injection: str, last: bool = False):
        super().__init__()
        self.first = Bottleneck(in_channels, channels, stride)
        self.second = Bottleneck(channels, channels, stride=2 if last else 1)
        self.transformer = Block(embed_dim, num_heads, mlp_ratio=mlp_ratio, qkv_bias=True, drop_path=drop_path,
                                 norm_layer=partial(nn.LayerNorm, eps=1e-6))
        width = channels if injection == "semiformer" else channels // EXPANSION
        self.injection = injection
        self.conv_to_tokens = (ConvToTokens(width, embed_dim)
                               if fusion in ("both", "conv_to_transformer") else None)
        self.tokens_to_conv = (TokensToConv(embed_dim, width)
                               if fusion in ("both", "transformer_to_conv") else None)

    def forward(self, feature_map: torch.Tensor, tokens: torch.Tensor,
                grid: tuple[int, int]):
        feature_map, inner = self.first(feature_map)
        if self.conv_to_tokens is not None:
            source = feature_map if self.injection == "semiformer" else inner
            update = self.conv_to_tokens(source, grid)              # [B, gh·gw, D]
            tokens = tokens + F.pad(update, (0, 0, 1, 0))           # class token unchanged
        tokens = self.transformer(tokens)
        added = (self.tokens_to_conv(tokens, grid, feature_map.shape[-2:])
                 if self.tokens_to_conv is not None else None)
        at = "input" if self.injection == "semiformer" else "inner"
        feature_map, _ = self.second(feature_map, added, at=at)
        return feature_map, tokens


@dataclass(frozen=True)
class SemiformerSize:
    embed_dim: int
    depth: int
    num_heads: int
    base_channels: int
    channel_ratio: int
    patch_size: int
    mlp_ratio: float = 4.0
    stem_channels: int = 64


class Semiformer(nn.Module):
    """Conv + transformer branches with fusion at every block; see the module docstring.

    Input ``[B, in_chans, img_size, img_size]``; ``forward`` → summed logits ``[B, num_classes]``;
    ``forward_heads`` → ``(conv_logits, transformer_logits)``.
    """

    def __init__(self, size: SemiformerSize, img_size: int = 224, in_chans: int = 3, num_classes: int = 1000,
                 fusion: str = "both", injection: str = "semiformer", drop_path_rate: float = 0.0):
        super().__init__()
        if fusion not in FUSION_MODES:
            raise ValueError(f"fusion must be one of {FUSION_MODES}, got {fusion!r}")
        if injection not in INJECTION_POINTS:
            raise ValueError(f"injection must be one of {INJECTION_POINTS}, got {injection!r}")
        if size.depth % 3 or size.depth < 3:
            raise ValueError(f"depth must be a positive multiple of 3 (three conv stages), got {size.depth}")
        self.fusion, self.injection, self.size = fusion, injection, size
        # Stem: /4 at ImageNet size (7×7 stride 2 + max-pool, as ResNet), full resolution for small images.
        stem_stride = 4 if img_size > 64 else 1
        if stem_stride == 4:
            self.stem = nn.Sequential(nn.Conv2d(in_chans, size.stem_channels, 7, 2, 3, bias=False),
                                      nn.BatchNorm2d(size.stem_channels), nn.ReLU(inplace=True),
                                      nn.MaxPool2d(3, 2, 1))
        else:
            self.stem = nn.Sequential(nn.Conv2d(in_chans, size.stem_channels, 3, 1, 1, bias=False),
                                      nn.BatchNorm2d(size.stem_channels), nn.ReLU(inplace=True))
        ratio = size.patch_size // stem_stride          # stem map pixels per token at stage 1
        stem_size = img_size // stem_stride
        if size.patch_size % stem_stride or ratio not in (4, 8, 16) or stem_size % ratio:
            raise ValueError(f"patch size {size.patch_size} does not fit image size {img_size}: the stem map "
                             f"({stem_size} px) must split into tokens of 4×, 8× or 16× its pixels; "
                             "pass patch_size= (16 at 224 px, 4 at 28 or 32 px)")
        self.grid = (stem_size // ratio, stem_size // ratio)
        self.patch_size = size.patch_size       # input pixels per token side (what attention distances scale by)
        self.num_prefix_tokens = 1              # the class token
        widths = [size.base_channels * size.channel_ratio * 2 ** k for k in range(3)]
        dpr = [drop_path_rate * i / max(1, size.depth - 1) for i in range(size.depth)]   # stochastic depth ramp
        D = size.embed_dim
        # Block 1: the conv stage's first bottleneck and the first transformer block, not yet fused.
        self.conv_first = Bottleneck(size.stem_channels, widths[0])
        self.patch_embed = nn.Conv2d(size.stem_channels, D, ratio, ratio)
        self.cls_token = nn.Parameter(torch.zeros(1, 1, D))
        self.transformer_first = Block(D, size.num_heads, mlp_ratio=size.mlp_ratio, qkv_bias=True, drop_path=dpr[0],
                                       norm_layer=partial(nn.LayerNorm, eps=1e-6))
        blocks, per_stage, in_width = [], size.depth // 3, widths[0]
        for index in range(1, size.depth):
            stage = index // per_stage
            first_of_stage = index % per_stage == 0
            blocks.append(FusedBlock(in_width, widths[stage], stride=2 if first_of_stage else 1, embed_dim=D,
                                     num_heads=size.num_heads, mlp_ratio=size.mlp_ratio, drop_path=dpr[index],
                                     fusion=fusion, injection=injection, last=index == size.depth - 1))
            in_width = widths[stage]
        self.blocks = nn.ModuleList(blocks)
        self.conv_head = nn.Linear(widths[-1], num_classes)
        self.transformer_norm = nn.LayerNorm(D, eps=1e-6)
        self.transformer_head = nn.Linear(D, num_classes)
        self.num_classes = num_classes
        self._init_weights()

    def _init_weights(self):
        nn.init.trunc_normal_(self.cls_token, std=0.02)
        for module in self.modules():
            if isinstance(module, nn.Linear):
                nn.init.trunc_normal_(module.weight, std=0.02)
                if module.bias is not None:
                    nn.init.zeros_(module.bias)
            elif isinstance(module, nn.Conv2d):
                nn.init.kaiming_normal_(module.weight, mode="fan_out", nonlinearity="relu")

    def forward_features(self, x: torch.Tensor):
        """``[B, C, H, W]`` → (conv map ``[B, C_last, h, w]``, tokens ``[B, 1 + gh·gw, D]`` before the final norm)."""
        return self.forward_blocks(x)[-1]

    def forward_blocks(self, x: torch.Tensor) -> list[tuple[torch.Tensor, torch.Tensor]]:
        """Both streams after every block: ``depth`` pairs (conv map, tokens) — what the chapters compare by depth."""
        stem = self.stem(x)                                                    # [B, 64, H/s, W/s]
        feature_map, _ = self.conv_first(stem)
        tokens = self.patch_embed(stem).flatten(2).transpose(1, 2)            # [B, gh·gw, D]
        tokens = torch.cat([self.cls_token.expand(len(x), -1, -1), tokens], dim=1)
        tokens = self.transformer_first(tokens)
        outputs = [(feature_map, tokens)]
        for block in self.blocks:
            feature_map, tokens = block(feature_map, tokens, self.grid)
            outputs.append((feature_map, tokens))
        return outputs

    @torch.no_grad()
    def trace_block(self, x: torch.Tensor, index: int = 0) -> dict[str, tuple[int, ...]]:
        """Shapes of every tensor that flows through fused block ``index`` (0 = the first fused block) for input
        ``x``, in order, keyed by the step's name: the shape trace a reader follows through one block."""
        if not 0 <= index < len(self.blocks):
            raise IndexError(f"fused block {index} does not exist; this model has {len(self.blocks)}")
        block, trace, hooks = self.blocks[index], {}, []

        def record(name, take=lambda out: out):
            def hook(_module, _args, out):          # returns None: a hook that returned a value would replace out
                trace.setdefault(name, tuple(take(out).shape))
            return hook

        def record_input(name):
            def hook(_module, args):
                trace.setdefault(name, tuple(args[0].shape))
            return hook

        hooks.append(block.first.register_forward_pre_hook(record_input("conv stream in")))
        hooks.append(block.first.register_forward_hook(record("first bottleneck out", lambda out: out[0])))
        if block.conv_to_tokens is not None:
            hooks.append(block.conv_to_tokens.register_forward_hook(record("conv → tokens (patch tokens)")))
        hooks.append(block.transformer.register_forward_pre_hook(record_input("tokens into transformer block")))
        hooks.append(block.transformer.register_forward_hook(record("transformer block out")))
        if block.tokens_to_conv is not None:
            hooks.append(block.tokens_to_conv.register_forward_hook(record("tokens → conv map")))
        hooks.append(block.second.register_forward_hook(record("second bottleneck out", lambda out: out[0])))
        try:
            with eval_mode(self):
                self.forward_features(x)
        finally:
            for hook in hooks:
                hook.remove()
        return trace

    def no_weight_decay(self) -> set[str]:
        """Parameters AdamW does not decay beyond norms and biases (timm's convention): the class token."""
        return {"cls_token"}

    def forward_heads(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """``(conv_logits, transformer_logits)``, each ``[B, num_classes]``."""
        feature_map, tokens = self.forward_features(x)
        conv_logits = self.conv_head(feature_map.mean(dim=(2, 3)))
        transformer_logits = self.transformer_head(self.transformer_norm(tokens)[:, 0])
        return conv_logits, transformer_logits

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        conv_logits, transformer_logits = self.forward_heads(x)
        return conv_logits + transformer_logits

    def parameter_groups(self) -> dict[str, int]:
        """Parameter counts of the transformer branch, the conv branch (with the shared stem) and the fusion."""
        counts = dict.fromkeys(PARTS, 0)
        for name, parameter in self.named_parameters():
            counts[part_of(name)] += parameter.numel()
        return counts

    def mac_groups(self, input_shape: tuple[int, ...]) -> dict[str, int]:
        """Multiply-accumulates of one forward pass on ``input_shape``, split like :meth:`parameter_groups`."""
        per_module = macs_by_module(self, input_shape)
        counts = dict.fromkeys(PARTS, 0)
        for name, macs in per_module.items():
            part = part_of(name)
            parent = name.rpartition(".")[0]
            # count a transformer or fusion subtree once, at its root; the conv part is the rest
            if name and part != "conv" and (not parent or part_of(parent) != part):
                counts[part] += macs
        counts["conv"] = per_module[""] - counts["transformer"] - counts["fusion"]
        return counts


SEMIFORMER_SIZES = {
    # The paper's Semiformer-S: DeiT-S transformer branch, ResNet-style conv branch (widths 256/512/1024).
    "semiformer_small_patch16": SemiformerSize(embed_dim=384, depth=12, num_heads=6, base_channels=64,
                                               channel_ratio=4, patch_size=16),
    # Book scale for 28×28 / 32×32 images: 4×4-pixel tokens (7×7 or 8×8 grid), as chapter 1's ViT. The gpu
    # profile's model; the tiny one (one block per conv stage, width 64) is the cpu profile's.
    "semiformer_mini_patch4": SemiformerSize(embed_dim=96, depth=6, num_heads=3, base_channels=8,
                                             channel_ratio=2, patch_size=4, mlp_ratio=2.0, stem_channels=16),
    "semiformer_tiny_patch4": SemiformerSize(embed_dim=64, depth=3, num_heads=2, base_channels=8,
                                             channel_ratio=2, patch_size=4, mlp_ratio=2.0, stem_channels=16),
    # The same two with the paper's channel ratio 4: the conv branch gets Semiformer-S's share of the parameters
    # (tiny: transformer 55 %, conv 34 %, fusion 12 %, against 53 / 34 / 13 % for Semiformer-S; ratio 2 gives the
    # conv branch 13 %). Chapter 4's teacher is the conv head, and a 13 % branch is too weak to teach.
    "semiformer_mini_wide_patch4": SemiformerSize(embed_dim=96, depth=6, num_heads=3, base_channels=8,
                                                  channel_ratio=4, patch_size=4, mlp_ratio=2.0, stem_channels=16),
    "semiformer_tiny_wide_patch4": SemiformerSize(embed_dim=64, depth=3, num_heads=2, base_channels=8,
                                                  channel_ratio=4, patch_size=4, mlp_ratio=2.0, stem_channels=16),
}


def build_semiformer(size: str, img_size: int = 224, in_chans: int = 3, num_classes: int = 1000,
                     patch_size: int | None = None, **overrides) -> Semiformer:
    """A Semiformer of a named size. ``fusion=``, ``injection=``, ``drop_path_rate=`` configure the model; any
    :class:`SemiformerSize` field (``base_channels=16``, ``depth=6``, …) overrides the size's own, so a variant is
    one argument away: ``create_model("semiformer_tiny_patch4", base_channels=16)``.

    ``patch_size`` overrides the size's own, as for the ViTs: e.g. the book-scale model at 224 px needs 16.
    """
    if size not in SEMIFORMER_SIZES:
        raise ValueError(f"unknown Semiformer size {size!r}; choose one of {sorted(SEMIFORMER_SIZES)}")
    size_fields = {k: overrides.pop(k) for k in list(overrides) if k in SemiformerSize.__dataclass_fields__}
    if patch_size is not None:
        size_fields["patch_size"] = patch_size
    spec = replace(SEMIFORMER_SIZES[size], **size_fields)
    return Semiformer(spec, img_size=img_size, in_chans=in_chans, num_classes=num_classes, **overrides)
