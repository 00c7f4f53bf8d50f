"""The method drawn: the whole Semiformer (Weng et al., 2022, Fig. 2) and the pseudo-labeling step (Sec. 3.2).

Both figures are drawn from the objects that train, not by hand:

* :func:`plot_model_overview` runs the model once on a blank image ``[1, C, H, W]`` and reads, block by block, the
  conv map ``[C_k, H_k, W_k]`` and the token stream ``[1 + gh·gw, D]``, which adapters each fused block holds
  (a model built with ``fusion="none"`` is drawn without them) and the sizes of the two heads;
* :func:`plot_pseudo_label_pipeline` reads a :class:`~semiformer_lib.train.RunConfig` (teacher, τ, λ, μ, the strong
  augmentation's strength, the warm-up) and draws the path of one unlabeled image ``u`` and one labeled image
  ``x`` through a training step, with the equation each box computes.

The boxes and arrows are the helpers :func:`box` and :func:`arrow`, shared with chapter 3's block diagram.
"""
from __future__ import annotations

import matplotlib.pyplot as plt
import torch
from matplotlib.patches import Circle, FancyArrowPatch, FancyBboxPatch

from .style import PAGE_WIDTH, PALETTE, styled

CONV, TOKENS, ADAPTER = PALETTE["cnn"] + "55", PALETTE["vit"] + "55", PALETTE["semiformer"] + "99"
NEUTRAL, LOSS = "#e8e8e8", PALETTE["prior"] + "44"
TEXT_POINTS = 8.5


def box(ax, x: float, y: float, text: str, color: str, width: float, height: float = 0.6,
        present: bool = True, fontsize: float = TEXT_POINTS) -> None:
    """A rounded box centred on ``(x, y)`` (data units) with ``text`` in it; greyed out when not ``present``."""
    ax.add_patch(FancyBboxPatch((x - width / 2, y - height / 2), width, height, boxstyle="round,pad=0.04",
                                facecolor=color if present else "#f2f2f2", edgecolor="#444444" if present
                                else "#bbbbbb", lw=0.9))
    ax.text(x, y, text, ha="center", va="center", fontsize=fontsize, color="black" if present else "#999999")


def arrow(ax, start, end, present: bool = True, color: str = "#333333", text: str | None = None,
          text_offset=(0.0, 0.0), **style) -> None:
    """An arrow from ``start`` to ``end``; ``text`` beside its middle."""
    ax.add_patch(FancyArrowPatch(start, end, arrowstyle="-|>", mutation_scale=10, lw=1.1,
                                 color=color if present else "#cccccc", **style))
    if text:
        x, y = (start[0] + end[0]) / 2 + text_offset[0], (start[1] + end[1]) / 2 + text_offset[1]
        ax.text(x, y, text, fontsize=TEXT_POINTS, ha="left", va="center", color="#333333")


def plus(ax, x: float, y: float, radius: float = 0.17) -> None:
    """The ⊕ where two streams are added."""
    ax.add_patch(Circle((x, y), radius, facecolor="white", edgecolor="#333333", lw=1.1, zorder=3))
    ax.text(x, y, "+", ha="center", va="center", fontsize=11, fontweight="bold", zorder=4)


def _shape(tensor: torch.Tensor) -> str:
    """``[1, C, H, H]`` → ``C×H²`` (short enough for a box); other shapes → ``a×b``."""
    return _size(tuple(tensor.shape[1:]))


def _size(shape: tuple[int, ...]) -> str:
    if len(shape) == 3 and shape[1] == shape[2]:
        return f"{shape[0]}×{shape[1]}²"
    return "×".join(str(d) for d in shape)


@torch.no_grad()
def model_layout(model, image_shape: tuple[int, ...]) -> dict:
    """What :func:`plot_model_overview` draws, read from ``model`` (a :class:`~semiformer_lib.models.Semiformer`):
    the shape after the stem, per block the conv map and token shapes and the adapters present, the heads."""
    was_training = model.training
    model.eval()
    try:
        image = torch.zeros(1, *image_shape, device=next(model.parameters()).device)
        stem = model.stem(image)
        outputs = model.forward_blocks(image)
    finally:
        model.train(was_training)
    blocks = [{"conv": _shape(conv), "tokens": _shape(tokens), "up": False, "down": False} for conv, tokens in outputs]
    for layout, block in zip(blocks[1:], model.blocks):          # block 1 is the unfused first pair
        layout.update(up=block.conv_to_tokens is not None, down=block.tokens_to_conv is not None)
    return {"input": _size(tuple(image_shape)), "stem": _shape(stem), "blocks": blocks,
            "classes": model.num_classes, "conv_head": (model.conv_head.in_features, model.conv_head.out_features),
            "transformer_head": (model.transformer_head.in_features, model.transformer_head.out_features)}


def _diagram(height: float, title: str):
    """A page-wide figure whose one axes fills it (x 0–15.2, y 0–``height`` data units, ½ inch each), so that a
    diagram's text keeps its size; tight_layout would shrink the axes around text near its edges."""
    fig = plt.figure(figsize=(PAGE_WIDTH, height / 2))
    ax = fig.add_axes((0, 0, 1, 1 - 0.3 / height))
    ax.set_xlim(0, 15.2)
    ax.set_ylim(0, height - 0.3)
    ax.axis("off")
    fig.suptitle(title, fontsize=10, y=1 - 0.05 / height, va="top")
    return fig, ax


@styled
def plot_model_overview(model, image_shape: tuple[int, ...], title: str | None = None):
    """The whole model of ``model`` on images ``image_shape`` (``(C, H, W)``): the shared stem, the conv branch
    (bottom) and the token branch (top) block by block with their shapes, the adapters between them (↑ conv →
    transformer, added to the patch tokens; ↓ transformer → conv, added inside the block's second bottleneck)
    and the two heads, whose logits are summed."""
    layout = model_layout(model, image_shape)
    blocks = layout["blocks"]
    fig, ax = _diagram(8.0, title or f"The whole model: {len(blocks)} blocks, two branches, two heads")
    top, bottom, middle = 5.4, 2.0, 3.7
    box(ax, 0.65, middle, f"image\n{layout['input']}", NEUTRAL, 1.15, 0.9)
    box(ax, 2.05, middle, f"stem\n{layout['stem']}", CONV, 1.25, 0.9)
    arrow(ax, (1.25, middle), (1.4, middle))
    first, last = 3.8, 11.0
    step = (last - first) / max(1, len(blocks) - 1)
    width = min(0.85, 0.75 * step)
    arrow(ax, (2.3, middle + 0.47), (first - width / 2, top), connectionstyle="arc3,rad=-0.25")
    arrow(ax, (2.3, middle - 0.47), (first - width / 2, bottom), connectionstyle="arc3,rad=0.25")
    ax.text(0.1, top + 0.25, "patch embed\n+ class token", fontsize=TEXT_POINTS, ha="left", va="bottom")
    shown_conv = None
    for k, block in enumerate(blocks):
        x = first + k * step
        box(ax, x, top, f"T{k + 1}", TOKENS, width, 0.8)
        box(ax, x, bottom, f"C{k + 1}", CONV, width, 0.8)
        if k:
            arrow(ax, (x - step + width / 2, top), (x - width / 2, top))
            arrow(ax, (x - step + width / 2, bottom), (x - width / 2, bottom))
            arrow(ax, (x - 0.12, bottom + 0.42), (x - 0.12, top - 0.42), present=block["up"],
                  color=PALETTE["semiformer"])
            arrow(ax, (x + 0.12, top - 0.42), (x + 0.12, bottom + 0.42), present=block["down"],
                  color=PALETTE["cnn"])
        if block["conv"] != shown_conv:                                    # the conv map changes at each stage
            ax.text(x - width / 2, bottom - 0.55, block["conv"], fontsize=TEXT_POINTS, ha="left", va="top")
            shown_conv = block["conv"]
    ax.text(first - width / 2, top + 0.55, f"tokens {blocks[0]['tokens']} (class token + grid, width) at every "
            "block", fontsize=TEXT_POINTS, ha="left", va="bottom")
    x_head = 12.65
    conv_in, classes = layout["conv_head"]
    token_in, _ = layout["transformer_head"]
    box(ax, x_head, top, f"transformer\nhead\n{token_in} → {classes}", TOKENS, 1.75, 1.2)
    box(ax, x_head, bottom, f"conv head\n{conv_in} → {classes}", CONV, 1.75, 0.9)
    arrow(ax, (last + width / 2, top), (x_head - 0.9, top))
    arrow(ax, (last + width / 2, bottom), (x_head - 0.9, bottom))
    x_sum = 14.55
    plus(ax, x_sum, middle)
    arrow(ax, (x_head + 0.6, top - 0.62), (x_sum - 0.08, middle + 0.2))
    arrow(ax, (x_head + 0.6, bottom + 0.47), (x_sum - 0.08, middle - 0.2))
    ax.text(x_sum, middle - 0.35, "summed\nlogits", fontsize=TEXT_POINTS, ha="center", va="top")
    fused = sum(block["up"] or block["down"] for block in blocks)
    ax.text(0.1, 0.1, f"T: transformer blocks; C: pairs of conv bottlenecks. Adapters in {fused} of "
            f"{len(blocks)} blocks:\ngold ↑ conv → transformer (added to the patch tokens), teal ↓ transformer → "
            "conv (added in the 2nd bottleneck)", fontsize=TEXT_POINTS, ha="left", va="bottom", color="#333333")
    plt.close(fig)
    return fig


@styled
def plot_pseudo_label_pipeline(config, title: str | None = None):
    """One training step of ``config`` (a :class:`~semiformer_lib.train.RunConfig`) after its warm-up: the
    unlabeled image's weak view goes through the teacher, is thresholded at τ into a pseudo-label and a mask, and
    teaches the student's heads on the strong view; the labeled images give the supervised term."""
    warm_up = f" after {config.supervised_steps} labels-only steps" if config.supervised_steps else ""
    fig, ax = _diagram(8.6, title or f"One pseudo-labeling step{warm_up} (config {config.name})")
    teacher = {"conv": "conv head", "transformer": "transformer head", "mean": "mean of the heads",
               "ema": "EMA model"}.get(config.teacher, config.teacher)
    weak, strong, labeled = 6.5, 4.3, 1.5
    unlabeled = max(1, round(config.unlabeled_ratio * config.batch_size))
    box(ax, 1.1, (weak + strong) / 2, f"unlabeled u\n{unlabeled} / step\n(μ = {config.unlabeled_ratio:g})",
        NEUTRAL, 2.0, 1.6)
    box(ax, 3.9, weak, "weak view α(u)\nflip, shift", NEUTRAL, 2.4, 0.9)
    box(ax, 6.75, weak, f"teacher t:\n{teacher}\nno gradient", ADAPTER, 2.3, 1.3)
    box(ax, 9.8, weak, "q = softmax t(α(u))\nŷ = argmax q", NEUTRAL, 3.0, 0.9)
    box(ax, 13.45, weak, f"mask m = 1[max q ≥ τ]\nτ = {config.threshold:g}", ADAPTER, 3.3, 0.9)
    box(ax, 3.9, strong, f"strong view A(u)\nRandAugment, {config.strong_ops} ops\nCutout {config.cutout:g}",
        NEUTRAL, 2.6, 1.3)
    box(ax, 6.75, strong, "student\nheads p_h", TOKENS, 2.0, 0.9)
    box(ax, 11.4, strong, "L_u = mean_h 1/(μB) Σ m·H(ŷ, p_h(A(u)))", LOSS, 6.3, 0.8)
    box(ax, 1.1, labeled, f"labeled x, y\n{config.batch_size} / step", NEUTRAL, 2.0, 0.9)
    box(ax, 3.9, labeled, "weak view α(x)", NEUTRAL, 2.4, 0.7)
    box(ax, 6.75, labeled, "student\nheads p_h", TOKENS, 2.0, 0.9)
    box(ax, 10.05, labeled, "L_x = mean_h H(y, p_h(α(x)))", LOSS, 4.3, 0.7)
    box(ax, 13.75, 2.85, f"L = L_x + λ·L_u\nλ = {config.unlabeled_weight:g}", LOSS, 2.6, 0.9)
    arrow(ax, (2.1, 5.9), (2.7, weak - 0.2))
    arrow(ax, (2.1, 4.9), (2.6, strong + 0.2))
    arrow(ax, (5.1, weak), (5.6, weak))
    arrow(ax, (7.9, weak), (8.3, weak))
    arrow(ax, (11.3, weak), (11.8, weak))
    arrow(ax, (5.2, strong), (5.75, strong))
    arrow(ax, (7.75, strong), (8.25, strong))
    arrow(ax, (9.8, weak - 0.45), (9.8, strong + 0.4), text="ŷ", text_offset=(0.12, 0.0))
    arrow(ax, (13.45, weak - 0.45), (13.45, strong + 0.4), text="m", text_offset=(0.12, 0.0))
    arrow(ax, (2.1, labeled), (2.7, labeled))
    arrow(ax, (5.1, labeled), (5.75, labeled))
    arrow(ax, (7.75, labeled), (7.9, labeled))
    arrow(ax, (12.2, labeled + 0.2), (12.45, 2.6))
    arrow(ax, (13.75, strong - 0.4), (13.75, 3.3))
    ax.text(0.1, 7.55, "The teacher's path carries no gradient; both student heads learn from both terms.",
            fontsize=TEXT_POINTS, ha="left", va="bottom", color="#333333")
    ax.text(0.1, 0.2, f"H: cross-entropy; B = {config.batch_size} labeled images a step, μB unlabeled; "
            f"mean_h over the model's heads", fontsize=TEXT_POINTS, ha="left", va="bottom", color="#333333")
    plt.close(fig)
    return fig
