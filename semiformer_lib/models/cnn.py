"""A small residual convnet — the convolutional branch of the story, on its own.

Convolutions carry two priors a ViT has to learn from data: locality (a 3×3 kernel sees only neighbours) and
translation equivariance (the same kernel everywhere). Semiformer's conv branch is a ResNet-style stack; this
model is the same idea at book scale:

    stem:    [B, C, H, W] → [B, w0, H/s, W/s]   3×3 conv (s = 1) for small images,
                                                 7×7 stride-2 conv + max-pool (s = 4) at 224 px
    stages:  residual BasicBlocks (timm's), widths w0, w1, …, halving the resolution between stages
    head:    global average pool → [B, w_last] → linear → [B, num_classes]

``padding_mode="circular"`` makes every convolution wrap around the image edges; with it a cyclic shift of the
input by a multiple of the total stride cyclically shifts the feature map, and leaves the pooled features
unchanged exactly (chapter 2 tests this). The default, zero padding, is what convnets normally use.
"""
from __future__ import annotations

from dataclasses import dataclass

import torch
from torch import nn
from timm.models.resnet import BasicBlock


@dataclass(frozen=True)
class CNNSize:
    widths: tuple[int, ...]
    blocks: tuple[int, ...]


CNN_SIZES = {
    "cnn_mini": CNNSize(widths=(16, 32, 64), blocks=(1, 1, 1)),          # CPU-profile size
    "cnn_small": CNNSize(widths=(64, 128, 256), blocks=(2, 2, 2)),
    "cnn_resnet18": CNNSize(widths=(64, 128, 256, 512), blocks=(2, 2, 2, 2)),
}


class SmallCNN(nn.Module):
    """Residual convnet: stem → stages of timm ``BasicBlock`` → global pool → linear."""

    def __init__(self, widths=(16, 32, 64), blocks=(1, 1, 1), in_chans: int = 1, num_classes: int = 10,
                 img_size: int = 28, padding_mode: str = "zeros"):
        super().__init__()
        if padding_mode not in ("zeros", "circular", "reflect", "replicate"):
            raise ValueError("padding_mode must be 'zeros', 'circular', 'reflect' or 'replicate', "
                             f"got {padding_mode!r}")
        if len(widths) != len(blocks):
            raise ValueError(f"widths {widths} and blocks {blocks} must have the same length")
        if img_size <= 64:   # small images: keep full resolution in the first stage
            self.stem = nn.Sequential(nn.Conv2d(in_chans, widths[0], 3, padding=1, bias=False),
                                      nn.BatchNorm2d(widths[0]), nn.ReLU(inplace=True))
        else:                # ImageNet-style stem: /4
            self.stem = nn.Sequential(nn.Conv2d(in_chans, widths[0], 7, stride=2, padding=3, bias=False),
                                      nn.BatchNorm2d(widths[0]), nn.ReLU(inplace=True),
                                      nn.MaxPool2d(3, stride=2, padding=1))
        stages, in_width = [], widths[0]
        for index, (width, count) in enumerate(zip(widths, blocks)):
            stride = 1 if index == 0 else 2
            layers = []
            for block in range(count):
                block_stride = stride if block == 0 else 1
                downsample = None
                if block_stride != 1 or in_width != width:
                    downsample = nn.Sequential(nn.Conv2d(in_width, width, 1, stride=block_stride, bias=False),
                                               nn.BatchNorm2d(width))
                layers.append(BasicBlock(in_width, width, stride=block_stride, downsample=downsample))
                in_width = width
            stages.append(nn.Sequential(*layers))
        self.stages = nn.Sequential(*stages)
        self.widths = tuple(widths)                                    # each stage's output channels
        self.num_features = in_width
        self.head = nn.Linear(in_width, num_classes)
        # timm's BasicBlock builds its own convolutions; set their padding mode afterwards (max-pool pads with
        # -inf either way, so the ImageNet stem is never exactly shift-equivariant).
        for module in self.modules():
            if isinstance(module, nn.Conv2d) and any(module.padding):
                module.padding_mode = padding_mode

    def forward_features(self, x: torch.Tensor) -> torch.Tensor:
        """``[B, C, H, W]`` → feature map ``[B, w_last, H', W']``."""
        return self.stages(self.stem(x))

    def forward_head(self, features: torch.Tensor, pre_logits: bool = False) -> torch.Tensor:
        """Feature map ``[B, w_last, H', W']`` → pooled ``[B, w_last]`` (``pre_logits``) or logits, as in timm."""
        pooled = features.mean(dim=(2, 3))
        return pooled if pre_logits else self.head(pooled)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.forward_head(self.forward_features(x))   # [B, num_classes]


def build_cnn(size: str, img_size: int = 28, in_chans: int = 1, num_classes: int = 10, **overrides) -> SmallCNN:
    """A convnet of a named size for ``[B, in_chans, img_size, img_size]`` inputs."""
    spec = CNN_SIZES[size]
    kwargs = dict(widths=spec.widths, blocks=spec.blocks, in_chans=in_chans, num_classes=num_classes,
                  img_size=img_size)
    kwargs.update(overrides)
    return SmallCNN(**kwargs)
