"""Figures of chapter 2, inductive bias: attention distance per head, robustness to shifts, effective receptive
fields and the accuracy of the ViT variants given a spatial prior.
"""
from __future__ import annotations

from collections import defaultdict

import matplotlib.pyplot as plt
import numpy as np
import torch

from .style import DPI, PAGE_WIDTH, _finish, _wrap, model_color, styled


@styled
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


@styled
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


@styled
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


@styled
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
