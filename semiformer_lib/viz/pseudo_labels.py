"""Figures of chapters 4 and 5, pseudo-labeling: test accuracy of each method during training, pseudo-label quality per
step, which teacher labels best, quantity against quality as τ varies, and which classes get pseudo-labels.
"""
from __future__ import annotations

import warnings
from collections import defaultdict

import matplotlib.pyplot as plt
import numpy as np

from .style import PAGE_WIDTH, PALETTE, TITLE_CHARACTERS, _finish, _wrap, styled

METHOD_COLORS = {"semiformer": PALETTE["semiformer"], "vit": PALETTE["vit"], "cnn": PALETTE["cnn"]}
TEACHER_COLORS = {"conv": PALETTE["cnn"], "transformer": PALETTE["vit"], "mean": PALETTE["semiformer"],
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


@styled
def plot_ssl_curves(histories: dict, head: str | None = None, title: str = "Test accuracy during training"):
    """Test accuracy at each evaluation, mean over seeds (band: lowest to highest seed), one line per method.

    ``histories``: ``{(method label, seed): History}``. ``head`` picks a Semiformer head (``"conv"``,
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


@styled
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
    axes[0].legend(fontsize=8)
    fig.suptitle(title, fontsize=11)
    return _finish(fig)


@styled
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
        axes[1].plot(history.probe_step, [100 * r["confident_accuracy"] for r in rows], "o-", color=color,
                     label=teacher)
    axes[0].set_ylabel(f"kept, confidence ≥ {threshold:g} (%)")
    axes[1].set_ylabel("accuracy of the kept (%)")
    for ax in axes:
        ax.set_xlabel("step")
    axes[0].legend(title="teacher", fontsize=8)
    fig.suptitle(title or "Which branch should teach? Every teacher's pseudo-labels\n"
                          f"on the same unlabeled images (τ = {threshold:g})", fontsize=11)
    return _finish(fig)


@styled
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
    axes[0].legend(fontsize=8)
    fig.suptitle(title, fontsize=11)
    return _finish(fig)


@styled
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
        # a teacher's own colour; other series (τ = …, λ = …) in order along viridis, so that no two look alike
        color = TEACHER_COLORS.get(name.split()[0], plt.get_cmap("viridis")(0.85 * i / max(1, len(names) - 1)))
        ax.bar(positions, values, width, color=color, alpha=0.85, label=name)
    ax.set_xticks(range(len(classes)), classes, rotation=30, ha="right", fontsize=8.5)
    ax.set_ylabel("mask rate (%)")
    ax.set_title(_wrap(title + (f" (τ = {threshold:g})" if threshold is not None else ""), TITLE_CHARACTERS))
    ax.grid(axis="x", visible=False)
    ax.legend(fontsize=8)
    return _finish(fig)


@styled
def plot_gap_over_steps(gaps, warm_up: int | None = None, ylabel: str = "SSL − supervised twin (points)",
                        title: str = "What the unlabeled images add, over training", colors: dict | None = None):
    """SSL minus twin test accuracy at every evaluation, one line per method (mean over seeds, band: lowest to
    highest seed), from :meth:`semiformer_lib.analysis.long_runs.LongComparison.gap_over_steps`
    (rows steps, columns ``(method, seed)``); ``warm_up`` marks the end of the supervised warm-up. A line's colour
    is its model family's (:func:`method_color`) unless ``colors`` names one for its label — for lines of one family
    that differ in something else, such as their length."""
    fig, ax = plt.subplots(figsize=(6.8, 3.8))
    for method in dict.fromkeys(gaps.columns.get_level_values("method")):
        values = 100 * gaps[method].to_numpy()                           # [steps, seeds]
        color = (colors or {}).get(method) or method_color(method)
        ax.plot(gaps.index, values.mean(axis=1), "-", marker="o", ms=3, color=color, label=method)
        ax.fill_between(gaps.index, values.min(axis=1), values.max(axis=1), color=color, alpha=0.15)
    ax.axhline(0, color="black", lw=0.8)
    if warm_up is not None:
        ax.axvline(warm_up + 0.5, color="black", lw=0.8, ls=":", label="pseudo-labels start")
    ax.set_xlabel("step")
    ax.set_ylabel(ylabel)
    ax.set_title(title)
    ax.legend(fontsize=8, loc="upper left")
    return _finish(fig)


@styled
def plot_pseudo_label_windows(quality, title: str = "Pseudo-labels over the long runs: how many pass τ, how many "
                                                    "are right"):
    """Per evaluation window of the long runs (mean over seeds, band: lowest to highest seed), for each method:
    the mask rate, the accuracy of all pseudo-labels and of the kept ones, and the kept *correct* pseudo-labels per
    unlabeled image (mask rate × accuracy of the kept) — what the student is actually taught. ``quality``: the
    table of :meth:`semiformer_lib.analysis.long_runs.LongComparison.pseudo_label_quality`."""
    quality = quality.assign(correct_kept=quality["mask_rate"] * quality["confident_acc"].fillna(0.0))
    panels = [("mask_rate", "kept (confidence ≥ τ)"), ("pseudo_acc", "accuracy, all pseudo-labels"),
              ("confident_acc", "accuracy, kept ones"), ("correct_kept", "kept and correct, per image")]
    fig, axes = plt.subplots(1, 4, figsize=(PAGE_WIDTH, 3.1), sharex=True)
    for method, runs in quality.groupby("method", sort=False):
        color = method_color(method)
        for ax, (column, panel_title) in zip(axes, panels):
            table = 100 * runs.pivot_table(index="step", columns="seed", values=column)
            ax.plot(table.index, table.mean(axis=1), "-", color=color, label=method)
            ax.fill_between(table.index, table.min(axis=1), table.max(axis=1), color=color, alpha=0.15)
            ax.set_title(panel_title, fontsize=8.5)
            ax.set_xlabel("step")
            ax.set_ylim(0, 102)
    axes[0].set_ylabel("%")
    fig.legend(*axes[0].get_legend_handles_labels(), loc="lower center", ncol=3, fontsize=8)
    fig.suptitle(title, fontsize=11)
    return _finish(fig, rect=(0, 0.07, 1, 1))


@styled
def plot_grid_screen(points: dict, title: str = "Every method at every grid point, one seed"):
    """A tuning grid at one seed: each method's final summed test accuracy at each of its grid points (coloured by
    teacher, or by the method when a one-headed model teaches itself; round for the lower τ and square for the
    higher), best first, and its supervised twin (grey diamond);
    a dotted line marks each method's best. ``points``: ``{method label: frame}``, each frame one method's rows of
    :meth:`semiformer_lib.analysis.tuning_grid.GridComparison.points` (``teacher``, ``threshold``, ``twin``,
    ``summed``)."""
    rows = [(label, row) for label, frame in points.items() for _, row in frame.iterrows()]
    thresholds = sorted({row["threshold"] for _, row in rows if not row["twin"]})
    fig, ax = plt.subplots(figsize=(6.8, 0.9 + 0.3 * len(rows)))
    names = []
    for y, (label, row) in enumerate(rows):
        if row["twin"]:
            ax.plot(100 * row["summed"], y, "D", color=PALETTE["other"], ms=6)
            names.append(f"{label} · twin (labels only)")
            continue
        marker = "o" if row["threshold"] == thresholds[0] else "s"
        conv = row.get("conv")
        one_headed = conv is None or conv != conv       # no conv head (None or NaN): it teaches itself
        color = method_color(label) if one_headed else TEACHER_COLORS.get(row["teacher"], PALETTE["other"])
        ax.plot(100 * row["summed"], y, marker, color=color, ms=7)
        teacher = "own prediction" if one_headed else f"{row['teacher']} teacher"
        names.append(f"{label} · {teacher}, τ {row['threshold']:g}")
    start = 0
    for label, frame in points.items():
        best = frame.loc[~frame["twin"].astype(bool), "summed"].max()
        ax.plot([100 * best] * 2, [start - 0.4, start + len(frame) - 0.6], ":", color=method_color(label), lw=1.2)
        start += len(frame)
    ax.set_yticks(range(len(rows)), names, fontsize=8.5)
    ax.invert_yaxis()
    ax.set_xlabel("final test accuracy, summed prediction (%)")
    fig.suptitle(title, fontsize=11)                # centred on the figure: the tick labels take the axes' left
    return _finish(fig)
