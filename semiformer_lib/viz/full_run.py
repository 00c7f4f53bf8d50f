"""Figures of chapter 5, the full run: each results artifact's accuracy curves and pseudo-label diagnostics."""
from __future__ import annotations

import matplotlib.pyplot as plt

from .style import PAGE_WIDTH, PALETTE, PART_COLORS, _finish, styled

HEAD_STYLES = {"conv": (PART_COLORS["conv"], "conv head"),
               "transformer": (PART_COLORS["transformer"], "transformer head"),
               "summed": (PART_COLORS["summed"], "summed logits (the prediction)")}


@styled
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
            if ax.get_legend_handles_labels()[0]:                  # a supervised twin has no pseudo-labels to show
                ax.legend(fontsize=8, loc=place)
        device = record["provenance"]["device"]
        left.set_title(f"{label}: test accuracy\n{device}", fontsize=9)
        left.set_ylabel("test accuracy (%)")
        right.set_title(f"{label}: pseudo-labels after the warm-up", fontsize=9)
        right.set_ylabel("share or accuracy (%)")
    fig.suptitle(title, fontsize=11)
    return _finish(fig)
