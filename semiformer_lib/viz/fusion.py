"""Figures of chapter 3, the fusion design: one fused block with its shapes, the parameter and compute budget,
the accuracy of each head, and the similarity of the two branches block by block.
"""
from __future__ import annotations

import matplotlib.pyplot as plt
import numpy as np

from .style import DPI, PAGE_WIDTH, PALETTE, PART_COLORS, _finish, _fit_to_page, _wrap, model_color, styled


@styled
def plot_fusion_block(trace: dict, title: str = "One Semiformer block, with the shapes that flow through it"):
    """Diagram of one fused block drawn from a shape trace (:meth:`Semiformer.trace_block`): the conv stream
    below, the token stream above, the two adapters between them, a ⊕ where an adapter's output is added; every
    box shows its tensor's shape (per image). Adapters missing from the trace (a model built with less fusion) are
    drawn greyed out."""
    from .method import ADAPTER, CONV, TOKENS, _diagram, arrow, box, plus

    def shape(key):
        return "×".join(str(d) for d in trace[key][1:]) if key in trace else "—"

    fig, ax = _diagram(7.4, title)
    up = "conv → tokens (patch tokens)" in trace
    down = "tokens → conv map" in trace
    conv_y, adapter_y, token_y = 1.2, 3.4, 5.6
    box(ax, 1.3, conv_y, f"conv stream\n{shape('conv stream in')}", CONV, 2.2, 1.0)
    box(ax, 4.4, conv_y, f"bottleneck 1\n{shape('first bottleneck out')}", CONV, 2.2, 1.0)
    box(ax, 13.4, conv_y, f"bottleneck 2\n{shape('second bottleneck out')}", CONV, 2.2, 1.0)
    box(ax, 1.3, token_y, f"tokens\n{shape('tokens into transformer block')}", TOKENS, 2.2, 1.0)
    box(ax, 8.6, token_y, f"transformer block\n{shape('transformer block out')}", TOKENS, 2.9, 1.0)
    box(ax, 4.4, adapter_y, f"conv → transformer\n1×1 conv, pool, LN, GELU\n{shape('conv → tokens (patch tokens)')}",
        ADAPTER, 3.6, 1.3, present=up)
    box(ax, 9.9, adapter_y, f"transformer → conv\ndrop cls, 1×1 conv,\nBN, ReLU, upsample\n"
        f"{shape('tokens → conv map')}", ADAPTER, 3.2, 1.6, present=down)
    arrow(ax, (2.4, conv_y), (3.3, conv_y))
    arrow(ax, (5.5, conv_y), (10.95, conv_y))
    plus(ax, 11.2, conv_y, 0.25)
    arrow(ax, (11.45, conv_y), (12.3, conv_y))
    arrow(ax, (2.4, token_y), (4.15, token_y))
    plus(ax, 4.4, token_y, 0.25)
    arrow(ax, (4.65, token_y), (7.15, token_y))
    arrow(ax, (10.05, token_y), (15.1, token_y))
    arrow(ax, (4.4, conv_y + 0.5), (4.4, adapter_y - 0.65), present=up)
    arrow(ax, (4.4, adapter_y + 0.65), (4.4, token_y - 0.25), present=up)
    arrow(ax, (9.9, token_y - 0.5), (9.9, adapter_y + 0.8), present=down)
    arrow(ax, (10.4, adapter_y - 0.8), (11.1, conv_y + 0.25), present=down)
    ax.text(0.1, 0.1, "⊕: added (the class token skips the upper sum). Shapes per image, batch dropped.",
            fontsize=8.5, color="#333333", ha="left", va="bottom")
    plt.close(fig)
    return fig


@styled
def plot_budget(budgets: dict, title: str = "Where the parameters and the compute go"):
    """Stacked horizontal bars, one per model, split into the parts of a Semiformer: ``budgets`` maps a model
    label to ``{"parameters": {part: count}, "MACs": {part: count}}`` (parts as in ``parameter_groups``)."""
    measures = list(next(iter(budgets.values())))
    fig, axes = plt.subplots(1, len(measures), figsize=(4.6 * len(measures), 0.55 * len(budgets) + 1.4),
                             sharey=True, squeeze=False)
    labels = list(budgets)
    for ax, measure in zip(axes[0], measures):
        for y, label in enumerate(labels):
            parts = budgets[label][measure]
            total, left = sum(parts.values()), 0.0
            for part, count in parts.items():
                share = count / total
                ax.barh(y, share, left=left, color=PART_COLORS[part], alpha=0.85,
                        label=part if y == 0 else None)
                if share >= 0.08:
                    ax.text(left + share / 2, y, f"{share:.0%}", ha="center", va="center", fontsize=8)
                left += share
            scale, unit = (1e9, "G") if total >= 1e9 else (1e6, "M")
            ax.text(1.01, y, f"{total / scale:.2f} {unit}", va="center", fontsize=8)
        ax.set_xlim(0, 1.18)
        ax.set_xticks([0, 0.25, 0.5, 0.75, 1.0], ["0", "25%", "50%", "75%", "100%"])
        ax.set_title(f"{measure} (share; total at right)", fontsize=9)
        ax.grid(axis="y", visible=False)
    axes[0][0].set_yticks(range(len(labels)), labels)
    axes[0][0].invert_yaxis()
    handles, names = axes[0][0].get_legend_handles_labels()
    fig.legend(handles, names, loc="lower center", ncol=len(names), fontsize=8, frameon=False)
    fig.suptitle(title, fontsize=10)
    _fit_to_page(fig)
    fig.tight_layout(rect=(0, 0.07, 1, 1))        # leave the bottom strip to the legend
    plt.close(fig)
    return fig


@styled
def plot_head_accuracy(results: dict, references: dict | None = None,
                       title: str = "Test accuracy of each head and of their sum"):
    """Grouped bars: for each model (``results``: label → ``{"conv": [...], "transformer": [...],
    "summed": [...]}``, one value per seed, in [0, 1]) the mean accuracy of each head, seeds as dots.
    ``references`` (label → mean accuracy) are drawn as dashed horizontal lines, e.g. the plain ViT and CNN."""
    labels = list(results)
    heads = list(next(iter(results.values())))
    width = 0.8 / len(heads)
    fig, ax = plt.subplots(figsize=(PAGE_WIDTH, 4.3))
    lowest = 100.0
    for h, head in enumerate(heads):
        for x, label in enumerate(labels):
            values = [100 * v for v in results[label][head]]
            lowest = min(lowest, *values)
            position = x + (h - (len(heads) - 1) / 2) * width
            ax.bar(position, np.mean(values), width, color=PART_COLORS.get(head, PALETTE["other"]), alpha=0.85,
                   label=f"{head} head" if head != "summed" and x == 0 else ("summed logits" if x == 0 else None))
            ax.scatter([position] * len(values), values, color="black", s=8, zorder=3)
    for name, value in (references or {}).items():
        ax.axhline(100 * value, color=model_color(name), ls="--", lw=1.2, label=name)
        lowest = min(lowest, 100 * value)
    group_width = int(0.8 * PAGE_WIDTH * DPI / len(labels) / 6.5)      # characters of 8.5 pt (~6.5 px) per group
    ax.set_xticks(range(len(labels)), [_wrap(label, group_width) for label in labels], fontsize=8.5)
    ax.set_ylim(max(0, lowest - 8), None)
    ax.set_ylabel("test accuracy (%)")
    ax.set_title(title)
    ax.grid(axis="x", visible=False)
    ax.legend(fontsize=8, loc="upper center", bbox_to_anchor=(0.5, -0.22), ncol=2, frameon=False)
    return _finish(fig)


@styled
def plot_branch_similarity(similarities: dict, title: str = "CKA between the branches, block by block"):
    """CKA between the conv and the transformer branch after every block: ``similarities`` maps a model label to
    a list of per-seed lists (one value per block); the mean is a line, the seeds are dots."""
    fig, ax = plt.subplots(figsize=(6.5, 3.6))
    styles = ["o-", "s--", "^-.", "d:"]
    lowest = 1.0
    for i, (label, per_seed) in enumerate(similarities.items()):
        values = np.asarray(per_seed, dtype=float)          # [seeds, blocks]
        lowest = min(lowest, values.min())
        blocks = np.arange(1, values.shape[1] + 1)
        color = PALETTE["semiformer"] if i == 0 else [PALETTE["other"], PALETTE["prior"], PALETTE["cnn"]][(i - 1) % 3]
        ax.plot(blocks, values.mean(axis=0), styles[i % len(styles)], color=color, label=label)
        for row in values:
            ax.scatter(blocks, row, color=color, alpha=0.35, s=12)
    ax.set_xticks(blocks)
    ax.set_xlabel("block")
    ax.set_ylabel("linear CKA (conv map vs patch tokens)")
    ax.set_ylim(max(0.0, lowest - 0.1), 1.0)       # zoom on the range the values span
    ax.set_title(title)
    ax.legend(fontsize=8)
    return _finish(fig)
