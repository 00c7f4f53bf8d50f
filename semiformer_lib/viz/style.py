"""The book's figure style: one palette, the page width, and the helpers every figure module shares.

The style (:data:`BOOK_STYLE`) is applied by :func:`book_style`, a context that every public plotting function of
:mod:`semiformer_lib.viz` enters through the :func:`styled` decorator, so importing the library changes no
matplotlib setting of the user's. Colours: ViT red, CNN teal, ViTs given a spatial prior purple (chapter 2),
Semiformer gold from chapter 3 on; a Semiformer's conv head is teal and its transformer head red, like the
families they come from.
"""
from __future__ import annotations

import functools
import textwrap
from contextlib import contextmanager

import matplotlib.pyplot as plt

PALETTE = {"vit": "#c8553d", "cnn": "#2a7f8f", "semiformer": "#e0a526", "prior": "#7b5ea7", "other": "#6c6c6c"}
PRIOR_SUFFIXES = ("_convstem", "_relpos", "_nopos")
DPI = 90
BOOK_STYLE = {"figure.dpi": DPI, "axes.spines.top": False, "axes.spines.right": False,
              "axes.grid": True, "grid.alpha": 0.3, "font.size": 10}
# The book's text column is about 690 px wide; at DPI 90 that is 7.6 inches. A wider figure is shrunk by the
# browser, text and all, so every figure is drawn at most this wide and its text keeps the book's size.
PAGE_WIDTH = 7.6
# The parts of a Semiformer (chapter 3) and its heads (chapters 3 and 5).
PART_COLORS = {"conv": PALETTE["cnn"], "transformer": PALETTE["vit"], "fusion": PALETTE["semiformer"],
               "summed": PALETTE["semiformer"]}


@contextmanager
def book_style():
    """Draw inside the block with the book's matplotlib settings; the caller's settings come back afterwards.
    A figure keeps what it was drawn with (dpi, spines, grid, text sizes), also when shown after the block."""
    with plt.rc_context(BOOK_STYLE):
        yield


def styled(plot):
    """Decorate a plotting function so that it draws inside :func:`book_style`."""
    @functools.wraps(plot)
    def draw(*args, **kwargs):
        with book_style():
            return plot(*args, **kwargs)
    return draw


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
