"""Figures of chapter 1, a ViT starved of labels: accuracy against labels and steps, per-class accuracy and
confusions, image grids, first-layer filters, position-embedding similarity and class-token attention.
"""
from __future__ import annotations

from collections import defaultdict

import matplotlib.pyplot as plt
import numpy as np
import torch

from .style import _family_label, _finish, _fit_to_page, model_color, styled


@styled
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


@styled
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


@styled
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


@styled
def plot_confusions(matrices: dict, classes, title: str = "Confusion matrices (rows: true class)"):
    """Side-by-side row-normalised confusion matrices, one per entry of ``matrices`` (label → counts)."""
    fig, axes = plt.subplots(1, len(matrices), figsize=(3.0 * len(matrices) + 1.4, 3.9), squeeze=False,
                             gridspec_kw={"wspace": 0.08})
    axes = axes[0]
    for index, (ax, (label, counts)) in enumerate(zip(axes, matrices.items())):
        counts = torch.as_tensor(counts).float().cpu()
        rates = (counts / counts.sum(dim=1, keepdim=True).clamp(min=1)).numpy()
        image = ax.imshow(100 * rates, cmap="viridis", vmin=0, vmax=100)
        ax.set_title(label, fontsize=10)
        ax.set_xticks(range(len(classes)), classes, rotation=90, fontsize=8)
        ax.set_yticks(range(len(classes)), classes if index == 0 else [], fontsize=8)
        ax.set_xlabel("predicted class")
        ax.grid(False)
    fig.subplots_adjust(bottom=0.3, top=0.86)             # room for the rotated class names and the axis label
    fig.colorbar(image, ax=list(axes), shrink=0.8, label="% of the true class")
    fig.suptitle(title)
    _fit_to_page(fig)
    plt.close(fig)
    return fig


@styled
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
            ax.set_title(classes[int(labels[i])], fontsize=8)
    if title:
        fig.suptitle(title, fontsize=11)
    return _finish(fig)


@styled
def plot_filters(filter_sets: dict, count: int = 12, title: str = "First-layer filters"):
    """Rows of first-layer filters ``[D, C, k, k]`` (first input channel), one row per entry (label → weights),
    each filter scaled to its own range; ``count`` filters a row, each drawn about 0.6 inch wide."""
    fig, axes = plt.subplots(len(filter_sets), count, figsize=(count * 0.62, len(filter_sets) * 0.95 + 0.4),
                             gridspec_kw={"wspace": 0.08, "hspace": 0.45}, squeeze=False)
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


@styled
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


@styled
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
    fig.tight_layout(h_pad=2.2)
    # Row labels go on after the layout, into the gap h_pad leaves above each row (a label wider than one image
    # inside the layout would shrink every image to make room for itself).
    for row, label in zip(axes[1:], attention):
        box = row[0].get_position()
        fig.text(box.x0, box.y1 + 0.005, label, fontsize=8, ha="left", va="bottom")
    plt.close(fig)
    return fig


@styled
def plot_learning_curves(curves, title: str = "Ten times longer: accuracy over steps at each label budget"):
    """One panel per label budget: test accuracy (solid) and labeled-train accuracy (dashed) of each model against
    training steps, mean over seeds with a band from the lowest to the highest seed. ``curves``: the table of
    :func:`semiformer_lib.analysis.learning_curves.read_learning_curves` (``model, labels, seed, step, test_acc,
    train_acc``)."""
    budgets = list(dict.fromkeys(curves["labels"]))
    fig, axes = plt.subplots(1, len(budgets), figsize=(8.8, 3.7), sharey=True, squeeze=False)
    for ax, budget in zip(axes[0], budgets):
        for model, runs in curves[curves["labels"] == budget].groupby("model", sort=False):
            color = model_color(model.lower())
            for column, style, kind in (("test_acc", "-", "test"), ("train_acc", "--", "train")):
                table = 100 * runs.pivot_table(index="step", columns="seed", values=column)
                ax.plot(table.index, table.mean(axis=1), style, color=color, label=f"{model}, {kind}")
                ax.fill_between(table.index, table.min(axis=1), table.max(axis=1), color=color, alpha=0.15)
        ax.set_title("every label" if budget == "all" else f"{budget} labels per class", fontsize=10)
        ax.set_xlabel("training step")
    axes[0][0].set_ylabel("accuracy (%)")
    axes[0][0].legend(fontsize=8, loc="lower right")
    fig.suptitle(title, fontsize=11)
    return _finish(fig)
