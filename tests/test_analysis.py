"""Attention and position-embedding read-outs, checked on cases with known answers."""
from __future__ import annotations

import pytest
import torch

from semiformer_lib.analysis import (attention_maps, class_token_attention, patch_embedding_filters, patch_grid,
                                     position_locality, position_similarity)
from semiformer_lib.models import create_model


def test_attention_maps_are_the_models_own():
    torch.manual_seed(0)
    model = create_model("vit_mini_patch4")
    x = torch.randn(3, 1, 28, 28)
    maps = attention_maps(model, x)
    assert maps.shape == (4, 3, 3, 50, 50)                     # depth, batch, heads, tokens, tokens
    assert torch.allclose(maps.sum(-1), torch.ones(4, 3, 3, 50), atol=1e-5)
    assert all(block.attn.fused_attn == model.blocks[0].attn.fused_attn for block in model.blocks)
    assert model.training                                        # mode restored
    # Recompute block 0's attention by hand from its own weights: the hook must have seen exactly that.
    block = model.blocks[0]
    with torch.no_grad():
        tokens = model._pos_embed(model.patch_embed(x))
        qkv = block.attn.qkv(block.norm1(tokens)).reshape(3, 50, 3, 3, 32).permute(2, 0, 3, 1, 4)
        manual = (qkv[0] @ qkv[1].transpose(-2, -1) * 32 ** -0.5).softmax(-1)
    assert torch.allclose(maps[0], manual, atol=1e-5)
    assert class_token_attention(maps, patch_grid(model)).shape == (3, 7, 7)


def test_position_locality_known_answers():
    model = create_model("vit_mini_patch4")
    gh, gw = patch_grid(model)
    ys, xs = torch.meshgrid(torch.arange(gh).float(), torch.arange(gw).float(), indexing="ij")
    centres = torch.stack([ys.flatten(), xs.flatten()], 1)                       # [49, 2]
    # Gaussian bumps around each patch: embeddings of neighbours overlap most.
    smooth = torch.exp(-torch.cdist(centres, centres) ** 2 / 2.0)               # [49, 49]
    embed = torch.zeros(1, 1 + gh * gw, 96)
    embed[0, 1:, :49] = smooth
    model.pos_embed.data.copy_(embed)
    assert position_locality(model) > 0.8
    assert position_similarity(model)[3, 3, 3, 3].item() == pytest.approx(1.0)
    torch.manual_seed(0)
    model.pos_embed.data.normal_()
    assert abs(position_locality(model)) < 0.15


def test_patch_embedding_filters_shape():
    assert patch_embedding_filters(create_model("vit_mini_patch4")).shape == (96, 1, 4, 4)
