"""Figures are drawn for the book's page: none wider than its text column, the book's palette for every head."""
import matplotlib.pyplot as plt
import pytest
import torch

from semiformer_lib import viz


def test_a_figure_wider_than_the_page_is_fitted_to_it():
    wide = plt.figure(figsize=(12.0, 3.5))
    viz.style._finish(wide)
    assert tuple(wide.get_size_inches()) == pytest.approx((viz.PAGE_WIDTH, 3.5 * 0.8))   # height shrinks ≤ 1/5
    narrow = plt.figure(figsize=(5.0, 3.0))
    viz.style._finish(narrow)
    assert tuple(narrow.get_size_inches()) == pytest.approx((5.0, 3.0))


def test_image_grids_and_panels_fit_the_page():
    images = torch.rand(10, 1, 28, 28)
    grid = viz.show_images(images, columns=10)                       # ten columns ask for 9 inches
    fields = viz.plot_receptive_fields({name: torch.rand(28, 28) for name in "abcd"})     # four panels, 10.4
    filters = viz.plot_filters({"stem": torch.randn(24, 1, 3, 3)})  # 24 filters, 9.1
    for figure in (grid, fields, filters):
        assert figure.get_size_inches()[0] <= viz.PAGE_WIDTH + 1e-6


def test_the_full_run_figure_colours_heads_as_the_rest_of_the_book():
    curves = [{"step": step, "model": {"conv": 0.5, "transformer": 0.4, "summed": 0.55}, "ema": {"summed": 0.5},
               "mask_rate": 0.2, "pseudo_acc": 0.6, "confident_acc": 0.9} for step in (10, 20)]
    record = {"curves": curves, "schedule": {"supervised_steps": 5}, "provenance": {"device": "cpu"}}
    figure = viz.plot_run({"run": record})
    colours = {line.get_label(): line.get_color() for line in figure.axes[0].lines}
    assert colours["conv head"] == viz.PALETTE["cnn"] and colours["transformer head"] == viz.PALETTE["vit"]
    assert figure.get_size_inches()[0] <= viz.PAGE_WIDTH


def _overlaps(texts) -> list[tuple[str, str]]:
    """Pairs of drawn texts whose boxes intersect (the figure must have been drawn)."""
    boxes = [(t.get_text(), t.get_window_extent()) for t in texts if t.get_text().strip()]
    return [(a, b) for i, (a, box_a) in enumerate(boxes) for b, box_b in boxes[i + 1:] if box_a.overlaps(box_b)]


def test_long_group_labels_wrap_instead_of_running_together():
    labels = ["no fusion", "conv → transformer", "transformer → conv", "two-way (Semiformer)",
              "two-way, Conformer injection"]
    results = {label: {"conv": [0.6, 0.62], "transformer": [0.65, 0.66], "summed": [0.7, 0.69]} for label in labels}
    figure = viz.plot_head_accuracy(results, references={"vit_mini_patch4 (plain ViT, mean)": 0.58})
    figure.canvas.draw()
    assert not _overlaps(figure.axes[0].get_xticklabels())
    assert figure.get_size_inches()[0] <= viz.PAGE_WIDTH


def test_receptive_field_titles_stay_apart():
    names = ["vit_mini_patch4, 40/class (starved)", "vit_mini_patch4, all labels (well fed)",
             "vit_mini_patch4_convstem", "cnn_mini"]
    radii = {name: {0.5: 3.0, 0.9: 9.0} for name in names}
    figure = viz.plot_receptive_fields({name: torch.rand(28, 28) for name in names}, radii,
                                       title="Effective receptive field")
    figure.canvas.draw()
    assert not _overlaps([ax.title for ax in figure.axes])
    assert figure._suptitle.get_text() == "Effective receptive field"


def test_importing_viz_changes_no_matplotlib_setting():
    import subprocess
    import sys

    check = ("import matplotlib as mpl; before = dict(mpl.rcParams); import semiformer_lib.viz; "
             "print(sorted(k for k in before if mpl.rcParams[k] != before[k]))")
    changed = subprocess.run([sys.executable, "-c", check], capture_output=True, text=True, check=True).stdout
    assert changed.strip() == "[]"


def test_a_figure_keeps_the_book_style_and_the_callers_settings_come_back():
    import matplotlib as mpl

    with mpl.rc_context({"figure.dpi": 50, "axes.grid": False}):
        figure = viz.plot_filters({"stem": torch.randn(8, 1, 3, 3)})
        curves = [{"step": 1, "model": {"summed": 0.5}, "ema": {"summed": 0.5}, "mask_rate": 0.2, "pseudo_acc": 0.6}]
        shown = viz.plot_run({"run": {"curves": curves, "schedule": {"supervised_steps": 0},
                                      "provenance": {"device": "cpu"}}})
        assert mpl.rcParams["figure.dpi"] == 50 and not mpl.rcParams["axes.grid"]
    assert figure.dpi == viz.DPI == shown.dpi
    axes = shown.axes[0]
    assert not axes.spines["top"].get_visible()
    assert axes.xaxis.get_gridlines()[0].get_alpha() == viz.BOOK_STYLE["grid.alpha"]
