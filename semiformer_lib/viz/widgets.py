"""Interactive figures (ipywidgets): chapter 4's τ explorer over stored predictions. They need a live kernel; a
built page shows the widget's last state.
"""
from __future__ import annotations

import matplotlib.pyplot as plt
import numpy as np
import torch

from .style import PAGE_WIDTH, PALETTE, _finish, styled


def threshold_explorer(confidence: torch.Tensor, predicted: torch.Tensor, labels: torch.Tensor, classes,
                       threshold: float = 0.7):
    """An ipywidgets explorer over stored predictions: a τ slider, and for that τ the mask rate, the accuracy of
    the kept pseudo-labels and the per-class mask rate. Needs a live kernel; a built HTML page shows the widget's
    last state, so put a static figure beside it."""
    import ipywidgets as widgets
    from IPython.display import display

    from ..analysis.pseudo_labels import class_mask_rate, threshold_tradeoff

    output = widgets.Output()

    @styled                                   # redrawn on every slider move, long after this function returned
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
