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


def test_the_full_run_figure_says_a_twin_has_no_pseudo_labels_and_keeps_its_titles_on_the_page():
    def record(pseudo_labels: bool) -> dict:
        diagnostics = {"mask_rate": 0.2, "pseudo_acc": 0.6, "confident_acc": 0.9} if pseudo_labels else {
            "mask_rate": None, "pseudo_acc": None, "confident_acc": None}
        curves = [{"step": step, "model": {"conv": 0.5, "transformer": 0.4, "summed": 0.55}, "ema": {"summed": 0.5},
                   **diagnostics} for step in (100, 200)]
        return {"curves": curves, "schedule": {"supervised_steps": 50},
                "provenance": {"device": "CPU: AMD EPYC (2 cores, 1 torch threads)"}}

    figure = viz.plot_run({"the winning recipe, seed 0 (pseudo-labels)": record(True),
                           "the winning recipe, seed 0 (twin)": record(False)})
    twin_panel = figure.axes[3]
    assert not twin_panel.axison and not twin_panel.get_lines()
    assert "no pseudo-labels" in " ".join(text.get_text() for text in twin_panel.texts)
    assert figure.axes[1].get_legend() is not None and figure.axes[1].get_legend()._loc == 4   # lower right
    assert viz.figure_problems(figure) == []


def test_titles_of_two_panels_that_overlap_are_a_problem():
    import matplotlib.pyplot as plt

    figure, (left, right) = plt.subplots(1, 2, figsize=(6, 3))
    left.set_title("a title long enough to run into the panel beside it")
    right.set_title("its neighbour")
    assert any("of two panels overlap" in problem for problem in viz.figure_problems(figure))
    left.set_title("short")
    assert not any("overlap" in problem for problem in viz.figure_problems(figure))
    plt.close(figure)


@viz.styled
def _two_lines_alike():
    """A plotting function whose figure has a problem: two labelled series drawn the same."""
    figure, ax = plt.subplots(figsize=(4, 3))
    ax.plot([0, 1], [0, 1], color="k", label="first run")
    ax.plot([0, 1], [1, 0], color="k", label="second run")
    ax.legend()
    plt.close(figure)
    return figure


@pytest.fixture
def figure_check_mode():
    yield viz.set_figure_check
    viz.set_figure_check("warn")


def test_every_plotting_function_checks_its_figure_where_it_draws_it(figure_check_mode):
    with pytest.warns(viz.FigureWarning, match=r"_two_lines_alike drew a figure .*look the same"):
        _two_lines_alike()                                            # the default: a library user is warned
    figure_check_mode("raise")                                        # the book's chapters: the cell fails
    with pytest.raises(viz.FigureProblem, match="first run"):
        _two_lines_alike()
    figure_check_mode("off")
    assert _two_lines_alike().axes[0].get_legend() is not None
    with pytest.raises(ValueError, match="choose one of raise, warn, off"):
        figure_check_mode("strict")


def test_a_legible_library_figure_passes_the_raising_check(figure_check_mode):
    figure_check_mode("raise")
    figure = viz.plot_grid_screen(_grid_points())
    assert figure.axes and viz.figure_problems(figure) == []


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


# ---- legibility: every figure the chapters show passes viz.figure_problems ---------------------------------------

def test_figure_problems_names_small_text_text_on_images_look_alike_series_and_text_off_the_figure():
    fig, (left, right) = plt.subplots(1, 2, figsize=(6, 3))
    left.imshow(torch.rand(8, 8).numpy())
    fig.text(0.2, 0.5, "a row label on the picture", fontsize=9)
    right.plot([0, 1], [0, 1], color="red", label="τ = 0.5")
    right.plot([0, 1], [1, 0], color="red", label="τ = 0.9")
    right.text(0.5, 0.5, "tiny", fontsize=6)
    fig.text(0.95, 0.02, "a caption that runs on past the right edge", fontsize=9)
    problems = " | ".join(viz.figure_problems(fig))
    assert "'a row label on the picture' lies on an image" in problems
    assert "['τ = 0.5', 'τ = 0.9'] look the same" in problems
    assert "'tiny' is 6.0 pt" in problems
    assert "runs off the figure" in problems
    clean, ax = plt.subplots(figsize=(4, 3))
    ax.imshow(torch.rand(8, 8).numpy())
    ax.text(3, 3, "0.9", fontsize=8)              # an axes' own annotation on its image is meant to be there
    ax.plot([0, 1], [0, 1], color="red", label="a")
    ax.plot([0, 1], [1, 0], color="red", ls="--", label="b")
    assert viz.figure_problems(clean) == []


CLASSES = ["T-shirt/top", "Trouser", "Pullover", "Dress", "Coat", "Sandal", "Shirt", "Sneaker", "Bag", "Ankle boot"]


def _chapter_figures():
    """The figures review named (Figs 1.6, 1.8, 2.6, 3.1, 4.8) and their neighbours, drawn from stand-in data
    shaped as the chapters' (Fashion-MNIST: 10 classes, 28 px, a 7×7 token grid)."""
    from semiformer_lib.models import create_model
    from semiformer_lib.train import config_path, load_config
    mini = create_model("semiformer_mini_patch4", img_size=28, in_chans=1, num_classes=10)
    images = torch.rand(8, 1, 28, 28)
    maps = {"starved ViT (40/class)": torch.rand(8, 7, 7), "well-fed ViT (all labels)": torch.rand(8, 7, 7)}
    return {
        "1.6 filters": viz.plot_filters({"starved ViT (40/class)": torch.randn(24, 1, 4, 4),
                                         "well-fed ViT (all labels)": torch.randn(24, 1, 4, 4)}),
        "1.8 / 2.6 attention rows": viz.plot_attention(images, maps),
        "confusions": viz.plot_confusions({"ViT": torch.rand(10, 10), "CNN": torch.rand(10, 10)}, CLASSES),
        "image grid": viz.show_images(torch.rand(10, 1, 28, 28), labels=torch.arange(10), classes=CLASSES),
        "3.1 fusion block": viz.plot_fusion_block(mini.trace_block(torch.zeros(1, 1, 28, 28))),
        "4.8 mask rate by τ": viz.plot_class_mask_rate({f"τ = {tau}": torch.rand(10) for tau in (0.5, 0.7, 0.9, 0.95)},
                                                       CLASSES, threshold=0.7),
        "model overview": viz.plot_model_overview(mini, (1, 28, 28)),
        "pipeline": viz.plot_pseudo_label_pipeline(load_config(config_path("fashion_mnist_40"), profile="cpu")),
        "grid screen": viz.plot_grid_screen(_grid_points()),
    }


def _grid_points() -> dict:
    import pandas as pd
    grid = [(teacher, tau) for tau in (0.7, 0.95) for teacher in ("conv", "mean", "ema")]
    pair = pd.DataFrame([{"teacher": t, "threshold": tau, "twin": False, "summed": 0.8 + 0.01 * i, "conv": 0.8}
                         for i, (t, tau) in enumerate(grid)]
                        + [{"teacher": None, "threshold": None, "twin": True, "summed": 0.78}])
    cnn = pd.DataFrame([{"teacher": "mean", "threshold": tau, "twin": False, "summed": s, "conv": None}
                        for tau, s in ((0.7, 0.82), (0.95, 0.81))]
                       + [{"teacher": None, "threshold": None, "twin": True, "summed": 0.787}])
    return {"Semiformer on cnn_mini": pair, "FixMatch on cnn_mini": cnn}


def test_the_grid_figure_marks_every_point_and_each_methods_best():
    figure = viz.plot_grid_screen(_grid_points())
    ax = figure.axes[0]
    labels = [tick.get_text() for tick in ax.get_yticklabels()]
    assert len(labels) == 10 and labels[6] == "Semiformer on cnn_mini · twin (labels only)"
    assert labels[0] == "Semiformer on cnn_mini · conv teacher, τ 0.7"
    assert labels[7] == "FixMatch on cnn_mini · own prediction, τ 0.7"         # a one-headed model teaches itself
    best_lines = [line for line in ax.get_lines() if line.get_linestyle() == ":"]
    assert [line.get_xdata()[0] for line in best_lines] == pytest.approx([85.0, 82.0])


def test_gap_lines_of_one_family_take_the_colours_they_are_given(figure_check_mode):
    import pandas as pd

    steps = [100, 200, 300]
    gaps = pd.DataFrame({("Semiformer, short", 0): [0.0, 0.01, None], ("Semiformer, short", 1): [0.0, 0.02, None],
                         ("Semiformer, long", 0): [0.0, -0.01, 0.01], ("Semiformer, long", 1): [0.0, 0.0, 0.02]},
                        index=steps).rename_axis(columns=["method", "seed"])
    figure_check_mode("off")
    same = viz.plot_gap_over_steps(gaps, 100)
    assert {line.get_color() for line in same.axes[0].get_lines()[:2]} == {viz.PALETTE["semiformer"]}
    assert any("look the same" in str(problem) for problem in viz.figure_problems(same))
    figure_check_mode("raise")
    given = {"Semiformer, short": viz.PALETTE["other"], "Semiformer, long": viz.PALETTE["semiformer"]}
    figure = viz.plot_gap_over_steps(gaps, 100, colors=given)
    lines = figure.axes[0].get_lines()
    assert [line.get_color() for line in lines[:2]] == list(given.values())
    assert list(lines[0].get_ydata()[:2]) == pytest.approx([0.0, 1.5])        # mean over seeds, in points
    assert viz.figure_problems(figure) == []


def test_the_chapters_figures_are_legible():
    problems = {name: viz.figure_problems(figure) for name, figure in _chapter_figures().items()}
    assert not {name: found for name, found in problems.items() if found}, problems


def test_the_method_figures_are_read_from_the_model_and_the_config():
    from semiformer_lib.models import create_model
    from semiformer_lib.train import config_path, load_config
    from semiformer_lib.viz.method import model_layout
    model = create_model("semiformer_small_patch16", img_size=224, in_chans=3, num_classes=1000)
    small = model_layout(model, (3, 224, 224))
    assert len(small["blocks"]) == 12 and small["blocks"][0]["tokens"] == "197×384"
    assert [b["conv"] for b in small["blocks"]][::4] == ["256×56²", "512×28²", "1024×14²"]
    assert not small["blocks"][0]["up"] and all(b["up"] and b["down"] for b in small["blocks"][1:])
    assert small["conv_head"] == (1024, 1000)
    unfused = model_layout(create_model("semiformer_mini_patch4", img_size=28, in_chans=1, num_classes=10,
                                        fusion="conv_to_transformer"), (1, 28, 28))
    assert all(b["up"] and not b["down"] for b in unfused["blocks"][1:])
    config = load_config(config_path("fashion_mnist_40"), ["threshold=0.85", "unlabeled_weight=2"], profile="cpu")
    drawn = " ".join(t.get_text() for t in viz.plot_pseudo_label_pipeline(config).axes[0].texts)
    assert "τ = 0.85" in drawn and "λ = 2" in drawn and "conv head" in drawn


def test_the_code_shown_beside_an_equation_is_the_librarys_own_source():
    from semiformer_lib.ssl import objective
    text = viz.source_text(objective.pseudo_label, objective.unsupervised_loss)
    assert text.startswith("# semiformer_lib/ssl/objective.py: pseudo_label\ndef pseudo_label(")
    assert "# semiformer_lib/ssl/objective.py: unsupervised_loss\ndef unsupervised_loss(" in text
    assert "mask = (confidence >= threshold).float()" in text          # the line that is m_b in chapter 4
    listing = viz.show_source(objective.pseudo_label)
    assert repr(listing) == viz.source_text(objective.pseudo_label)
    html = listing._repr_html_()
    assert html.startswith('<div class="highlight"><pre>') and "<style" not in html    # the book's code style
