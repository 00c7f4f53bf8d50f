"""Figures for the book: one palette, labelled axes, legends that name model and label budget.

Every function takes plain data (lists of runs, tensors) and returns the matplotlib ``Figure``, so a chapter
cell is one call. It draws in the book's style (:mod:`.style`) inside a context, so importing this package
changes no matplotlib setting. One module per chapter, plus the widgets:

* :mod:`.style` — palette, page width, :func:`~.style.book_style`, :func:`~.style.figure_problems` and the
  figure check every plotting function applies (:func:`~.style.set_figure_check`);
* :mod:`.source` — the code beside its equation (:func:`~.source.show_source`);
* :mod:`.method` — the method drawn from the model and the config (the intro, chapters 3 and 4);
* :mod:`.starvation` — chapter 1, a ViT starved of labels;
* :mod:`.inductive_bias` — chapter 2;
* :mod:`.fusion` — chapter 3, the fusion design;
* :mod:`.pseudo_labels` — chapters 4 and 5;
* :mod:`.widgets` — chapter 4's τ explorer (ipywidgets);
* :mod:`.full_run` — chapter 6.
"""
from .full_run import HEAD_STYLES, plot_run
from .fusion import plot_branch_similarity, plot_budget, plot_fusion_block, plot_head_accuracy
from .method import plot_model_overview, plot_pseudo_label_pipeline
from .source import show_source, source_text
from .inductive_bias import plot_attention_distance, plot_receptive_fields, plot_shift_robustness, plot_variant_accuracy
from .pseudo_labels import (
                             METHOD_COLORS,
                             TEACHER_COLORS,
                             method_color,
                             plot_class_mask_rate,
                             plot_gap_over_steps,
                             plot_grid_screen,
                             plot_pseudo_label_quality,
                             plot_pseudo_label_windows,
                             plot_ssl_curves,
                             plot_teacher_quality,
                             plot_threshold_tradeoff,
)
from .starvation import (
                             plot_attention,
                             plot_confusions,
                             plot_filters,
                             plot_label_sweep,
                             plot_learning_curves,
                             plot_per_class,
                             plot_position_similarity,
                             plot_train_test_curves,
                             show_images,
)
from .style import (BOOK_STYLE, DPI, PAGE_WIDTH, PALETTE, PART_COLORS, FigureProblem, FigureWarning, book_style,
                    check_figure, figure_problems, model_color, set_figure_check, styled)
from .widgets import threshold_explorer

__all__ = [
    "BOOK_STYLE", "DPI", "PAGE_WIDTH", "PALETTE", "PART_COLORS", "FigureProblem", "FigureWarning", "book_style",
    "check_figure", "figure_problems", "model_color", "set_figure_check", "styled",
    "plot_model_overview", "plot_pseudo_label_pipeline", "show_source", "source_text",
    "plot_label_sweep", "plot_learning_curves", "plot_train_test_curves",
    "plot_per_class", "plot_confusions", "show_images", "plot_filters",
    "plot_position_similarity", "plot_attention",
    "plot_attention_distance", "plot_shift_robustness", "plot_receptive_fields", "plot_variant_accuracy",
    "plot_fusion_block", "plot_budget", "plot_head_accuracy", "plot_branch_similarity",
    "METHOD_COLORS", "TEACHER_COLORS", "method_color", "plot_ssl_curves", "plot_pseudo_label_quality",
    "plot_teacher_quality", "plot_threshold_tradeoff", "plot_class_mask_rate", "plot_gap_over_steps",
    "plot_pseudo_label_windows", "plot_grid_screen",
    "threshold_explorer",
    "HEAD_STYLES", "plot_run",
]
