"""The paper's "general framework" (Weng et al., 2022): fuse *any* ViT-family model with *any* convnet.

Semiformer's fusion does not depend on its particular branches. :class:`FusedPair` takes a timm ViT (its patch
embedding and blocks) and a timm CNN (its feature stages, through timm's ``features_only`` wrapper) and joins
them with the same adapters as :class:`~semiformer_lib.models.semiformer.Semiformer`, at the granularity the CNN
offers — its stages:

    for each CNN stage s (output [B, C_s, H_s, W_s]):
        tokens += ConvToTokens_s(stage map)          conv → transformer (patch tokens only)
        tokens  = the ViT blocks assigned to stage s  (the L blocks split evenly over the S stages)
        map    += TokensToConv_s(tokens)              transformer → conv, feeding stage s + 1

Heads as in Semiformer: the CNN's global pool + linear, the ViT's own head; the prediction is the sum of logits.
``fusion`` takes the same values as Semiformer's. Token grid ``[B, prefix + gh·gw, D]``; stage maps at the
CNN's strides (e.g. 1/4 … 1/32 for a ResNet or ConvNeXt).
"""
from __future__ import annotations

import timm
import torch
import torch.nn.functional as F
from torch import nn

from .semiformer import FUSION_MODES, ConvToTokens, TokensToConv
from .vit import is_vit


class FusedPair(nn.Module):
    """A timm ViT and a timm CNN run side by side and fused after every CNN stage.

    ``forward(x)`` → summed logits ``[B, num_classes]``; ``forward_heads(x)`` → ``(cnn_logits, vit_logits)``.
    """

    def __init__(self, vit: nn.Module, cnn_features: nn.Module, num_classes: int, fusion: str = "both"):
        super().__init__()
        if fusion not in FUSION_MODES:
            raise ValueError(f"fusion must be one of {FUSION_MODES}, got {fusion!r}")
        if not is_vit(vit):
            raise TypeError(f"{type(vit).__name__} is not a timm ViT-family model (no patch_embed/blocks)")
        if not hasattr(cnn_features, "feature_info") or not hasattr(cnn_features, "return_layers"):
            raise TypeError("the CNN must be a timm features_only model: timm.create_model(name, features_only=True)")
        self.vit, self.cnn, self.fusion = vit, cnn_features, fusion
        self.grid = tuple(vit.patch_embed.grid_size)
        self.prefix = getattr(vit, "num_prefix_tokens", 1)
        channels = cnn_features.feature_info.channels()
        stages, depth = len(channels), len(vit.blocks)
        if depth < stages:
            raise ValueError(f"the ViT has {depth} blocks but the CNN {stages} stages; each stage needs ≥ 1 block")
        bounds = [round(s * depth / stages) for s in range(stages + 1)]
        self.blocks_per_stage = [list(range(bounds[s], bounds[s + 1])) for s in range(stages)]
        embed_dim = vit.embed_dim
        self.to_tokens = nn.ModuleList(ConvToTokens(c, embed_dim) for c in channels) \
            if fusion in ("both", "conv_to_transformer") else None
        self.to_conv = nn.ModuleList(TokensToConv(embed_dim, c) for c in channels) \
            if fusion in ("both", "transformer_to_conv") else None
        self.cnn_head = nn.Linear(channels[-1], num_classes)
        vit.reset_classifier(num_classes)

    def forward_features(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """``[B, C, H, W]`` → (last CNN stage map, ViT tokens after its final norm)."""
        tokens = self.vit.norm_pre(self.vit._pos_embed(self.vit.patch_embed(x)))    # [B, prefix + gh·gw, D]
        feature_map, stage = x, 0
        for name, module in self.cnn.items():
            feature_map = module(feature_map)
            if name not in self.cnn.return_layers:
                continue
            if self.to_tokens is not None:
                update = self.to_tokens[stage](feature_map, self.grid)             # [B, gh·gw, D]
                tokens = tokens + F.pad(update, (0, 0, self.prefix, 0))
            for index in self.blocks_per_stage[stage]:
                tokens = self.vit.blocks[index](tokens)
            if self.to_conv is not None:
                feature_map = feature_map + self.to_conv[stage](tokens, self.grid, feature_map.shape[-2:],
                                                                self.prefix)
            stage += 1
        return feature_map, self.vit.norm(tokens)

    def no_weight_decay(self) -> set[str]:
        """The ViT's own exemptions (class token, position embedding), under this module's names."""
        return {f"vit.{name}" for name in self.vit.no_weight_decay()}

    def forward_heads(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        feature_map, tokens = self.forward_features(x)
        return self.cnn_head(feature_map.mean(dim=(2, 3))), self.vit.forward_head(tokens)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        cnn_logits, vit_logits = self.forward_heads(x)
        return cnn_logits + vit_logits


def build_fused_pair(vit_name: str, cnn_name: str, img_size: int = 224, in_chans: int = 3, num_classes: int = 1000,
                     fusion: str = "both", out_indices=None, **vit_options) -> FusedPair:
    """Fuse two timm architectures by name (randomly initialised), e.g.
    ``build_fused_pair("deit_small_patch16_224", "resnet50")``. ``out_indices``: the CNN stages to fuse after
    (timm's default: all of them)."""
    vit = timm.create_model(vit_name, pretrained=False, img_size=img_size, in_chans=in_chans,
                            num_classes=num_classes, **vit_options)
    cnn_options = {} if out_indices is None else {"out_indices": out_indices}
    cnn = timm.create_model(cnn_name, pretrained=False, features_only=True, in_chans=in_chans, **cnn_options)
    return FusedPair(vit, cnn, num_classes, fusion)
