"""Figures for the book: one palette, labelled axes, legends that name model and label budget.

Every function takes plain data (lists of runs, tensors) and returns the matplotlib ``Figure``, so a chapter
cell is one call. Colours: ViT red, CNN teal, ViTs given a spatial prior purple (chapter 2), Semiformer gold
from chapter 3 on.
"""
from __future__ import annotations

import textwrap
import warnings
from collections import defaultdict

import matplotlib.pyplot as plt
import numpy as np
import torch

PALETTE = {"vit": "#c8553d", "cnn": "#2a7f8f", "semiformer": "#e0a526", "prior": "#7b5ea7", "other": "#6c6c6c"}
PRIOR_SUFFIXES = ("_convstem", "_relpos", "_nopos")
DPI = 90
plt.rcParams.update({"figure.dpi": DPI, "axes.spines.top": False, "axes.spines.right": False,
                     "axes.grid": True, "grid.alpha": 0.3, "font.size": 10})
# The book's text column is about 690 px wide; at DPI 90 that is 7.6 inches. A wider figure is shrunk by the
# browser, text and all, so every figure is drawn at most this wide and its text keeps the book's size.
PAGE_WIDTH = 7.6


def _fit_to_page(fig) -> None:
    """Shrink a figure wider than the page to the page width (height by the same factor, at most by a fifth)."""
    width, height = fig.get_size_inches()
    if width > PAGE_WIDTH:
        fig.set_size_inches(PAGE_WIDTH, height * max(PAGE_WIDTH / width, 0.8))


def _wrap(label: str, width: int) -> str:
    """``label`` broken into lines of at most ``width`` characters, keeping the line breaks it already has: tick
    labels and panel titles that would otherwise run into their neighbours on a page-wide figure."""
    return "\n".join(textwrap.fill(line, width) or line for line in label.split("\n"))


def _finish(fig, rect=None):
    """Fit ``fig`` to the page width, lay it out (inside ``rect`` of the figure, when given) and detach it from
    pyplot, so a notebook shows it once: as the cell's returned value."""
    _fit_to_page(fig)
    fig.tight_layout(rect=rect)
    plt.close(fig)
    return fig


def model_color(model_name: str) -> str:
    """The book's colour for a model family, from its name (``vit_mini_patch7`` → ViT red; a ViT with a
    spatial prior, ``vit_mini_patch4_convstem``, → purple)."""
    if model_name.startswith("vit") and any(suffix in model_name for suffix in PRIOR_SUFFIXES):
        return PALETTE["prior"]
    for family, color in PALETTE.items():
        if model_name.startswith(family):
            return color
    return PALETTE["other"]


def _family_label(model_name: str) -> str:
    return model_name.split("_")[0].upper().replace("SEMIFORMER", "Semiformer") + f" ({model_name})"


def plot_label_sweep(runs, title: str = "Test accuracy vs labels per class"):
    """Test accuracy against labels per class (log axis): mean over seeds, with the seeds as dots."""
    grouped = defaultdict(lambda: defaultdict(list))
    for run in runs:
        grouped[run.model_name][run.labels_per_class].append(100 * run.history.final_test_acc)
    fig, ax = plt.subplots(figsize=(6.5, 3.8))
    for model_name, by_budget in grouped.items():
        budgets = sorted(b for b in by_budget if b != "all")
        means = [np.mean(by_budget[b]) for b in budgets]
        color = model_color(model_name)
        ax.plot(budgets, means, "o-", color=color, label=_family_label(model_name))
        for b in budgets:
            ax.scatter([b] * len(by_budget[b]), by_budget[b], color=color, alpha=0.35, s=14)
    ax.set_xscale("log")
    ax.set_xlabel("labeled images per class (log scale)")
    ax.set_ylabel("test accuracy (%)")
    ax.set_title(title)
    ax.legend()
    return _finish(fig)


def plot_train_test_curves(runs, title: str = "Training vs test accuracy during training"):
    """Accuracy on the labeled training images (dashed) and the test images (solid) against training steps."""
    fig, ax = plt.subplots(figsize=(6.5, 3.8))
    seen = set()
    for run in runs:
        color = model_color(run.model_name)
        label = f"{_family_label(run.model_name)}, {run.labels_per_class}/class"
        first = label not in seen
        seen.add(label)
        ax.plot(run.history.step, [100 * a for a in run.history.train_acc], "--", color=color, alpha=0.8,
                label=f"{label}: train" if first else None)
        ax.plot(run.history.step, [100 * a for a in run.history.test_acc], "-", color=color,
                label=f"{label}: test" if first else None)
    ax.set_xlabel("training step")
    ax.set_ylabel("accuracy (%)")
    ax.set_title(title)
    ax.legend(fontsize=8)
    return _finish(fig)


def plot_per_class(accuracies: dict, classes, title: str = "Per-class test accuracy"):
    """Grouped bars: ``accuracies`` maps a legend label (model name first) to ``[num_classes]`` accuracies."""
    fig, ax = plt.subplots(figsize=(7.5, 3.6))
    width = 0.8 / len(accuracies)
    x = np.arange(len(classes))
    for i, (label, values) in enumerate(accuracies.items()):
        ax.bar(x + (i - (len(accuracies) - 1) / 2) * width, 100 * torch.as_tensor(values).cpu().numpy(), width,
               color=model_color(label), label=label)
    ax.set_xticks(x, classes, rotation=30, ha="right")
    ax.set_ylabel("test accuracy (%)")
    ax.set_title(title)
    ax.legend()
    return _finish(fig)


def plot_confusions(matrices: dict, classes, title: str = "Confusion matrices (rows: true class)"):
    """Side-by-side row-normalised confusion matrices, one per entry of ``matrices`` (label → counts)."""
    fig, axes = plt.subplots(1, len(matrices), figsize=(3.6 * len(matrices) + 1.6, 4.0), squeeze=False,
                             gridspec_kw={"wspace": 0.08})
    axes = axes[0]
    for index, (ax, (label, counts)) in enumerate(zip(axes, matrices.items())):
        counts = torch.as_tensor(counts).float().cpu()
        rates = (counts / counts.sum(dim=1, keepdim=True).clamp(min=1)).numpy()
        image = ax.imshow(100 * rates, cmap="viridis", vmin=0, vmax=100)
        ax.set_title(label, fontsize=10)
        ax.set_xticks(range(len(classes)), classes, rotation=90, fontsize=7)
        ax.set_yticks(range(len(classes)), classes if index == 0 else [], fontsize=7)
        ax.set_xlabel("predicted class")
        ax.grid(False)
    fig.colorbar(image, ax=list(axes), shrink=0.8, label="% of the true class")
    fig.suptitle(title)
    _fit_to_page(fig)
    plt.close(fig)
    return fig


def show_images(images: torch.Tensor, labels=None, classes=None, columns: int = 10, title: str | None = None):
    """A grid of uint8 or float images ``[N, C, H, W]`` with optional class names as captions."""
    images = images.detach().cpu()
    rows = int(np.ceil(len(images) / columns))
    fig, axes = plt.subplots(rows, columns, figsize=(columns * 0.9, rows * 1.05))
    for i, ax in enumerate(np.atleast_1d(axes).flat):
        ax.axis("off")
        if i >= len(images):
            continue
        image = images[i].float().permute(1, 2, 0).squeeze(-1).numpy()
        ax.imshow(image, cmap="gray" if image.ndim == 2 else None)
        if labels is not None and classes is not None:
            ax.set_title(classes[int(labels[i])], fontsize=7)
    if title:
        fig.suptitle(title, fontsize=11)
    return _finish(fig)


def plot_filters(filter_sets: dict, count: int = 24, title: str = "First-layer filters"):
    """Rows of first-layer filters ``[D, C, k, k]`` (first input channel), one row per entry (label → weights),
    each filter scaled to its own range."""
    fig, axes = plt.subplots(len(filter_sets), count, figsize=(count * 0.38, len(filter_sets) * 0.62 + 0.4),
                             gridspec_kw={"wspace": 0.08, "hspace": 0.6}, squeeze=False)
    for row, (label, weights) in zip(axes, filter_sets.items()):
        for i, ax in enumerate(row):
            ax.axis("off")
            if i >= len(weights):
                continue
            w = weights[i, 0].float()
            ax.imshow(((w - w.min()) / (w.max() - w.min() + 1e-8)).numpy(), cmap="gray")
        row[0].set_title(label, fontsize=8, loc="left")
    fig.suptitle(title, fontsize=10)
    _fit_to_page(fig)
    plt.close(fig)
    return fig


def plot_position_similarity(similarities: dict, title: str = "Position-embedding similarity"):
    """For each entry (label → ``[gh, gw, gh, gw]``), tiles of the cosine similarity of each patch's position
    embedding to all others, tile (i, j) placed at patch (i, j) of the grid."""
    fig, axes = plt.subplots(1, len(similarities), figsize=(3.6 * len(similarities), 3.7))
    for ax, (label, sim) in zip(np.atleast_1d(axes), similarities.items()):
        gh, gw = sim.shape[:2]
        mosaic = sim.detach().cpu().permute(0, 2, 1, 3).reshape(gh * gh, gw * gw).numpy()
        ax.imshow(mosaic, cmap="viridis", vmin=-1, vmax=1)
        for k in range(1, gh):
            ax.axhline(k * gh - 0.5, color="white", lw=0.5)
            ax.axvline(k * gw - 0.5, color="white", lw=0.5)
        ax.set_title(label, fontsize=9)
        ax.set_xticks([])
        ax.set_yticks([])
        ax.grid(False)
    fig.suptitle(title, fontsize=10)
    return _finish(fig)


def plot_attention(images: torch.Tensor, attention: dict, title: str = "Class-token attention, last block"):
    """First row: the images; then one row per entry (label → ``[B, gh, gw]``), the attention upsampled onto
    the image."""
    images = images.detach().cpu()
    columns = len(images)
    fig, axes = plt.subplots(1 + len(attention), columns, figsize=(columns * 1.0, (1 + len(attention)) * 1.1))
    axes = np.atleast_2d(axes)
    size = images.shape[-1]
    for j in range(columns):
        axes[0, j].imshow(images[j, 0].float().numpy(), cmap="gray")
    for row, (label, maps) in zip(axes[1:], attention.items()):
        maps = torch.nn.functional.interpolate(maps[:, None].float().cpu(), size=size, mode="nearest")[:, 0]
        for j, ax in enumerate(row):
            ax.imshow(images[j, 0].float().numpy(), cmap="gray")
            ax.imshow(maps[j].numpy(), cmap="inferno", alpha=0.6)
    for ax in axes.flat:
        ax.axis("off")
    fig.suptitle(title, fontsize=10)
    _fit_to_page(fig)
    fig.tight_layout(h_pad=1.0)
    # Row labels go on after the layout, so a long label does not shrink every image to make room for itself.
    for row, label in zip(axes[1:], attention):
        box = row[0].get_position()
        fig.text(box.x0, box.y1 + 0.005, label, fontsize=8, ha="left", va="bottom")
    plt.close(fig)
    return fig


def plot_attention_distance(distances: dict, reference: float | None = None,
                            title: str = "Mean attention distance per head"):
    """Each head's mean attention distance (dots) and the block's mean (line) against depth; one colour per
    entry (label → ``[depth, heads]`` pixels). ``reference``: the distance of uniform attention (dashed)."""
    fig, ax = plt.subplots(figsize=(8.0, 3.8))
    markers, lines = ["o", "s", "^", "D", "v"], ["-", "--", ":", "-."]
    deepest = 0
    for index, (label, distance) in enumerate(distances.items()):
        distance = torch.as_tensor(distance).float().cpu()
        depth, heads = distance.shape
        deepest = max(deepest, depth)
        color = model_color(label)               # labels start with the model name; same family: same colour
        offset = (index - (len(distances) - 1) / 2) * 0.12
        blocks = np.arange(1, depth + 1) + offset
        for h in range(heads):
            ax.scatter(blocks, distance[:, h].numpy(), color=color, marker=markers[index % len(markers)],
                       alpha=0.6, s=22)
        ax.plot(blocks, distance.mean(dim=1).numpy(), lines[index % len(lines)], color=color,
                marker=markers[index % len(markers)], ms=0.1, label=label)
    if reference is not None:
        ax.axhline(reference, color="black", ls="--", lw=0.8, alpha=0.7, label="uniform attention")
    ax.set_xticks(range(1, deepest + 1))          # models of different depths share the axis
    ax.set_xlabel("block")
    ax.set_ylabel("mean attention distance (pixels)")
    ax.set_ylim(bottom=0)
    ax.set_title(title)
    ax.legend(fontsize=8, loc="upper left", bbox_to_anchor=(1.01, 1.0))
    return _finish(fig)


def plot_shift_robustness(results: dict, metric: str = "consistency",
                          title: str = "Prediction consistency under shifts"):
    """One panel per shift mode: ``metric`` (``consistency``, ``drift`` or ``accuracy``) against the shift in
    pixels. ``results`` maps a label (model name first) to a list of
    :class:`~semiformer_lib.analysis.ShiftResult` — one per seed and mode; seeds are averaged, and drawn faintly."""
    modes = sorted({r.mode for rs in results.values() for r in rs}, reverse=True)
    fig, axes = plt.subplots(1, len(modes), figsize=(4.2 * len(modes), 3.6), squeeze=False, sharey=True)
    percent = metric != "drift"
    for ax, mode in zip(axes[0], modes):
        for label, shift_results in results.items():
            chosen = [r for r in shift_results if r.mode == mode]
            if not chosen:
                continue
            values = np.array([getattr(r, metric) for r in chosen]) * (100 if percent else 1)
            color = model_color(label)
            for row in values:
                ax.plot(chosen[0].shifts, row, "-", color=color, alpha=0.2, lw=1)
            ax.plot(chosen[0].shifts, values.mean(axis=0), "o-", color=color, label=label, ms=4)
        ax.set_title(f"{mode} shift", fontsize=10)
        ax.set_xlabel("shift (pixels)")
    axes[0, 0].set_ylabel({"consistency": "same prediction as unshifted (%)", "accuracy": "test accuracy (%)",
                           "drift": "feature drift ‖f(x+k) − f(x)‖ / ‖f(x)‖"}[metric])
    axes[0, -1].legend(fontsize=8, loc="upper left", bbox_to_anchor=(1.01, 1.0))
    fig.suptitle(title, fontsize=10)
    return _finish(fig)


def plot_receptive_fields(fields: dict, radii: dict | None = None,
                          title: str = "Effective receptive field of the central unit"):
    """Heat maps ``[H, W]`` (label → ERF) on a square-root colour scale, each scaled to its own peak, so a thin
    spread stays visible next to a sharp peak. ``radii`` (label → ``{fraction: pixels}``) draws the discs holding
    those fractions of the gradient mass (dashed: the smaller fraction, dotted: the larger)."""
    from matplotlib.colors import PowerNorm

    fig, axes = plt.subplots(1, len(fields), figsize=(2.6 * len(fields), 3.0), squeeze=False)
    for ax, (label, erf) in zip(axes[0], fields.items()):
        erf = torch.as_tensor(erf).float().cpu()
        ax.imshow(erf.numpy(), cmap="magma", norm=PowerNorm(0.5, vmin=0))
        panel_title = _wrap(label, int(0.9 * PAGE_WIDTH * DPI / len(fields) / 6))   # ~6 px a character at 8 pt
        if radii and label in radii:
            centre = ((erf.shape[1] - 1) / 2, (erf.shape[0] - 1) / 2)
            for (fraction, radius), style in zip(sorted(radii[label].items()), ["--", ":"]):
                ax.add_patch(plt.Circle(centre, radius, fill=False, color="white", lw=1, ls=style))
            panel_title += "\n" + ", ".join(f"r{100 * f:.0f} = {r:.1f} px" for f, r in sorted(radii[label].items()))
        ax.set_title(panel_title, fontsize=8)
        ax.axis("off")
    fig.suptitle(title, fontsize=10)
    return _finish(fig, rect=(0, 0, 1, 0.92))    # leave room for the suptitle above two-line panel titles


def plot_variant_accuracy(runs, title: str = "Test accuracy at the same label budget"):
    """Horizontal bars: mean test accuracy of each model over its runs (seeds as dots), in the order first seen,
    annotated with the mean."""
    grouped = defaultdict(list)
    for run in runs:
        grouped[run.model_name].append(100 * run.history.final_test_acc)
    names = list(grouped)
    fig, ax = plt.subplots(figsize=(6.5, 0.45 * len(names) + 1.2))
    for y, name in enumerate(names):
        values = grouped[name]
        ax.barh(y, np.mean(values), color=model_color(name), alpha=0.85)
        ax.scatter(values, [y] * len(values), color="black", s=10, zorder=3)
        ax.text(max(values) + 0.8, y, f"{np.mean(values):.1f}", va="center", fontsize=8)
    ax.set_yticks(range(len(names)), names)
    ax.invert_yaxis()
    lowest = min(min(v) for v in grouped.values())
    ax.set_xlim(max(0, lowest - 10), 100)
    ax.set_xlabel("test accuracy (%)")
    ax.set_title(title)
    ax.grid(axis="y", visible=False)
    return _finish(fig)


def plot_fusion_block(trace: dict, title: str = "One Semiformer block, with the shapes that flow through it"):
    """Diagram of one fused block drawn from a shape trace (:meth:`Semiformer.trace_block`): the conv stream
    below, the token stream above, the two adapters between them; every box shows its tensor's shape. Adapters
    missing from the trace (a model built with less fusion) are drawn greyed out."""
    from matplotlib.patches import FancyArrowPatch, FancyBboxPatch

    def shape(key):
        return "×".join(str(d) for d in trace[key][1:]) if key in trace else "—"

    fig, ax = plt.subplots(figsize=(9.5, 3.6))
    ax.set_xlim(0, 10)
    ax.set_ylim(-0.3, 3.5)
    ax.axis("off")

    def box(x, y, text, color, present=True, width=1.9):
        ax.add_patch(FancyBboxPatch((x - width / 2, y - 0.32), width, 0.64, boxstyle="round,pad=0.04",
                                    facecolor=color if present else "#eeeeee", edgecolor="#444444",
                                    alpha=0.9 if present else 0.6))
        ax.text(x, y, text, ha="center", va="center", fontsize=7.5, color="black" if present else "#999999")

    def arrow(start, end, present=True):
        ax.add_patch(FancyArrowPatch(start, end, arrowstyle="-|>", mutation_scale=10, lw=1.1,
                                     color="#333333" if present else "#bbbbbb"))

    conv, token = PALETTE["cnn"] + "55", PALETTE["vit"] + "55"
    fusion = PALETTE["semiformer"] + "88"
    up = "conv → tokens (patch tokens)" in trace
    down = "tokens → conv map" in trace
    box(1.0, 0.3, f"conv stream\n{shape('conv stream in')}", conv)
    box(3.4, 0.3, f"bottleneck 1\n{shape('first bottleneck out')}", conv)
    box(8.6, 0.3, f"bottleneck 2\n{shape('second bottleneck out')}", conv)
    box(1.0, 2.9, f"tokens\n{shape('tokens into transformer block')}", token)
    box(6.0, 2.9, f"transformer block\n{shape('transformer block out')}", token)
    box(3.4, 1.6, f"conv → transformer\n1×1 conv, pool, LN, GELU\n{shape('conv → tokens (patch tokens)')}",
        fusion, present=up, width=2.3)
    box(6.0, 1.6, f"transformer → conv\ndrop cls, 1×1 conv, BN, ReLU, up\n{shape('tokens → conv map')}",
        fusion, present=down, width=2.6)
    arrow((1.95, 0.3), (2.45, 0.3))
    arrow((4.35, 0.3), (7.65, 0.3))
    arrow((1.95, 2.9), (5.05, 2.9))
    arrow((3.4, 0.62), (3.4, 1.15), present=up)
    arrow((3.4, 2.05), (3.4, 2.85), present=up)
    arrow((6.0, 2.58), (6.0, 2.05), present=down)
    arrow((6.0, 1.15), (7.9, 0.55), present=down)
    ax.text(3.55, 2.72, "+", fontsize=12, fontweight="bold")
    ax.text(0.1, 3.35, "shapes per image (batch dimension dropped)", fontsize=7, color="#555555")
    ax.set_title(title, fontsize=10)
    return _finish(fig)


PART_COLORS = {"conv": PALETTE["cnn"], "transformer": PALETTE["vit"], "fusion": PALETTE["semiformer"],
               "summed": PALETTE["semiformer"]}


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


# --- chapter 4: pseudo-labeling -------------------------------------------------------------------------------

METHOD_COLORS = {"semiformer": PALETTE["semiformer"], "vit": PALETTE["vit"], "cnn": PALETTE["cnn"]}
TEACHER_COLORS = {"conv": PALETTE["cnn"], "transformer": PALETTE["vit"], "fused": PALETTE["semiformer"],
                  "ema": PALETTE["prior"]}


def method_color(label: str) -> str:
    """Colour of a method from the model family its label names (``"FixMatch ViT"`` → ViT red)."""
    lowered = label.lower()
    for family, color in METHOD_COLORS.items():
        if family in lowered:
            return color
    return PALETTE["other"]


def _moving_average(values, window: int) -> np.ndarray:
    values = np.asarray(values, dtype=float)
    if window <= 1 or len(values) < window:
        return values
    return np.convolve(values, np.ones(window) / window, mode="valid")


def _by_method(histories: dict) -> dict:
    grouped = defaultdict(list)
    for (label, _seed), history in histories.items():
        grouped[label].append(history)
    return grouped


def plot_ssl_curves(histories: dict, head: str | None = None, title: str = "Test accuracy during training"):
    """Test accuracy at each evaluation, mean over seeds (band: lowest to highest seed), one line per method.

    ``histories``: ``{(method label, seed): SemiHistory}``. ``head`` picks a Semiformer head (``"conv"``,
    ``"transformer"``) where a method has it; one-headed methods always show their own accuracy. Supervised
    methods are dashed (their labels start with "supervised")."""
    fig, ax = plt.subplots(figsize=(6.8, 3.8))
    for label, runs in _by_method(histories).items():
        steps = runs[0].step
        curves = np.asarray([[100 * (h.head_acc[i].get(head, h.test_acc[i]) if head else h.test_acc[i])
                              for i in range(len(steps))] for h in runs])
        color = method_color(label)
        style = "--" if label.lower().startswith("supervised") else "-"
        ax.plot(steps, curves.mean(axis=0), style, marker="o", ms=3, color=color, label=label)
        ax.fill_between(steps, curves.min(axis=0), curves.max(axis=0), color=color, alpha=0.15)
    warmup = [s for h in histories.values() for s, v in enumerate(h.mask_rate) if v == v]
    if warmup:
        ax.axvline(min(warmup) + 0.5, color="black", lw=0.8, ls=":", label="pseudo-labels start")
    ax.set_xlabel("step")
    ax.set_ylabel("test accuracy (%)" + (f", {head} head where present" if head else ""))
    ax.set_title(title)
    ax.legend(fontsize=8, loc="lower right")
    return _finish(fig)


def plot_pseudo_label_quality(histories: dict, window: int = 10,
                              title: str = "Pseudo-labels during training: how many pass τ, how many are right"):
    """Per step (moving average over ``window`` steps, mean over seeds) for every method that pseudo-labels: the
    mask rate and the accuracy of all pseudo-labels and of the confident ones (against the true labels of the
    unlabeled images, which training never reads)."""
    fig, axes = plt.subplots(1, 3, figsize=(PAGE_WIDTH, 3.3), sharex=True)
    panels = [("mask_rate", "mask rate", "kept (confidence ≥ τ)"), ("pseudo_acc", "accuracy", "all pseudo-labels"),
              ("confident_acc", "accuracy", "kept pseudo-labels")]
    styles, used = ["-", "--", ":", "-."], defaultdict(int)
    for label, runs in _by_method(histories).items():
        if all(all(v != v for v in h.mask_rate) for h in runs):
            continue                                                     # supervised: nothing to show
        color = method_color(label)
        style = styles[used[color] % len(styles)]                        # same family twice: a new line style
        used[color] += 1
        for ax, (field_name, ylabel, panel_title) in zip(axes, panels):
            series = np.asarray([getattr(h, field_name) for h in runs], dtype=float)   # [seeds, steps]
            steps = np.arange(1, series.shape[1] + 1)
            started = ~np.all(np.isnan(series), axis=0)                   # steps after the supervised warm-up
            with warnings.catch_warnings():                                # a step where no seed kept an image
                warnings.simplefilter("ignore", RuntimeWarning)
                mean = np.nanmean(series[:, started], axis=0)
            smoothed = _moving_average(100 * mean, window)
            ax.plot(steps[started][len(mean) - len(smoothed):], smoothed, style, color=color, label=label)
            ax.set_ylabel(ylabel + " (%)")
            ax.set_xlabel("step")
            ax.set_title(panel_title, fontsize=9)
    axes[0].legend(fontsize=7.5)
    fig.suptitle(title, fontsize=11)
    return _finish(fig)


def plot_teacher_quality(history, threshold: float, title: str | None = None):
    """From one run's teacher probe: for every teacher, at each evaluation, the share of the probe images it
    would pseudo-label at ``threshold`` and the accuracy of those labels — which branch should teach."""
    from ..analysis.pseudo_labels import threshold_tradeoff
    fig, axes = plt.subplots(1, 2, figsize=(PAGE_WIDTH, 3.4), sharex=True)
    for teacher, confidence in history.probe_confidence.items():
        rows = [threshold_tradeoff(confidence[i], history.probe_predicted[teacher][i], history.probe_labels,
                                   [threshold]).iloc[0] for i in range(len(history.probe_step))]
        color = TEACHER_COLORS.get(teacher, PALETTE["other"])
        axes[0].plot(history.probe_step, [100 * r["mask_rate"] for r in rows], "o-", color=color, label=teacher)
        axes[1].plot(history.probe_step, [100 * r["confident_accuracy"] for r in rows], "o-", color=color, label=teacher)
    axes[0].set_ylabel(f"kept, confidence ≥ {threshold:g} (%)")
    axes[1].set_ylabel("accuracy of the kept (%)")
    for ax in axes:
        ax.set_xlabel("step")
    axes[0].legend(title="teacher", fontsize=8)
    fig.suptitle(title or f"Which branch should teach? Every teacher's pseudo-labels\non the same unlabeled images (τ = {threshold:g})", fontsize=11)
    return _finish(fig)


def plot_threshold_tradeoff(tables: dict, marked: float | None = None,
                            title: str = "Quantity vs quality of pseudo-labels as τ varies"):
    """``tables``: name → :func:`~semiformer_lib.analysis.threshold_tradeoff` frame. Left: mask rate against τ;
    middle: accuracy of the confident pseudo-labels against τ; right: the two against each other. ``marked`` draws
    a threshold (e.g. the run's τ)."""
    fig, axes = plt.subplots(1, 3, figsize=(PAGE_WIDTH, 3.3))
    for i, (name, table) in enumerate(tables.items()):
        color = TEACHER_COLORS.get(name.split()[0], [PALETTE["other"], PALETTE["prior"], PALETTE["vit"]][i % 3])
        axes[0].plot(table.threshold, 100 * table.mask_rate, color=color, label=name)
        axes[1].plot(table.threshold, 100 * table.confident_accuracy, color=color, label=name)
        axes[2].plot(100 * table.mask_rate, 100 * table.confident_accuracy, color=color, label=name)
    if marked is not None:
        for ax in axes[:2]:
            ax.axvline(marked, color="black", lw=0.8, ls=":")
    axes[0].set_xlabel("threshold τ")
    axes[0].set_ylabel("mask rate: share kept (%)")
    axes[1].set_xlabel("threshold τ")
    axes[1].set_ylabel("accuracy of the kept (%)")
    axes[2].set_xlabel("quantity: mask rate (%)")
    axes[2].set_ylabel("quality: accuracy (%)")
    axes[0].legend(fontsize=7.5)
    fig.suptitle(title, fontsize=11)
    return _finish(fig)


def plot_class_mask_rate(rates: dict, classes, threshold: float | None = None,
                         title: str = "Which classes get pseudo-labels"):
    """Grouped bars: for each class, the share of its unlabeled images whose pseudo-label passes the threshold;
    ``rates``: name → ``[num_classes]`` values in [0, 1]."""
    names = list(rates)
    width = 0.8 / len(names)
    fig, ax = plt.subplots(figsize=(PAGE_WIDTH, 3.4))
    for i, name in enumerate(names):
        values = 100 * np.asarray(rates[name], dtype=float)
        positions = np.arange(len(classes)) + (i - (len(names) - 1) / 2) * width
        color = TEACHER_COLORS.get(name.split()[0], [PALETTE["other"], PALETTE["prior"]][i % 2])
        ax.bar(positions, values, width, color=color, alpha=0.85, label=name)
    ax.set_xticks(range(len(classes)), classes, rotation=30, ha="right", fontsize=8.5)
    ax.set_ylabel("mask rate (%)")
    ax.set_title(title + (f" (τ = {threshold:g})" if threshold is not None else ""))
    ax.grid(axis="x", visible=False)
    ax.legend(fontsize=8)
    return _finish(fig)


def threshold_explorer(confidence: torch.Tensor, predicted: torch.Tensor, labels: torch.Tensor, classes,
                       threshold: float = 0.7):
    """An ipywidgets explorer over stored predictions: a τ slider, and for that τ the mask rate, the accuracy of
    the kept pseudo-labels and the per-class mask rate. Needs a live kernel; a built HTML page shows the widget's
    last state, so put a static figure beside it."""
    import ipywidgets as widgets
    from IPython.display import display
    from ..analysis.pseudo_labels import class_mask_rate, threshold_tradeoff

    output = widgets.Output()

    def show(tau: float) -> None:
        row = threshold_tradeoff(confidence, predicted, labels, [tau]).iloc[0]
        per_class = class_mask_rate(confidence, labels, tau, len(classes))
        with output:
            output.clear_output(wait=True)
            fig, ax = plt.subplots(figsize=(PAGE_WIDTH, 2.8))
            ax.bar(range(len(classes)), 100 * per_class.numpy(), color=PALETTE["cnn"])
            ax.set_xticks(range(len(classes)), classes, rotation=30, ha="right", fontsize=8)
            ax.set_ylim(0, 100)
            ax.set_ylabel("mask rate (%)")
            ax.set_title(f"τ = {tau:.2f}: {row['mask_rate']:.0%} of the images kept, "
                         f"{np.nan_to_num(row['confident_accuracy']):.1%} of them right")
            display(_finish(fig))

    slider = widgets.FloatSlider(value=threshold, min=0.0, max=0.99, step=0.01, description="τ",
                                 continuous_update=False)
    slider.observe(lambda change: show(change["new"]), names="value")
    show(threshold)
    return widgets.VBox([slider, output])


HEAD_STYLES = {"conv": (PART_COLORS["conv"], "conv head"), "transformer": (PART_COLORS["transformer"], "transformer head"),
               "summed": (PART_COLORS["summed"], "summed logits (the prediction)")}


def plot_run(records: dict, title: str = "The full run, from its results artifact"):
    """One row per results artifact (``{label: record}`` from :func:`semiformer_lib.train.read_results`): test
    accuracy of each head, of the summed prediction and of the EMA during the run (left), and the pseudo-label
    diagnostics averaged between evaluations (right); the dotted line marks the end of the supervised warm-up."""
    fig, axes = plt.subplots(len(records), 2, figsize=(PAGE_WIDTH, 3.6 * len(records)), squeeze=False)
    for (label, record), (left, right) in zip(records.items(), axes):
        curves = record["curves"]
        steps = [row["step"] for row in curves]
        for head, (color, name) in HEAD_STYLES.items():
            if head in curves[0]["model"]:
                left.plot(steps, [100 * row["model"][head] for row in curves], marker="o", ms=3, color=color,
                          label=name)
        left.plot(steps, [100 * row["ema"]["summed"] for row in curves], "--", color="gray", label="EMA, summed")
        panels = [("mask_rate", "mask rate", PALETTE["other"]), ("pseudo_acc", "accuracy, all pseudo-labels",
                  PALETTE["prior"]), ("confident_acc", "accuracy, confident ones", PALETTE["semiformer"])]
        for key, name, color in panels:
            points = [(row["step"], 100 * row[key]) for row in curves if row.get(key) is not None]
            if points:
                right.plot(*zip(*points), marker="o", ms=3, color=color, label=name)
        right.set_xlim(left.get_xlim())
        right.set_ylim(0, 105)
        for ax, place in ((left, "lower right"), (right, "center left")):
            ax.axvline(record["schedule"]["supervised_steps"] + 0.5, color="black", lw=0.8, ls=":")
            ax.set_xlabel("step")
            ax.legend(fontsize=7.5, loc=place)
        device = record["provenance"]["device"]
        left.set_title(f"{label}: test accuracy\n{device}", fontsize=9)
        left.set_ylabel("test accuracy (%)")
        right.set_title(f"{label}: pseudo-labels after the warm-up", fontsize=9)
        right.set_ylabel("share or accuracy (%)")
    fig.suptitle(title, fontsize=11)
    return _finish(fig)
