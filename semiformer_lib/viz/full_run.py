"""Figures of chapter 6, the full run: each results artifact's accuracy curves and pseudo-label diagnostics."""
from __future__ import annotations

import matplotlib.pyplot as plt

from .style import PAGE_WIDTH, PALETTE, PART_COLORS, _finish, styled

HEAD_STYLES = {"conv": (PART_COLORS["conv"], "conv head"),
               "transformer": (PART_COLORS["transformer"], "transformer head"),
               "summed": (PART_COLORS["summed"], "summed logits (the prediction)")}


@styled
def plot_run(records: dict, title: str = "The full run, from its results artifact"):
    """One row per results artifact (``{label: record}`` from :func:`semiformer_lib.runs.read_results`): test
    accuracy of each head, of the summed prediction and of the EMA during the run (left), and the pseudo-label
    diagnostics averaged between evaluations (right; a run without pseudo-labels, a supervised twin, says so there);
    the dotted line marks the end of the supervised warm-up. Each row is titled with its label and device."""
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
        left.axvline(record["schedule"]["supervised_steps"] + 0.5, color="black", lw=0.8, ls=":")
        left.set_xlabel("step")
        left.legend(fontsize=8, loc="lower right")
        left.set_title(f"{label}\n{record['provenance']['device']}", fontsize=9)
        left.set_ylabel("test accuracy (%)")
        if not right.get_lines():            # a supervised twin: say so instead of drawing an empty panel
            right.axis("off")
            right.text(0.5, 0.5, "no pseudo-labels:\nthis run learns from\nthe labeled images only",
                       ha="center", va="center", fontsize=9, color=PALETTE["other"], transform=right.transAxes)
            continue
        right.set_xlim(left.get_xlim())
        right.set_ylim(0, 105)
        right.axvline(record["schedule"]["supervised_steps"] + 0.5, color="black", lw=0.8, ls=":")
        right.set_xlabel("step")
        right.legend(fontsize=8, loc="lower right")   # the curves live in the upper half: the legend covers none
        right.set_title("pseudo-labels after the warm-up", fontsize=9)
        right.set_ylabel("share or accuracy (%)")
    fig.suptitle(title, fontsize=11)
    return _finish(fig)
