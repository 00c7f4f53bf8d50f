"""The paper's "general framework" (Weng et al., 2022, Sec. 3): fuse *any* ViT-family model with *any* convnet.

Semiformer's fusion does not depend on its particular branches. :class:`FusedPair` takes a timm ViT (its patch
embedding and blocks) and a convnet — a timm CNN through timm's ``features_only`` wrapper, or the book's own
:class:`~semiformer_lib.models.cnn.SmallCNN` — and joins them with the same adapters as
:class:`~semiformer_lib.models.semiformer.Semiformer`, at the granularity the CNN offers: its stages.

    for each CNN stage s (output [B, C_s, H_s, W_s]):
        tokens += ConvToTokens_s(stage map)              conv → transformer (patch tokens only)
        tokens  = the ViT blocks assigned to stage s      (the L blocks split evenly over the S stages)
        map    += g_s · TokensToConv_s(tokens)            transformer → conv, feeding stage s + 1

Heads as in Semiformer: the CNN's global pool + linear, the ViT's own head; the prediction is the sum of logits.
``fusion`` takes the same values as Semiformer's. Token grid ``[B, prefix + gh·gw, D]``; stage maps at the
CNN's strides (1, 1/2, 1/4 for the book's CNN at 28 px; 1/4 … 1/32 for a ResNet or ConvNeXt).

``g_s`` is 1 unless ``start_as_cnn``: then each stage's transformer → conv update passes a learned scalar gate
initialised at 0 (ReZero's trick, Bachlechner et al., 2021), so at step 0 the conv branch computes exactly the
standalone CNN's function, and fusion changes it only as far as training finds useful. The book's pairs
(:data:`BOOK_PAIRS`, e.g. ``semiformer_cnn_mini``: chapter 2's ``cnn_mini`` with a 3-block ViT of width 64) are
built that way, CNN first, so that under one seed the conv branch and its head start with the very weights a
standalone ``cnn_mini`` starts with: the pair's conv head is the CNN plus whatever fusion adds.
"""
from __future__ import annotations

import timm
import torch
import torch.nn.functional as F
from torch import nn

from .cnn import SmallCNN, build_cnn
from .semiformer import FUSION_MODES, ConvToTokens, TokensToConv
from .vit import build_vit, is_vit

# The book's own pairs: name → (ViT size, CNN size). semiformer_cnn_mini is chapter 2's cnn_mini with the transformer
# branch of the book's tiny Semiformer (width 64, one block per CNN stage): 16.1 M multiply-accumulates per 28 px
# image, against 9.3 M for cnn_mini alone and 26.8 M with chapter 1's vit_mini_patch4 as the branch.
BOOK_PAIRS = {"semiformer_cnn_mini": ("vit_micro_patch4", "cnn_mini")}


def cnn_stages(cnn: nn.Module) -> tuple[list[list[str]], list[int]]:
    """How :class:`FusedPair` runs ``cnn`` stage by stage: for each stage the names of the submodules it applies in
    order, and each stage's output channels. Takes a :class:`SmallCNN` (stem + first stage, then one stage each) or
    a timm ``features_only`` model (its modules up to each returned layer)."""
    if isinstance(cnn, SmallCNN):
        names = [[f"stages.{index}"] for index in range(len(cnn.stages))]
        return [["stem", *names[0]], *names[1:]], list(cnn.widths)
    if not hasattr(cnn, "feature_info") or not hasattr(cnn, "return_layers"):
        raise TypeError("the CNN must be the book's SmallCNN or a timm features_only model: "
                        "timm.create_model(name, features_only=True)")
    groups, current = [], []
    for name, _ in cnn.items():
        current.append(name)
        if name in cnn.return_layers:
            groups.append(current)
            current = []
    return groups, list(cnn.feature_info.channels())


class FusedPair(nn.Module):
    """A timm ViT and a convnet run side by side and fused after every CNN stage (see the module docstring).

    ``forward(x)`` → summed logits ``[B, num_classes]``; ``forward_heads(x)`` → ``(cnn_logits, vit_logits)``.
    A :class:`SmallCNN` keeps its own classifier as the conv head; a timm feature extractor gets a new one.
    """

    def __init__(self, vit: nn.Module, cnn: nn.Module, num_classes: int, fusion: str = "both",
                 start_as_cnn: bool = False):
        super().__init__()
        if fusion not in FUSION_MODES:
            raise ValueError(f"fusion must be one of {FUSION_MODES}, got {fusion!r}")
        if not is_vit(vit):
            raise TypeError(f"{type(vit).__name__} is not a timm ViT-family model (no patch_embed/blocks)")
        self.stage_modules, channels = cnn_stages(cnn)
        self.vit, self.cnn, self.fusion = vit, cnn, fusion
        self.grid = tuple(vit.patch_embed.grid_size)
        self.prefix = getattr(vit, "num_prefix_tokens", 1)
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
        self.to_conv_gate = nn.Parameter(torch.zeros(stages)) if start_as_cnn and self.to_conv is not None else None
        if isinstance(cnn, SmallCNN):                     # its own classifier is the conv head
            self.cnn_head, cnn.head = cnn.head, nn.Identity()
        else:
            self.cnn_head = nn.Linear(channels[-1], num_classes)
        if getattr(vit, "num_classes", None) != num_classes:
            vit.reset_classifier(num_classes)

    def forward_features(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """``[B, C, H, W]`` → (last CNN stage map, ViT tokens after its final norm)."""
        tokens = self.vit.norm_pre(self.vit._pos_embed(self.vit.patch_embed(x)))    # [B, prefix + gh·gw, D]
        feature_map = x
        for stage, names in enumerate(self.stage_modules):
            for name in names:
                feature_map = self.cnn.get_submodule(name)(feature_map)           # [B, C_s, H_s, W_s]
            if self.to_tokens is not None:
                update = self.to_tokens[stage](feature_map, self.grid)             # [B, gh·gw, D]
                tokens = tokens + F.pad(update, (0, 0, self.prefix, 0))
            for index in self.blocks_per_stage[stage]:
                tokens = self.vit.blocks[index](tokens)
            if self.to_conv is not None:
                update = self.to_conv[stage](tokens, self.grid, feature_map.shape[-2:], self.prefix)
                feature_map = feature_map + (update if self.to_conv_gate is None else self.to_conv_gate[stage] * update)
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


def build_book_pair(name: str, img_size: int = 28, in_chans: int = 1, num_classes: int = 10, fusion: str = "both",
                    start_as_cnn: bool = True, drop_path_rate: float = 0.0, patch_size: int | None = None) -> FusedPair:
    """One of :data:`BOOK_PAIRS`: the book's CNN and ViT fused at the CNN's stages. The CNN is built first, so that
    under one seed its weights (head included) are those of the standalone CNN (see the module docstring).
    ``patch_size`` overrides the ViT's own (e.g. 16 at 224 px)."""
    if name not in BOOK_PAIRS:
        raise ValueError(f"unknown book pair {name!r}; choose one of {sorted(BOOK_PAIRS)}")
    vit_size, cnn_size = BOOK_PAIRS[name]
    cnn = build_cnn(cnn_size, img_size=img_size, in_chans=in_chans, num_classes=num_classes)
    vit = build_vit(vit_size, img_size=img_size, in_chans=in_chans, num_classes=num_classes,
                    drop_path_rate=drop_path_rate, patch_size=patch_size)
    return FusedPair(vit, cnn, num_classes, fusion, start_as_cnn=start_as_cnn)
