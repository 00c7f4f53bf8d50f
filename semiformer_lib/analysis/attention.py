"""Reading a ViT's attention and position embeddings (chapter 1: what a starved ViT has — not — learnt).

Attention of block ``l``, head ``h``: ``A = softmax(Q Kᵀ / √d)`` of shape ``[B, heads, T, T]`` with
``T = 1 + n_patches`` (class token first). timm computes it inside a fused kernel; :func:`attention_maps` switches
each block to its explicit path for one forward pass and records ``A`` with a forward hook on the module that
receives it (``attn_drop``), so the maps are the real model's, not a re-implementation's.

Position embeddings ``E ∈ [T, D]``: in a ViT that has learnt the image's geometry, the embedding of a patch is
most similar to those of its neighbours (Dosovitskiy et al. 2021, Fig. 7). :func:`position_similarity` returns
the cosine similarity of every patch position with every other, and :func:`position_locality` one number: the
correlation between that similarity and the negated grid distance (1 = similarity falls off with distance).

Mean attention distance (Dosovitskiy et al. 2021, Fig. 7 right; chapter 2): for block ``l`` and head ``h``,
``d[l, h] = mean over images and query patches q of Σ_k Â[q, k]·‖c_q − c_k‖`` where ``c`` are patch centres in
pixels and ``Â`` is the patch-to-patch attention renormalised over patch keys (the class token has no position, so
its share is left out). A head that attends only to its own patch has distance 0; uniform attention gives the mean
distance between two patches of the grid. Early heads of a ViT trained on enough data span both local and global
distances; a convnet's layers are local by construction.

Attention rollout (Abnar & Zuidema, 2020): the residual connection is modelled by ``½(A + I)``, heads averaged,
rows renormalised, and the blocks multiplied, ``R = Ã_L ⋯ Ã_1``; row 0 of ``R`` says how much each input patch
flows into the class token through all blocks.
"""
from __future__ import annotations

import contextlib

import torch
from torch import nn

from ..models.interface import eval_mode


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
    try:
        with eval_mode(model), _explicit_attention(modules):
            model(inputs)
    finally:
        for hook in hooks:
            hook.remove()
    return torch.stack(recorded)


def patch_centres(grid: tuple[int, int], patch_size: int) -> torch.Tensor:
    """Centres ``[gh·gw, 2]`` (y, x) of the patches of a grid, in pixels, row-major like the tokens."""
    gh, gw = grid
    ys, xs = torch.meshgrid(torch.arange(gh), torch.arange(gw), indexing="ij")
    return (torch.stack([ys.flatten(), xs.flatten()], dim=1).float() + 0.5) * patch_size


def mean_attention_distance(maps: torch.Tensor, grid: tuple[int, int], patch_size: int,
                            num_prefix_tokens: int = 1) -> torch.Tensor:
    """Attention-weighted query–key distance in pixels, ``[depth, heads]``,
    from ``maps`` ``[depth, B, heads, T, T]``."""
    n = grid[0] * grid[1]
    prefix = num_prefix_tokens
    if maps.shape[-1] != prefix + n:
        raise ValueError(f"maps have {maps.shape[-1]} tokens; a {grid} grid with "
                         f"{prefix} prefix token(s) has {prefix + n}")
    patch_to_patch = maps[..., prefix:, prefix:].float()           # [L, B, H, n, n]
    total = patch_to_patch.sum(-1, keepdim=True).clamp(min=1e-12)
    patch_to_patch = patch_to_patch / total                        # rows sum to 1
    centres = patch_centres(grid, patch_size).to(maps.device)
    distance = torch.cdist(centres, centres)                       # [n, n] pixels
    per_query = (patch_to_patch * distance).sum(-1)                # [L, B, H, n]
    return per_query.mean(dim=(1, 3))


def model_attention_distance(model: nn.Module, inputs: torch.Tensor) -> torch.Tensor:
    """:func:`mean_attention_distance` of a timm ViT, or a Semiformer's transformer branch, on a batch of model
    inputs: ``[depth, heads]``."""
    return mean_attention_distance(attention_maps(model, inputs), patch_grid(model), patch_pixels(model),
                                   getattr(model, "num_prefix_tokens", 1))


def attention_rollout(maps: torch.Tensor, grid: tuple[int, int]) -> torch.Tensor:
    """Attention flow from each patch to the class token through all blocks: ``[B, gh, gw]`` (rows sum to 1
    over all tokens; the class token's own share is dropped)."""
    averaged = maps.float().mean(dim=2)                                   # [L, B, T, T]
    eye = torch.eye(averaged.shape[-1], device=maps.device)
    mixed = 0.5 * (averaged + eye)
    mixed = mixed / mixed.sum(-1, keepdim=True)
    rollout = mixed[0]
    for layer in mixed[1:]:
        rollout = layer @ rollout                                          # [B, T, T]
    return rollout[:, 0, -grid[0] * grid[1]:].reshape(-1, *grid)


def class_token_attention(maps: torch.Tensor, grid: tuple[int, int], layer: int = -1) -> torch.Tensor:
    """How much the class token attends to each patch in ``layer``, averaged over heads: ``[B, gh, gw]``."""
    cls_to_patches = maps[layer][:, :, 0, 1:]            # [B, heads, n_patches]
    return cls_to_patches.mean(dim=1).reshape(-1, *grid)


def patch_grid(model: nn.Module) -> tuple[int, int]:
    """``(gh, gw)``: the token grid of a timm ViT (``patch_embed.grid_size``) or a Semiformer (``grid``)."""
    grid = getattr(getattr(model, "patch_embed", None), "grid_size", None) or getattr(model, "grid", None)
    if grid is None:
        raise TypeError(f"{type(model).__name__} has no token grid (neither patch_embed.grid_size nor grid)")
    return tuple(grid)


def patch_pixels(model: nn.Module) -> int:
    """Side in input pixels of the image patch one token stands for (timm's ``patch_embed.patch_size`` or a
    Semiformer's ``patch_size``)."""
    patch = getattr(getattr(model, "patch_embed", None), "patch_size", None) or getattr(model, "patch_size", None)
    if patch is None:
        raise TypeError(f"{type(model).__name__} has no patch size (neither patch_embed.patch_size nor patch_size)")
    return patch[0] if isinstance(patch, (tuple, list)) else patch


def position_similarity(model: nn.Module) -> torch.Tensor:
    """Cosine similarity of the patch position embeddings: ``[gh, gw, gh, gw]``."""
    gh, gw = patch_grid(model)
    pos = model.pos_embed.detach()[0, -gh * gw:]   # [n_patches, D], no class token
    pos = nn.functional.normalize(pos, dim=-1)
    return (pos @ pos.T).reshape(gh, gw, gh, gw)


def position_locality(model: nn.Module) -> float:
    """Pearson correlation between position-embedding similarity and minus the grid
    distance, over all pairs of distinct patches: near 0 for random embeddings,
    towards 1 when neighbours have similar embeddings."""
    gh, gw = patch_grid(model)
    similarity = position_similarity(model).reshape(gh * gw, gh * gw)
    centres = patch_centres((gh, gw), patch_size=1)                # grid units
    distance = torch.cdist(centres, centres)
    off_diagonal = ~torch.eye(gh * gw, dtype=torch.bool)
    pairs = torch.stack([similarity.cpu()[off_diagonal], -distance[off_diagonal]])
    return torch.corrcoef(pairs)[0, 1].item()


def patch_embedding_filters(model: nn.Module) -> torch.Tensor:
    """The linear patch embedding as images: ``[D, C, P, P]``
    (timm stores it as a stride-P convolution)."""
    return model.patch_embed.proj.weight.detach().cpu()
