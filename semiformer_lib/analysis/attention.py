"""Reading a ViT's attention and position embeddings (chapter 1: what a starved ViT has — not — learnt).

Attention of block ``l``, head ``h``: ``A = softmax(Q Kᵀ / √d)`` of shape ``[B, heads, T, T]`` with
``T = 1 + n_patches`` (class token first). timm computes it inside a fused kernel; :func:`attention_maps` switches
each block to its explicit path for one forward pass and records ``A`` with a forward hook on the module that
receives it (``attn_drop``), so the maps are the real model's, not a re-implementation's.

Position embeddings ``E ∈ [T, D]``: in a ViT that has learnt the image's geometry, the embedding of a patch is
most similar to those of its neighbours (Dosovitskiy et al. 2021, Fig. 7). :func:`position_similarity` returns
the cosine similarity of every patch position with every other, and :func:`position_locality` one number: the
correlation between that similarity and the negated grid distance (1 = similarity falls off with distance).
"""
from __future__ import annotations

import contextlib

import torch
from torch import nn


def _attention_modules(model: nn.Module) -> list[nn.Module]:
    modules = [m for m in model.modules() if hasattr(m, "fused_attn") and hasattr(m, "attn_drop")]
    if not modules:
        raise TypeError(f"{type(model).__name__} has no timm attention layers to read")
    return modules


@contextlib.contextmanager
def _explicit_attention(modules):
    saved = [m.fused_attn for m in modules]
    try:
        for m in modules:
            m.fused_attn = False
        yield
    finally:
        for m, value in zip(modules, saved):
            m.fused_attn = value


@torch.inference_mode()
def attention_maps(model: nn.Module, inputs: torch.Tensor) -> torch.Tensor:
    """Attention probabilities of every block for a batch: ``[depth, B, heads, T, T]`` (eval mode)."""
    modules = _attention_modules(model)
    recorded: list[torch.Tensor] = []
    hooks = [m.attn_drop.register_forward_hook(lambda _m, args, _out: recorded.append(args[0].float()))
             for m in modules]
    was_training = model.training
    model.eval()
    try:
        with _explicit_attention(modules):
            model(inputs)
    finally:
        for hook in hooks:
            hook.remove()
        model.train(was_training)
    return torch.stack(recorded)


def class_token_attention(maps: torch.Tensor, grid: tuple[int, int], layer: int = -1) -> torch.Tensor:
    """How much the class token attends to each patch in ``layer``, averaged over heads: ``[B, gh, gw]``."""
    cls_to_patches = maps[layer][:, :, 0, 1:]            # [B, heads, n_patches]
    return cls_to_patches.mean(dim=1).reshape(-1, *grid)


def patch_grid(model: nn.Module) -> tuple[int, int]:
    """``(gh, gw)``: the token grid of a timm ViT."""
    return tuple(model.patch_embed.grid_size)


def position_similarity(model: nn.Module) -> torch.Tensor:
    """Cosine similarity of the patch position embeddings: ``[gh, gw, gh, gw]``."""
    gh, gw = patch_grid(model)
    pos = model.pos_embed.detach()[0, -gh * gw:]           # [n_patches, D] (class-token entry dropped)
    pos = nn.functional.normalize(pos, dim=-1)
    return (pos @ pos.T).reshape(gh, gw, gh, gw)


def position_locality(model: nn.Module) -> float:
    """Pearson correlation between position-embedding similarity and minus the grid distance, over all pairs
    of distinct patches: near 0 for random embeddings, towards 1 when neighbours have similar embeddings."""
    gh, gw = patch_grid(model)
    similarity = position_similarity(model).reshape(gh * gw, gh * gw)
    ys, xs = torch.meshgrid(torch.arange(gh), torch.arange(gw), indexing="ij")
    coords = torch.stack([ys.flatten(), xs.flatten()], dim=1).float()
    distance = torch.cdist(coords, coords)
    off_diagonal = ~torch.eye(gh * gw, dtype=torch.bool)
    pairs = torch.stack([similarity.cpu()[off_diagonal], -distance[off_diagonal]])
    return torch.corrcoef(pairs)[0, 1].item()


def patch_embedding_filters(model: nn.Module) -> torch.Tensor:
    """The linear patch embedding as images: ``[D, C, P, P]`` (timm stores it as a stride-P convolution)."""
    return model.patch_embed.proj.weight.detach().cpu()
